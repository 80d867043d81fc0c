import pytest

from nlpkit.data import DataFormatError, TaggedSentences, iob1_to_iob2, read_conll

CONLL_SAMPLE = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- O O
Jan NNP I-NP I-PER
Bob NNP I-NP B-PER
Smith NNP I-NP I-PER
in IN I-PP O
"""


def _write(tmp_path, content, name="eng.train"):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _reference_iob2(tags):
    # Entities as (type, start, end) spans under IOB1, re-tagged B- at each start.
    out = []
    for i, tag in enumerate(tags):
        if tag == "O":
            out.append(tag)
            continue
        kind = tag[2:]
        starts = tag.startswith("B-") or i == 0 or tags[i - 1] == "O" or tags[i - 1][2:] != kind
        out.append(("B-" if starts else "I-") + kind)
    return out


def test_reads_sentences_drops_docstart_and_converts_iob1(tmp_path):
    data = read_conll(_write(tmp_path, CONLL_SAMPLE))
    assert data.tokens == [
        ["EU", "rejects", "German", "call", "."],
        ["Peter", "Blackburn"],
        ["Jan", "Bob", "Smith", "in"],
    ]
    assert data.tags == [
        ["B-ORG", "O", "B-MISC", "O", "O"],
        ["B-PER", "I-PER"],
        ["B-PER", "B-PER", "I-PER", "O"],
    ]
    assert len(data) == 3 and data.num_tokens == 11


def test_iob1_to_iob2_matches_span_reference_and_is_idempotent():
    cases = [
        ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC"],
        ["I-ORG", "I-PER", "I-PER", "O", "O", "I-MISC"],
        ["O", "B-PER", "I-PER", "I-LOC"],
        [],
    ]
    for tags in cases:
        converted = iob1_to_iob2(tags)
        assert converted == _reference_iob2(tags)
        assert iob1_to_iob2(converted) == converted


def test_tag_column_choice_and_iob2_scheme(tmp_path):
    path = _write(tmp_path, CONLL_SAMPLE)
    chunks = read_conll(path, tag_column=2)
    assert chunks.tags[0] == ["B-NP", "B-VP", "B-NP", "I-NP", "O"]
    raw = read_conll(path, scheme="iob2")
    assert raw.tags[2] == ["I-PER", "B-PER", "I-PER", "O"]
    assert read_conll(path, token_column=1).tokens[1] == ["NNP", "NNP"]


def test_tag_names_put_o_first_and_to_dataset(tmp_path):
    data = read_conll(_write(tmp_path, CONLL_SAMPLE))
    names = data.tag_names()
    assert names == ["O", "B-MISC", "B-ORG", "B-PER", "I-PER"]
    tokens, tag_ids = next(iter(data.to_dataset()))
    assert tokens.numpy().tolist() == [b"EU", b"rejects", b"German", b"call", b"."]
    assert [names[i] for i in tag_ids.numpy()] == data.tags[0]
    with pytest.raises(ValueError, match="not in tag_names"):
        data.to_dataset(tag_names=["O"])


@pytest.mark.parametrize(
    "content, line, expected, found",
    [
        (
            "EU NNP I-NP I-ORG\nrejects VBZ O\n",
            2,
            "4 whitespace-separated columns",
            "3: 'rejects VBZ O'",
        ),
        ("EU NNP I-NP I-ORG\nrejects VBZ I-VP ORG\n", 2, "an IOB tag", "'ORG'"),
        ("EU NNP I-NP I-ORG\nx y z E-PER\n", 2, "an IOB tag", "'E-PER'"),
        (b"EU NNP I-NP I-ORG\nr\xe9jects VBZ I-VP O\n", 2, "UTF-8 text", "b'\\xe9'"),
    ],
)
def test_errors_name_file_line_expected_and_found(tmp_path, content, line, expected, found):
    path = _write(tmp_path, content)
    with pytest.raises(DataFormatError) as caught:
        read_conll(path)
    error = caught.value
    assert expected in error.expected and found in error.found
    assert (error.path, error.line) == (str(path), line)
    assert str(error).startswith(f"{path}, line {line}: expected")


def test_a_missing_tag_column_is_an_error_even_when_skipping(tmp_path):
    path = _write(tmp_path, "EU NNP\nrejects VBZ\n")
    with pytest.raises(DataFormatError) as caught:
        read_conll(path, tag_column=3, skip_bad_lines=True)
    assert caught.value.line == 1 and caught.value.expected == "a column 3 (tag_column)"


def test_skip_bad_lines_keeps_the_rest_of_the_sentence(tmp_path):
    path = _write(tmp_path, "EU NNP I-NP I-ORG\nbad line\nrejects VBZ I-VP X\ncall NN I-NP O\n")
    data = read_conll(path, skip_bad_lines=True)
    assert data.tokens == [["EU", "call"]] and data.skipped == 2


def test_empty_file_and_docstart_only_are_errors(tmp_path):
    with pytest.raises(DataFormatError, match="an empty file"):
        read_conll(_write(tmp_path, ""))
    with pytest.raises(DataFormatError, match="at least one sentence"):
        read_conll(_write(tmp_path, "-DOCSTART- -X- O O\n\n"))


def test_subset():
    data = TaggedSentences([["a"], ["b", "c"]], [["O"], ["B-X", "I-X"]])
    assert data.subset([1]).tokens == [["b", "c"]]


def test_lines_and_path_are_recorded_and_kept_by_subset(tmp_path):
    path = _write(tmp_path, CONLL_SAMPLE)
    data = read_conll(path)
    assert data.lines == [3, 9, 13] and data.path == str(path)
    assert data.line_of(2, 1) == 14
    assert data.subset([2, 0]).lines == [13, 3]


def test_iob2_to_bioes_and_back_round_trip():
    from nlpkit.data.conll import bioes_to_iob2, iob2_to_bioes

    iob2 = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "I-LOC", "B-ORG"]
    bioes = iob2_to_bioes(iob2)
    assert bioes == ["B-PER", "E-PER", "O", "S-LOC", "B-LOC", "I-LOC", "E-LOC", "S-ORG"]
    assert bioes_to_iob2(bioes) == iob2


def test_bioes_files_are_read_as_iob2(tmp_path):
    path = _write(tmp_path, "New B-LOC\nYork E-LOC\nis O\nbig O\n\nBob S-PER\n")
    data = read_conll(path, scheme="bioes", check_scheme=True)
    assert data.tags == [["B-LOC", "I-LOC", "O", "O"], ["B-PER"]]


@pytest.mark.parametrize(
    "content, scheme, line, expected",
    [
        ("a O\nb I-PER\n", "iob2", 2, "B-PER or I-PER before I-PER (IOB2)"),
        ("a B-LOC\nb I-PER\n", "iob2", 2, "B-PER or I-PER before I-PER"),
        ("a B-LOC\nb O\n\nc O\n", "bioes", 2, "I-LOC or E-LOC after B-LOC"),
        ("a O\nb E-LOC\n", "bioes", 2, "B-LOC before E-LOC"),
        ("a O\nb B-LOC\n", "bioes", 2, "I-LOC or E-LOC after B-LOC"),
    ],
)
def test_check_scheme_names_the_line_that_breaks_the_scheme(tmp_path, content, scheme, line,
                                                            expected):
    path = _write(tmp_path, content)
    with pytest.raises(DataFormatError) as caught:
        read_conll(path, scheme=scheme, check_scheme=True)
    assert caught.value.line == line and expected in caught.value.expected
    read_conll(path, scheme="iob1" if scheme == "iob2" else scheme)  # unchecked: accepted


def test_tab_delimited_tokens_keep_their_spaces(tmp_path):
    path = _write(tmp_path, "New York\tB-LOC\nrocks\tO\n\t\n@bob\tB-PER\n")
    data = read_conll(path, delimiter="\t")
    assert data.tokens == [["New York", "rocks"], ["@bob"]]


def test_max_length_names_the_first_token_beyond_it(tmp_path):
    path = _write(tmp_path, "a O\nb O\n\nc O\nd O\ne O\n")
    assert len(read_conll(path, max_length=3)) == 2
    with pytest.raises(DataFormatError) as caught:
        read_conll(path, max_length=2)
    assert caught.value.line == 6 and "at most 2 tokens per sentence" in str(caught.value)


def test_documents_as_units(tmp_path):
    data = read_conll(_write(tmp_path, CONLL_SAMPLE), units="documents")
    assert data.tokens == [
        ["EU", "rejects", "German", "call", ".", "Peter", "Blackburn"],
        ["Jan", "Bob", "Smith", "in"],
    ]
    assert data.tags[0][-2:] == ["B-PER", "I-PER"] and data.lines == [3, 13]
