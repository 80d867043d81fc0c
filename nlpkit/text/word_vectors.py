"""Pretrained word vectors: read a vectors file as a stream, build an embedding matrix from it.

Files read (plain text, or gzipped: told by the file's first bytes, whatever its name):

- GloVe and word2vec text: one `word v1 v2 ... vd` per line, separated by single spaces;
- fastText `.vec` (and word2vec text with a header): a first line `count dim`, then the same
  lines (a trailing space at the end of a line is allowed).

Files list their words most frequent first. Reading streams the file line by line and keeps only
what was asked for (the vectors of a vocabulary, or the first N words), never the whole file.
A malformed file raises `nlpkit.data.DataFormatError` naming the file and line: a line with
another number of values than the first (or than the header's `dim`), a value that is not a
finite number, an empty file, or a binary word2vec `.bin` file.

    vectors = embedding_matrix(tokenizer.vocabulary, "glove.6B.50d.txt.gz", seed=0)
    print(vectors.coverage)   # 9,610 of 9,996 vocabulary words have a vector (96.1%; ...
    nlpkit.layers.PretrainedEmbedding(len(vectors.matrix), vectors.dimension,
                                      vectors=vectors.matrix, mask_zero=True)
"""

import collections
import dataclasses
import gzip
import os
import re
import zlib

import numpy as np

from nlpkit.data.errors import DataFormatError
from nlpkit.text.vocabulary import BOS_ID, EOS_ID, PAD_ID, RESERVED_TOKENS, Vocabulary

