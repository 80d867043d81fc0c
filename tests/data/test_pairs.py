import pytest

from nlpkit.data import DataFormatError, read_parallel_files, read_tsv_pairs


def _write(path, content):
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def test_tsv_pairs_ignore_extra_columns(tmp_path):
    path = _write(
        tmp_path / "spa.txt",
        "Go.\tVe.\nI'm sorry.\tLo siento.\tCC-BY 2.0 (France) Attribution: tatoeba.org\n",
    )
    pairs = read_tsv_pairs(path)
    assert pairs.sources == ["Go.", "I'm sorry."] and pairs.targets == ["Ve.", "Lo siento."]
    reversed_pairs = read_tsv_pairs(path, source_column=1, target_column=0)
    assert reversed_pairs.sources == ["Ve.", "Lo siento."]
    assert next(iter(pairs.to_dataset().as_numpy_iterator())) == (b"Go.", b"Ve.")


@pytest.mark.parametrize(
    "content, line, expected, found",
    [
        ("Go.\tVe.\nno tab here\n", 2, "at least 2 tab-separated fields", "no tab: 'no tab here'"),
        ("Go.\tVe.\nHi.\t \n", 2, "a non-empty source and target", "'Hi.\\t '"),
        (b"Go.\tVe.\nS\xed.\tYes.\n", 2, "UTF-8 text", "b'\\xed'"),
    ],
)
def test_tsv_pair_errors(tmp_path, content, line, expected, found):
    path = _write(tmp_path / "pairs.tsv", content)
    with pytest.raises(DataFormatError) as caught:
        read_tsv_pairs(path)
    error = caught.value
    assert (error.path, error.line) == (str(path), line)
    assert expected in error.expected and found in error.found
    skipped = read_tsv_pairs(path, skip_bad_lines=True)
    assert skipped.skipped == 1 and skipped.sources == ["Go."]


def test_tsv_pairs_empty_file(tmp_path):
    with pytest.raises(DataFormatError, match="at least one sentence pair, found an empty file"):
        read_tsv_pairs(_write(tmp_path / "e.tsv", ""))


def test_parallel_files(tmp_path):
    source = _write(tmp_path / "train.en", "Hello.\nThanks.\nBye.\n")
    target = _write(tmp_path / "train.es", "Hola.\nGracias.\nAdiós.\n")
    pairs = read_parallel_files(source, target)
    assert list(zip(pairs.sources, pairs.targets)) == [
        ("Hello.", "Hola."),
        ("Thanks.", "Gracias."),
        ("Bye.", "Adiós."),
    ]


def test_parallel_files_errors_and_skipping_keeps_alignment(tmp_path):
    source = _write(tmp_path / "a.en", "one\ntwo\nthree\nfour\n")
    short = _write(tmp_path / "b.es", "uno\ndos\n")
    with pytest.raises(DataFormatError) as caught:
        read_parallel_files(source, short)
    assert str(source) in str(caught.value) and "found 2 lines" in str(caught.value)

    target = _write(tmp_path / "c.es", b"uno\n\ntr\xe9s\ncuatro\n")
    with pytest.raises(DataFormatError) as caught:
        read_parallel_files(source, target)
    assert (caught.value.path, caught.value.line) == (str(target), 2)
    pairs = read_parallel_files(source, target, skip_bad_lines=True)
    assert list(zip(pairs.sources, pairs.targets)) == [("one", "uno"), ("four", "cuatro")]
    assert pairs.skipped == 2
