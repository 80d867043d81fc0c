"""nlpkit.text.word_vectors on small vector files the tests write: GloVe and fastText formats,
plain or gzipped, streamed subsets, every malformed file named with its line, embedding matrices
(exact, then lower-cased matches), coverage, random rows, vocabulary expansion."""

import bz2
import gzip
import struct

import numpy as np
import pytest

from nlpkit.data import DataFormatError
from nlpkit.text import (
    RESERVED_TOKENS,
    Vocabulary,
    WordTokenizer,
    add_vector_words,
    embedding_matrix,
    first_words,
    iter_word_vectors,
    read_word_vectors,
    vector_dimension,
)

GLOVE = "the 0.1 0.2 -0.3\n, 1 2 3\nparis 0.5 -0.5 0.25\nParis 9 9 9\ncat 1e-3 2E2 -4\n"
# fastText: a "count dim" header, and a space at the end of every line.
FASTTEXT = "3 2\nthe 0.5 1.5 \nThe -1 1 \nzebra 2 -2 \n"


def write(path, text, compress=False):
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def vector(text):
    return np.array(text.split(), dtype=np.float32)


def test_glove_text_is_read_in_file_order_as_float32(tmp_path):
    path = write(tmp_path / "glove.txt", GLOVE)
    pairs = list(iter_word_vectors(path))
    assert [word for word, _ in pairs] == ["the", ",", "paris", "Paris", "cat"]
    assert all(values.dtype == np.float32 and values.shape == (3,) for _, values in pairs)
    np.testing.assert_array_equal(pairs[4][1], vector("1e-3 2E2 -4"))
    assert vector_dimension(path) == 3


def test_fasttext_vec_header_and_trailing_spaces(tmp_path):
    path = write(tmp_path / "wiki.vec", FASTTEXT)
    vectors = read_word_vectors(path)
    assert vectors.words == ["the", "The", "zebra"] and vectors.dimension == 2
    np.testing.assert_array_equal(vectors.vectors, [[0.5, 1.5], [-1, 1], [2, -2]])
    assert vector_dimension(path) == 2


@pytest.mark.parametrize("name, compress", [("vectors.txt", True), ("vectors.txt.gz", False),
                                            ("vectors.vec.gz", True)])
def test_gzip_is_told_by_its_magic_bytes_not_its_name(tmp_path, name, compress):
    path = write(tmp_path / name, GLOVE, compress=compress)
    assert first_words(path, 2) == ["the", ","]
    assert read_word_vectors(path).words == ["the", ",", "paris", "Paris", "cat"]


def test_a_subset_keeps_only_the_wanted_words_in_file_order(tmp_path):
    path = write(tmp_path / "glove.txt", GLOVE + "paris 7 7 7\n", compress=True)
    vectors = read_word_vectors(path, words={"cat", "paris", "absent"})
    assert vectors.words == ["paris", "cat"]  # the first "paris" (most frequent) wins
    np.testing.assert_array_equal(vectors.vectors, [vector("0.5 -0.5 0.25"), vector("1e-3 2E2 -4")])
    assert read_word_vectors(path, words=[]).vectors.shape == (0, 3)


def test_reading_streams_the_file(tmp_path):
    # A bad line 4 is only met by a reader that gets that far: the first words come out first.
    path = write(tmp_path / "glove.txt", "a 1 2\nb 3 4\nc 5 6\nd oops 8\n")
    assert first_words(path, 3) == ["a", "b", "c"]
    assert read_word_vectors(path, limit=0).dimension == 2
    stream = iter_word_vectors(path)
    assert [next(stream)[0] for _ in range(3)] == ["a", "b", "c"]
    with pytest.raises(DataFormatError, match="line 4"):
        next(stream)


BINARY_WORD2VEC = b"2 3\n" + b"".join(
    word + b" " + struct.pack("<3f", *values) + b"\n"
    for word, values in ((b"the", (0.1, -2.5, 3.0)), (b"cat", (0.0, 1.0, 2.0))))


@pytest.mark.parametrize("content, line, expected", [
    ("a 1 2 3\nb 1 2\n", 2, "expected a word and 3 values (as on line 1), found 2 values"),
    ("a 1 2 3\nb 1 2 3 4\n", 2, "expected a word and 3 values (as on line 1), found 4 values"),
    ("2 3\na 1 2 3\nb 1 2\n", 3,
     "expected a word and 3 values (the dimension in the header, line 1), found 2 values"),
    ("2 5\na 1 2 3\nb 1 2 3\n", 2, "the dimension in the header, line 1), found 3 values"),
    ("a 1 2\nb 1 x\n", 2, "expected a number in column 3, found 'x'"),
    ("a 1 2\nb nan 2\n", 2, "expected a finite number in column 2, found 'nan'"),
    ("a 1 2\n 1 2 3\n", 2, "expected a word at the start of the line"),
    ("a\n", 1, "expected a word followed by its vector's values, found 'a' alone"),
    ("a 1 2\nb 3 4\n\xff\n".encode("latin-1"), 3, "expected UTF-8 text"),
    (BINARY_WORD2VEC, 2, "binary word2vec"),
    (b"2 2\nthe \x00\x00\x80?\x00\x00\x00@\n", 2, "binary word2vec"),
])
def test_malformed_files_name_file_and_line(tmp_path, content, line, expected):
    path = write(tmp_path / "bad.txt", content)
    with pytest.raises(DataFormatError) as raised:
        read_word_vectors(path)
    assert raised.value.line == line and raised.value.path == str(path)
    assert str(raised.value).startswith(f"{path}, line {line}: ")
    assert expected in str(raised.value)
    with pytest.raises(DataFormatError, match=f"line {line}"):  # the same when gzipped
        read_word_vectors(write(tmp_path / "bad.gz", content, compress=True))


