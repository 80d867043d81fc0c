import logging

import numpy as np
import pytest

from nlpkit.data import (
    DataFormatError,
    LabelledTexts,
    read_class_folders,
    read_labelled_table,
    read_line_files,
)


def _write(path, content):
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def _error(call):
    with pytest.raises(DataFormatError) as caught:
        call()
    return caught.value


SST2_SAMPLE = (
    "sentence\tlabel\n"
    "hide new secretions from the parental units \t0\n"
    'the greatest musicians " \t1\n'
    "contains no wit , only labored gags \t0\n"
)


def test_tsv_with_header(tmp_path):
    path = _write(tmp_path / "train.tsv", SST2_SAMPLE)
    data = read_labelled_table(path)
    assert data.texts == [
        "hide new secretions from the parental units ",
        'the greatest musicians " ',
        "contains no wit , only labored gags ",
    ]
    assert data.labels.tolist() == [0, 1, 0] and data.labels.dtype == np.int64
    assert data.label_names == ["0", "1"] and data.skipped == 0


def test_label_names_order_ids_and_numeric_labels_sort_numerically(tmp_path):
    path = _write(tmp_path / "t.tsv", "label\tsentence\n10\ta\n2\tb\n")
    assert read_labelled_table(path).label_names == ["2", "10"]
    path = _write(tmp_path / "u.tsv", "sentence\tlabel\na\tpos\nb\tneg\n")
    data = read_labelled_table(path, label_names=["pos", "neg"])
    assert data.labels.tolist() == [0, 1]


def test_csv_with_quoting_and_a_multiline_field(tmp_path):
    path = _write(
        tmp_path / "data.csv",
        'id,text,label\n1,"hello, ""world""\nsecond line",pos\n2,plain,neg\n',
    )
    data = read_labelled_table(path, text_column="text")
    assert data.texts == ['hello, "world"\nsecond line', "plain"]
    assert data.labels.tolist() == [1, 0]


@pytest.mark.parametrize(
    "content, line, expected, found",
    [
        (
            "sentence\tlabel\ngood\t1\ntoo\tmany\t1\n",
            3,
            "2 tab-separated fields",
            "3: 'too\\tmany\\t1'",
        ),
        ("sentence\tlabel\ngood\t1\nno label here\n", 3, "2 tab-separated fields", "1:"),
        ("sentence\tlabel\ngood\t1\nbad\t7\n", 3, "a label in ['0', '1']", "'7'"),
        ("sentence\tlabel\ngood\t1\nbad\t\n", 3, "a label", "an empty label"),
        ("sentence\tlabel\ngood\t1\n\n", 3, "2 tab-separated fields", "an empty line"),
        (b"sentence\tlabel\ngood\t1\nb\xffd\t0\n", 3, "UTF-8 text", "b'\\xff'"),
        (
            "text\tlabel\ngood\t1\n",
            1,
            "a header naming columns 'sentence' and 'label'",
            "'text\\tlabel'",
        ),
    ],
)
def test_table_errors_name_file_line_expected_and_found(tmp_path, content, line, expected, found):
    path = _write(tmp_path / "bad.tsv", content)
    error = _error(lambda: read_labelled_table(path, label_names=["0", "1"]))
    assert (error.path, error.line) == (str(path), line)
    assert expected in error.expected and found in error.found
    assert str(error).startswith(f"{path}, line {line}: expected ")


def test_skip_bad_lines_counts_and_warns(tmp_path, caplog):
    path = _write(tmp_path / "bad.tsv", "sentence\tlabel\ngood\t1\ntoo\tmany\t1\nbad\t7\nfine\t0\n")
    with caplog.at_level(logging.WARNING, logger="nlpkit.data"):
        data = read_labelled_table(path, label_names=["0", "1"], skip_bad_lines=True)
    assert data.texts == ["good", "fine"] and data.skipped == 2
    assert "skipped 2 bad line(s)" in caplog.text and "line 3" in caplog.text