_GZIP_MAGIC = b"\x1f\x8b"
# Compressions that are not read, named so that the error says what the file is.
_OTHER_COMPRESSIONS = {b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip"}
_HEADER = re.compile(r"(\d+) (\d+)")
_CONVERT_BINARY = (
    "a text vectors file; this looks like a binary word2vec file, which can be converted with "
    "gensim: KeyedVectors.load_word2vec_format(path, binary=True)"
    ".save_word2vec_format(out, binary=False)"
)


def _open_binary(path):
    """The file's bytes, decompressed when it starts with the gzip magic bytes."""
    with open(path, "rb") as handle:
        start = handle.read(6)
    if start.startswith(_GZIP_MAGIC):
        return gzip.open(path, "rb")
    for magic, name in _OTHER_COMPRESSIONS.items():
        if start.startswith(magic):
            raise DataFormatError(path, None, "plain or gzipped text vectors",
                                  f"a {name} file")
    return open(path, "rb")


def _raw_lines(path):
    """`(line number, bytes)` of every line; a damaged gzip stream is a `DataFormatError`."""
    number = 0
    with _open_binary(path) as handle:
        try:
            for number, raw in enumerate(handle, start=1):
                yield number, raw
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise DataFormatError(path, number + 1, "a complete gzip stream",
                                  f"a damaged or truncated one ({error})") from None


def _decode(path, number, raw, after_header):
    # A binary word2vec file starts with the same "count dim" header as a text one; its vectors
    # are raw floats, which hold NUL bytes or do not decode.
    expected = _CONVERT_BINARY if after_header else "UTF-8 text"
    if b"\x00" in raw:
        raise DataFormatError(path, number, expected, "NUL bytes (binary data)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataFormatError(path, number, expected,
                              f"undecodable bytes {raw[error.start : error.end]!r}") from None


def _parse_values(path, number, fields, dimension, source):
    """The floats of `fields` (a line's values) as a float32 vector, checked."""
    if len(fields) != dimension:
        raise DataFormatError(path, number, f"a word and {dimension} values ({source})",
                              f"{len(fields)} values")
    try:
        vector = np.array(fields, dtype=np.float32)
    except ValueError:
        column, text = next((column, text) for column, text in enumerate(fields, start=2)
                            if not _is_number(text))
        raise DataFormatError(path, number, f"a number in column {column}", repr(text)) from None
    if not np.all(np.isfinite(vector)):
        column = int(np.argmin(np.isfinite(vector))) + 2
        raise DataFormatError(path, number, f"a finite number in column {column}",
                              repr(fields[column - 2]))
    return vector


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclasses.dataclass
class _Stream:
    """What a stream learned about its file: the header's count (if any) and the width."""

    header_count: int | None = None
    dimension: int | None = None


def _stream_vectors(path, stream):
    """Yields `(word, float32 vector)` for every vector of the file at `path`, checking each
    line; fills `stream` with the header count and the dimension as it reads them."""
    source = ""
    rows = 0
    header_line = None
    for number, raw in _raw_lines(path):
        first_after_header = header_line is not None and rows == 0
        line = _decode(path, number, raw, first_after_header).rstrip("\r\n").rstrip(" ")
        if not line:
            continue  # an empty line holds no vector
        if stream.dimension is None:
            header = _HEADER.fullmatch(line)
            if header:
                stream.header_count, stream.dimension = map(int, header.groups())
                if stream.dimension < 1:
                    raise DataFormatError(path, number, "a dimension of at least 1 in the "
                                          "header 'count dim'", repr(line))
                source, header_line = f"the dimension in the header, line {number}", number
                continue
        word, _, rest = line.partition(" ")
        if not word:
            raise DataFormatError(path, number, "a word at the start of the line",
                                  "a line that starts with a space")
        fields = rest.split(" ") if rest else []
        if stream.dimension is None:
            if not fields:
                raise DataFormatError(path, number, "a word followed by its vector's values",
                                      f"{word!r} alone")
            stream.dimension, source = len(fields), f"as on line {number}"
        if first_after_header and len(fields) != stream.dimension and not all(
                map(_is_number, fields[: stream.dimension])):
            raise DataFormatError(path, number, _CONVERT_BINARY, f"{line[:40]!r}...")
        yield word, _parse_values(path, number, fields, stream.dimension, source)
        rows += 1
    if stream.dimension is None:
        raise DataFormatError(path, None, "word vectors ('word v1 ... vd' per line)",
                              "an empty file")
    if rows == 0:
        raise DataFormatError(path, None, "at least one vector after the header", "none")
    if stream.header_count is not None and rows != stream.header_count:
        raise DataFormatError(path, None, f"{stream.header_count} vectors (the header's count)",
                              f"{rows}")


def iter_word_vectors(path):
    """Yields `(word, vector)` for every line of a vectors file, in file order, checking each.

    Args:
        path: a GloVe/word2vec text or fastText `.vec` file, plain or gzipped.

    Yields:
        `(str, float32 NumPy vector)`; only one line is held at a time.

    Raises:
        FileNotFoundError: no such file.
        DataFormatError: a malformed file (see the module docstring), naming file and line.
    """
    path = os.fspath(path)
    yield from _stream_vectors(path, _Stream())


def vector_dimension(path):
    """The width of the vectors in `path`, from its header or first vector (reads a line or
    two; the first vector line is checked)."""
    path = os.fspath(path)
    stream = _Stream()
    for _ in _stream_vectors(path, stream):
        break  # the first vector is read and checked: the dimension is known
    return stream.dimension


@dataclasses.dataclass(frozen=True)
class WordVectors:
    """Some of a file's vectors: `vectors[i]` is the vector of `words[i]`, in file order."""

    path: str
    words: list
    vectors: np.ndarray  # shape: (len(words), dimension), float32
    dimension: int


def read_word_vectors(path, words=None, limit=None):
    """Reads the vectors of `words` (all of them when None) among the first `limit` lines.

    Streams the file: only the rows kept are held in memory. A word listed twice in the file
    keeps its first (most frequent) vector.

    Args:
        path: a vectors file (see the module docstring).
        words: a collection of the words wanted (exact matches), or None for all.
        limit: read only the first `limit` vectors (files list the most frequent words first),
            or None for the whole file (whose every line is then checked).

    Returns:
        `WordVectors`.
    """
    path = os.fspath(path)
    wanted = None if words is None else set(words)
    stream = _Stream()
    kept_words, kept_vectors, seen = [], [], set()
    if limit is None or limit > 0:
        for count, (word, vector) in enumerate(_stream_vectors(path, stream), start=1):
            if (wanted is None or word in wanted) and word not in seen:
                seen.add(word)
                kept_words.append(word)
                kept_vectors.append(vector)
            if count == limit:
                break
    else:
        stream.dimension = vector_dimension(path)
    vectors = (np.stack(kept_vectors) if kept_vectors
               else np.zeros((0, stream.dimension), np.float32))
    return WordVectors(path, kept_words, vectors, stream.dimension)


def first_words(path, count):
    """The first `count` words of a vectors file (its most frequent), distinct, in file order."""
    return read_word_vectors(path, limit=count).words


@dataclasses.dataclass(frozen=True)
class Coverage:
    """How much of a vocabulary (and of the text it came from) a vectors file covers.

    Attributes:
        types: the vocabulary's words (the reserved ids left out).
        exact: words whose vector was found under the same spelling.
        lowercased: words found only through their lower-cased form.
        tokens: running tokens of the training text (None when not counted), `[UNK]` included.
        tokens_found: those whose word got a vector.
    """

    types: int
    exact: int
    lowercased: int
    tokens: int | None = None
    tokens_found: int | None = None

    @property
    def types_found(self):
        return self.exact + self.lowercased

    def __str__(self):
        text = (f"{self.types_found:,} of {self.types:,} vocabulary words have a vector "
                f"({_percent(self.types_found, self.types)}; {self.lowercased:,} through their "
                "lower-cased form)")
        if self.tokens is not None:
            text += (f", {self.tokens_found:,} of {self.tokens:,} training tokens "
                     f"({_percent(self.tokens_found, self.tokens)})")
        return text


def _percent(part, whole):
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


@dataclasses.dataclass(frozen=True)
class EmbeddingMatrix:
    """An embedding matrix for a vocabulary, from a vectors file.

    Attributes:
        matrix: float32 `(vocabulary size, dimension)`; row `i` is the vector of id `i`.
        found: bool `(vocabulary size,)`, the rows that hold a vector from the file.
        coverage: `Coverage`.
        path: the vectors file.
        dimension: the vectors' width.
        init_std: the standard deviation of the file's values, which the random rows share.
        frozen_from: the first id that vocabulary expansion added (`add_vector_words`), or
            None. Models keep the rows from there on frozen: most of those words never occur
            in the training text, so their vectors must stay in the pretrained space.
    """

    matrix: np.ndarray
    found: np.ndarray
    coverage: Coverage
    path: str
    dimension: int
    init_std: float
    frozen_from: int | None = None

    def describe(self):
        """One line for a training log: the file, its width, the coverage, the frozen ids."""
        added = ""
        if self.frozen_from is not None and self.frozen_from < len(self.matrix):
            added = (f"; ids {self.frozen_from:,} to {len(self.matrix) - 1:,} are words added "
                     "from the file, kept frozen")
        return (f"word vectors {self.path} ({self.dimension} dimensions): "
                f"{self.coverage}{added}")

    def summary(self):
        """A JSON-ready record for a run config."""
        return {"path": self.path, "dimension": self.dimension, "init_std": self.init_std,
                "frozen_from": self.frozen_from, **dataclasses.asdict(self.coverage)}


def embedding_matrix(vocabulary, path, *, token_counts=None, seed=0, frozen_from=None):
    """Builds the embedding matrix of `vocabulary` from the vectors file at `path`.

    Each vocabulary word gets the vector of the same word in the file; failing that, of the
    first (most frequent) file word with the same lower-cased form (so "Paris" gets GloVe's
    "paris", and "paris" gets "Paris" from a cased file). Words without a vector, and the ids
    `[UNK]`, `[BOS]`, `[EOS]`, get random normal vectors, mean 0 and the standard deviation of all
    the file's values (drawn from `seed`, so the same call gives the same matrix); padding (id 0)
    gets zeros. The file is streamed: memory holds the matrix, not the file.

    Args:
        vocabulary: a `Vocabulary`.
        path: a vectors file (see the module docstring).
        token_counts: optional counts of each id in the training text (a sequence of
            `len(vocabulary)` numbers), to report the share of running tokens covered.
        seed: seed of the random rows.
        frozen_from: recorded in the result (see `EmbeddingMatrix.frozen_from`).

    Returns:
        `EmbeddingMatrix`.

    Raises:
        DataFormatError: a malformed file, naming file and line.
    """
    path = os.fspath(path)
    if not isinstance(vocabulary, Vocabulary):
        vocabulary = Vocabulary(vocabulary)
    tokens = vocabulary.tokens
    ids = {token: index for index, token in enumerate(tokens) if index >= len(RESERVED_TOKENS)}
    by_lowercase = collections.defaultdict(list)
    for token, index in ids.items():
        by_lowercase[token.lower()].append(index)

    stream = _Stream()
    matrix = None
    exact = np.zeros(len(tokens), bool)
    lowercased = np.zeros(len(tokens), bool)
    # Sums of the values and their squares, in float64, for the file's standard deviation.
    total = total_squares = 0.0
    values = 0
    for word, vector in _stream_vectors(path, stream):
        if matrix is None:
            matrix = np.zeros((len(tokens), stream.dimension), np.float32)
        wide = vector.astype(np.float64)
        total += wide.sum()
        total_squares += np.dot(wide, wide)
        values += vector.size
        index = ids.get(word)
        if index is not None and not exact[index]:
            matrix[index] = vector
            exact[index] = True
        for index in by_lowercase.get(word.lower(), ()):
            if not exact[index] and not lowercased[index]:
                matrix[index] = vector
                lowercased[index] = True
    lowercased &= ~exact
    found = exact | lowercased
    mean = total / values
    init_std = float(np.sqrt(max(total_squares / values - mean * mean, 0.0)))
    # One draw for every row, so that the random rows depend only on the seed and the sizes.
    random_rows = np.random.default_rng(seed).normal(0.0, init_std, matrix.shape)
    matrix = np.where(found[:, None], matrix, random_rows.astype(np.float32))
    matrix[PAD_ID] = 0.0

    tokens_found = total_tokens = None
    if token_counts is not None:
        counts = np.asarray(token_counts, dtype=np.int64)
        if counts.shape != (len(tokens),):
            raise ValueError(f"token_counts must hold one count per id ({len(tokens)}); "
                             f"got shape {counts.shape}")
        counted = np.ones(len(tokens), bool)
        counted[[PAD_ID, BOS_ID, EOS_ID]] = False  # markers and padding are not text
        total_tokens = int(counts[counted].sum())
        tokens_found = int(counts[found].sum())
    coverage = Coverage(
        types=len(ids), exact=int(exact.sum()), lowercased=int(lowercased.sum()),
        tokens=total_tokens, tokens_found=tokens_found)
    return EmbeddingMatrix(matrix=matrix, found=found, coverage=coverage, path=path,
                           dimension=stream.dimension, init_std=init_std,
                           frozen_from=frozen_from)


def add_vector_words(tokenizer, path, count):
    """Vocabulary expansion: appends to `tokenizer`'s vocabulary the words among the first
    `count` of the vectors file that it lacks, so that words unseen in training (in dev, test or
    served text) still get their pretrained vectors.

    File words are lower-cased when the tokenizer lower-cases, and a word is added only when the
    tokenizer reads it as exactly that one token (so "u.s.", which it splits, is not).

    Args:
        tokenizer: an `nlpkit.text` word tokenizer with its vocabulary.
        path: a vectors file.
        count: how many of the file's first words to consider.

    Returns:
        The id of the first added word (the old vocabulary size): ids from there on are the
        added words, in file order.
    """
    old = tokenizer.vocabulary
    words = first_words(path, count)
    if tokenizer.lowercase:
        words = [word.lower() for word in words]
    reserved = set(RESERVED_TOKENS)
    candidates = [word for word in dict.fromkeys(words) if word not in old and word not in reserved]
    first_new = len(old)
    if not candidates:
        return first_new
    tokenizer.set_vocabulary(Vocabulary(old.tokens + candidates))
    markers = {BOS_ID, EOS_ID}
    read_back = tokenizer.tokenize(candidates).to_list()
    kept = [word for index, (word, ids) in enumerate(zip(candidates, read_back))
            if [i for i in ids if i not in markers] == [first_new + index]]
    tokenizer.set_vocabulary(Vocabulary(old.tokens + kept))
    return first_new


def vocabulary_vectors(path, tokenizer, token_id_batches, *, add_words=0, seed=0):
    """The vectors of a task's vocabulary, after an optional vocabulary expansion: what every
    task with a word embedding does with `--embeddings` and `--vocabulary-from-embeddings`.

    Args:
        path: the vectors file.
        tokenizer: the task's fitted word tokenizer (its vocabulary may grow).
        token_id_batches: a function returning an iterable of integer id arrays, the training
            tokens as `tokenizer` reads them; called after the expansion (ids may change), and
            only to count the tokens for the coverage.
        add_words: how many of the file's most frequent words join the vocabulary first
            (`add_vector_words`); their rows are frozen.
        seed: seed of the random rows of words without a vector.

    Returns:
        An `EmbeddingMatrix` of `tokenizer`'s (final) vocabulary.

    Raises:
        DataFormatError: a malformed vectors file, naming file and line.
    """
    frozen_from = add_vector_words(tokenizer, path, add_words) if add_words else None
    size = tokenizer.vocabulary_size
    counts = np.zeros(size, np.int64)
    for ids in token_id_batches():
        counts += np.bincount(np.asarray(ids).reshape(-1), minlength=size)
    return embedding_matrix(tokenizer.vocabulary, path, token_counts=counts, seed=seed,
                            frozen_from=frozen_from)
