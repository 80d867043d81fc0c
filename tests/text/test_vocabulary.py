import collections
import os

import numpy as np
import pytest

from nlpkit.data import DataFormatError
from nlpkit.text import (
    BOS_ID,
    EOS_ID,
    OOV_ID,
    PAD_ID,
    RESERVED_TOKENS,
    Vocabulary,
)


def test_reserved_ids_are_fixed():
    assert RESERVED_TOKENS == ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
    assert (PAD_ID, OOV_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    vocab = Vocabulary.build([["x"]])
    assert vocab.tokens[:4] == list(RESERVED_TOKENS)


def test_from_counts_orders_by_count_then_alphabetically():
    counts = {"b": 3, "a": 3, "c": 5, "d": 1}
    vocab = Vocabulary.from_counts(counts)
    assert vocab.tokens[4:] == ["c", "a", "b", "d"]


def test_max_size_counts_the_reserved_tokens_and_min_frequency_drops_rare():
    token_lists = [["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 1]
    assert Vocabulary.build(token_lists, max_size=6).tokens[4:] == ["a", "b"]
    assert len(Vocabulary.build(token_lists, max_size=6)) == 6
    assert Vocabulary.build(token_lists, min_frequency=3).tokens[4:] == ["a", "b", "c"]
    with pytest.raises(ValueError):
        Vocabulary.build(token_lists, max_size=3)


def test_build_accepts_arrays_and_bytes_and_counts_like_counter():
    token_lists = [np.array([b"x", b"y"], dtype=object), ["y", "z", "y"]]
    vocab = Vocabulary.build(token_lists)
    counts = collections.Counter(["x", "y", "y", "z", "y"])
    assert vocab.tokens[4:] == [
        token for token, _ in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    ]


def test_build_refuses_raw_strings():
    with pytest.raises(TypeError, match="adapt"):
        Vocabulary.build(["a whole sentence"])


def test_reserved_strings_in_data_are_not_counted_and_map_to_unknown():
    vocab = Vocabulary.build([["[PAD]", "[EOS]", "word"]])
    assert vocab.tokens[4:] == ["word"]
    assert vocab.encode(["[PAD]", "[BOS]", "word", "unseen"]) == [OOV_ID, OOV_ID, 4, OOV_ID]
    assert vocab.decode([0, 3, 4, 99]) == ["[PAD]", "[EOS]", "word", "[UNK]"]


def test_save_and_load_round_trip_with_awkward_tokens(tmp_path):
    tokens = ["\n", "\r", "\\", "\\n", "a b", "👍🏽", "é", "\t", "\u2028", "x"]
    vocab = Vocabulary(list(RESERVED_TOKENS) + tokens)
    path = tmp_path / "vocab.txt"
    vocab.save(path)
    data = path.read_bytes()
    # one token per line: exactly one line break per token
    assert data.count(b"\n") == len(vocab)
    assert data.startswith(b"[PAD]\n[UNK]\n[BOS]\n[EOS]\n")
    assert Vocabulary.load(path) == vocab
    assert os.listdir(tmp_path) == ["vocab.txt"]  # no temporary file left behind


def test_load_accepts_windows_line_endings(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"[PAD]\r\n[UNK]\r\n[BOS]\r\n[EOS]\r\nhello\r\n")
    assert Vocabulary.load(path).tokens[4:] == ["hello"]


@pytest.mark.parametrize(
    "content, line, fragment",
    [
        (b"[PAD]\n[BOS]\n[UNK]\n[EOS]\n", 2, "expected '[UNK]'"),
        (b"[PAD]\n[UNK]\n[BOS]\n[EOS]\na\nb\na\n", 7, "first on line 5"),
        (b"[PAD]\n[UNK]\n[BOS]\n[EOS]\na\n\nb\n", 6, "an empty line"),
        (b"[PAD]\n[UNK]\n[BOS]\n[EOS]\nbad\\q\n", 5, "escape"),
        (b"[PAD]\n[UNK]\n[BOS]\n[EOS]\nca\xfe\n", 5, "undecodable"),
    ],
)
def test_load_errors_name_file_and_line(tmp_path, content, line, fragment):
    path = tmp_path / "vocab.txt"
    path.write_bytes(content)
    with pytest.raises(DataFormatError) as caught:
        Vocabulary.load(path)
    assert caught.value.line == line
    assert str(path) in str(caught.value)
    assert f"line {line}" in str(caught.value)
    assert fragment in str(caught.value)


def test_load_of_a_short_file_is_an_error(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match="reserved tokens"):
        Vocabulary.load(path)


def test_constructor_validates():
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary(["a", "b"])
    with pytest.raises(ValueError, match="appears at ids"):
        Vocabulary(list(RESERVED_TOKENS) + ["a", "a"])
    with pytest.raises(ValueError, match="empty string"):
        Vocabulary(list(RESERVED_TOKENS) + [""])