def test_empty_file_header_only_and_all_skipped_are_errors(tmp_path):
    empty = _write(tmp_path / "empty.tsv", "")
    assert _error(lambda: read_labelled_table(empty)).found == "an empty file"
    header = _write(tmp_path / "header.tsv", "sentence\tlabel\n")
    assert "labelled row" in _error(lambda: read_labelled_table(header)).expected
    bad = _write(tmp_path / "bad.tsv", "sentence\tlabel\nx\t9\n")
    error = _error(lambda: read_labelled_table(bad, label_names=["0"], skip_bad_lines=True))
    assert "1 bad line(s) skipped" in error.found


def test_line_files_one_per_class(tmp_path):
    neg = _write(tmp_path / "rt-polarity.neg", "simplistic , silly and tedious . \nboring\n")
    pos = _write(tmp_path / "rt-polarity.pos", "the rock is destined to be great . \r\n")
    data = read_line_files({"neg": neg, "pos": pos})
    assert data.texts == [
        "simplistic , silly and tedious . ",
        "boring",
        "the rock is destined to be great . ",
    ]
    assert data.labels.tolist() == [0, 0, 1] and data.label_names == ["neg", "pos"]


def test_line_files_errors(tmp_path):
    neg = _write(tmp_path / "neg.txt", "ok\n\nfine\n")
    pos = _write(tmp_path / "pos.txt", "")
    error = _error(lambda: read_line_files({"neg": neg}))
    assert (error.line, error.found) == (2, "an empty line")
    assert read_line_files({"neg": neg}, skip_bad_lines=True).skipped == 1
    error = _error(lambda: read_line_files({"neg": neg, "pos": pos}, skip_bad_lines=True))
    assert error.path == str(pos) and error.found == "an empty file"
    latin1 = _write(tmp_path / "latin1.txt", "ok\ncaf\xe9\n".encode("latin-1"))
    error = _error(lambda: read_line_files({"x": latin1}))
    assert error.line == 2 and "\\xe9" in error.found


def test_class_folders(tmp_path):
    for name, files in {
        "pos": {"b.txt": "great\nfun", "a.txt": "loved it"},
        "neg": {"0_3.txt": "bad"},
        "unsup": {"x.txt": "?"},
    }.items():
        (tmp_path / name).mkdir()
        for file, text in files.items():
            _write(tmp_path / name / file, text)
    data = read_class_folders(tmp_path, label_names=["neg", "pos"])
    assert data.texts == ["bad", "loved it", "great\nfun"]  # sorted file names per class
    assert data.labels.tolist() == [0, 1, 1]
    assert read_class_folders(tmp_path).label_names == ["neg", "pos", "unsup"]
    (tmp_path / "empty").mkdir()
    error = _error(lambda: read_class_folders(tmp_path, label_names=["neg", "empty"]))
    assert error.expected == "at least one *.txt file"
    _write(tmp_path / "neg" / "z.txt", b"line one\nbad \xff byte")
    error = _error(lambda: read_class_folders(tmp_path, label_names=["neg"]))
    assert error.path.endswith("z.txt") and error.line == 2


def test_subset_and_to_dataset():
    data = LabelledTexts(["a", "b", "c"], np.array([0, 1, 0]), ["x", "y"])
    part = data.subset([2, 0])
    assert part.texts == ["c", "a"] and part.labels.tolist() == [0, 0]
    rows = list(data.to_dataset().as_numpy_iterator())
    assert rows == [(b"a", 0), (b"b", 1), (b"c", 0)]


def test_error_pickles_with_its_fields():
    import pickle

    error = pickle.loads(pickle.dumps(DataFormatError("f.tsv", 3, "x", "y")))
    assert (error.path, error.line, error.expected, error.found) == ("f.tsv", 3, "x", "y")
    assert str(error) == "f.tsv, line 3: expected x, found y"