@pytest.mark.parametrize("content, expected", [
    ("", "found an empty file"), ("\n\n", "found an empty file"),
    ("5 3\n", "expected at least one vector after the header, found none"),
    ("3 2\na 1 2\nb 1 2\n", "expected 3 vectors (the header's count), found 2"),
])
def test_files_without_enough_vectors_are_errors(tmp_path, content, expected):
    path = write(tmp_path / "empty.txt", content)
    with pytest.raises(DataFormatError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        read_word_vectors(path)
    with pytest.raises(DataFormatError):
        embedding_matrix(Vocabulary(list(RESERVED_TOKENS) + ["a"]), path)


def test_a_truncated_gzip_stream_and_other_compressions_are_errors(tmp_path):
    data = gzip.compress(("".join(f"w{i} {i} 1\n" for i in range(2000))).encode())
    path = write(tmp_path / "cut.txt.gz", data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="a complete gzip stream"):
        read_word_vectors(path)
    path = write(tmp_path / "v.txt.bz2", bz2.compress(GLOVE.encode()))
    with pytest.raises(DataFormatError, match="found a bzip2 file"):
        read_word_vectors(path)


def test_embedding_matrix_matches_exactly_then_lower_cased(tmp_path):
    path = write(tmp_path / "glove.txt", GLOVE + "dog 4 4 4\nDog 5 5 5\n", compress=True)
    tokens = list(RESERVED_TOKENS) + ["the", "Paris", "PARIS", "Cat", "Dog", "unseen", "CAT"]
    vocabulary = Vocabulary(tokens)
    result = embedding_matrix(vocabulary, path, token_counts=[0, 5, 0, 0, 10, 3, 1, 1, 2, 4, 4])
    rows = dict(zip(tokens, result.matrix))
    np.testing.assert_array_equal(rows["the"], vector("0.1 0.2 -0.3"))
    np.testing.assert_array_equal(rows["Paris"], vector("9 9 9"))  # exact, although later
    np.testing.assert_array_equal(rows["PARIS"], vector("0.5 -0.5 0.25"))  # first lower-cased
    np.testing.assert_array_equal(rows["Cat"], vector("1e-3 2E2 -4"))
    np.testing.assert_array_equal(rows["Dog"], vector("5 5 5"))  # exact beats "dog" before it
    np.testing.assert_array_equal(rows["[PAD]"], 0.0)
    assert result.found.tolist() == [False] * 4 + [True] * 5 + [False, True]
    coverage = result.coverage
    assert (coverage.types, coverage.exact, coverage.lowercased) == (7, 3, 3)
    assert coverage.types_found == 6
    # [UNK] (5) counts as text not covered; [PAD], [BOS] and [EOS] are no text.
    assert (coverage.tokens, coverage.tokens_found) == (5 + 10 + 3 + 1 + 1 + 2 + 4 + 4, 10 + 3
                                                        + 1 + 1 + 2 + 4)
    assert str(coverage).startswith("6 of 7 vocabulary words have a vector (85.7%; 3 through")
    assert "21 of 30 training tokens (70.0%)" in str(coverage)
    assert result.dimension == 3 and result.summary()["exact"] == 3


def test_rows_without_vectors_are_seeded_normals_at_the_files_scale(tmp_path):
    rng = np.random.default_rng(4)
    values = rng.normal(0.0, 0.3, size=(300, 8))
    path = write(tmp_path / "v.txt", "".join(
        f"w{i} " + " ".join(f"{v:.6f}" for v in row) + "\n" for i, row in enumerate(values)))
    vocabulary = Vocabulary(list(RESERVED_TOKENS) + ["w0", "w1"] + [f"new{i}" for i in range(400)])
    first = embedding_matrix(vocabulary, path, seed=7)
    assert first.init_std == pytest.approx(values.std(), rel=1e-4)
    random_rows = first.matrix[~first.found][1:]  # not padding
    assert random_rows.shape == (403, 8)
    assert random_rows.std() == pytest.approx(values.std(), rel=0.05)
    assert abs(random_rows.mean()) < 0.02
    np.testing.assert_array_equal(embedding_matrix(vocabulary, path, seed=7).matrix, first.matrix)
    assert not np.array_equal(embedding_matrix(vocabulary, path, seed=8).matrix, first.matrix)
    assert first.coverage.tokens is None and "training tokens" not in str(first.coverage)


def test_token_counts_must_cover_every_id(tmp_path):
    path = write(tmp_path / "glove.txt", GLOVE)
    with pytest.raises(ValueError, match="one count per id"):
        embedding_matrix(Vocabulary(list(RESERVED_TOKENS) + ["the"]), path, token_counts=[1, 2])


def test_vocabulary_expansion_appends_the_files_frequent_words_the_tokenizer_can_read(tmp_path):
    path = write(tmp_path / "v.txt", "the 1 1\nThe 2 2\nu.s. 3 3\nZebra 4 4\ngood 5 5\nyak 6 6\n")
    tokenizer = WordTokenizer(lowercase=True)
    tokenizer.adapt(["a good film", "the film"])
    before = tokenizer.vocabulary.tokens
    first_new = add_vector_words(tokenizer, path, 5)  # "yak" is the 6th word: not considered
    assert first_new == len(before)
    # "the", "good" were there; "The" lower-cases to "the"; "u.s." splits into several tokens
    assert tokenizer.vocabulary.tokens == before + ["zebra"]
    assert tokenizer.tokenize(["a Zebra"]).to_list() == [[tokenizer.vocabulary.token_to_id("a"),
                                                          first_new]]
    assert add_vector_words(tokenizer, path, 5) == len(before) + 1  # nothing more to add
