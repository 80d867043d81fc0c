r"""A word-vectors file -> a TF Hub text-embedding module (strings in, mean word vector out).

The classic way such modules are made (the `nnlm-en-dim50` family takes a batch of strings and
gives `[batch, dim]`): the module splits each string into words in its graph, looks each word up
in the file's vocabulary and averages the vectors of the words:

- words are split and normalized by `nlpkit.text.WordTokenizer` (NFKC, `unicode_script` split so
  punctuation is its own token; lower-cased unless `lowercase=False`, since GloVe 6B is lower-case);
- a word missing from the file is `[UNK]`, whose row starts as the mean of all the file's vectors
  (the expected vector of a word) and which counts in the average like any word;
- a string without words gives zeros;
- only file words the tokenizer can produce are kept (with `unicode_script` splitting, "u.s." is
  three tokens and never looked up), and a word whose lower-cased or normalized form came earlier
  in the file keeps that earlier (more frequent) vector.

The module is written by `nlpkit.export.export_text_encoder` (versioned, atomic, servable,
fine-tunable: the embedding matrix is its one trainable variable). Reading the file streams it
through `nlpkit.text.word_vectors`.

Command:

    python -m nlpkit.export.word_vectors_module \
        ../shared/datasets/embeddings/glove.6B.50d/vectors.txt.gz saved_models/glove-6b-50d
    # -> saved_models/glove-6b-50d/1, a handle for HubLayer, hub.load or hub.KerasLayer

Malformed vectors files exit with status 2 and a message naming file and line.
"""

import argparse
import sys
import time

import keras
import numpy as np

from nlpkit.data import DataFormatError
from nlpkit.export.text_encoder import export_text_encoder
from nlpkit.layers import MeanPooling
from nlpkit.text import OOV_ID, RESERVED_TOKENS, Vocabulary, WordTokenizer
from nlpkit.text.word_vectors import read_word_vectors

SPLITS = ("unicode_script", "whitespace")


def _reachable_words(tokenizer, words):
    """The words that `tokenizer` reads back as exactly themselves (one token, their own id),
    in order; the vocabulary is `words` when this is called."""
    first_id = len(RESERVED_TOKENS)
    read_back = tokenizer.tokenize(words).to_list()
    return [word for index, (word, ids) in enumerate(zip(words, read_back))
            if ids == [first_id + index]]


def word_vectors_encoder(vectors_path, *, max_words=None, lowercase=True,
                         split="unicode_script", max_length=None):
    """The tokenizer and encoder of a mean-of-word-vectors text embedding.

    Args:
        vectors_path: a GloVe/word2vec text or fastText `.vec` file, plain or gzipped.
        max_words: keep only the file's first (most frequent) `max_words` words; None keeps all.
        lowercase: lower-case the text (and the file's words) before looking words up.
        split: how the tokenizer splits words, `"unicode_script"` or `"whitespace"`.
        max_length: average over at most the first `max_length` words of a string; None: all.

    Returns:
        `(tokenizer, encoder, summary)`: a `WordTokenizer`, a Keras model from its ids to the
        `[batch, dim]` mean vector, and a JSON-ready dict describing what was kept.

    Raises:
        FileNotFoundError: no such file.
        DataFormatError: a malformed vectors file (naming file and line), or one without a
            word the tokenizer can look up.
        ValueError: bad arguments.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if max_words is not None and max_words < 1:
        raise ValueError(f"max_words must be at least 1, got {max_words}")
    vectors = read_word_vectors(vectors_path, limit=max_words)
    rows = {}
    reserved = set(RESERVED_TOKENS)
    for word, vector in zip(vectors.words, vectors.vectors):
        key = word.lower() if lowercase else word
        if key and key not in reserved and key not in rows:
            rows[key] = vector
    candidates = list(rows)
    tokenizer = WordTokenizer(list(RESERVED_TOKENS) + candidates, split=split,
                              lowercase=lowercase, max_length=max_length)
    kept = _reachable_words(tokenizer, candidates) if candidates else []
    if not kept:
        raise DataFormatError(vectors_path, None, f"words that {split} splitting keeps whole",
                              f"none among its {len(vectors.words)} words")
    tokenizer.set_vocabulary(Vocabulary(list(RESERVED_TOKENS) + kept))

    matrix = np.zeros((len(RESERVED_TOKENS) + len(kept), vectors.dimension), np.float32)
    matrix[len(RESERVED_TOKENS):] = np.stack([rows[word] for word in kept])
    matrix[OOV_ID] = matrix[len(RESERVED_TOKENS):].mean(axis=0)
    ids = keras.Input(shape=(None,), dtype="int32", name="ids")
    embedding = keras.layers.Embedding(len(matrix), vectors.dimension, mask_zero=True,
                                       name="word_vectors")
    encoder = keras.Model(ids, MeanPooling(name="mean")(embedding(ids)), name="mean_of_vectors")
    embedding.set_weights([matrix])
    summary = {
        "vectors": str(vectors_path),
        "dimension": vectors.dimension,
        "words_read": len(vectors.words),
        "words_kept": len(kept),
        "words_dropped": len(vectors.words) - len(kept),
        "lowercase": bool(lowercase),
        "split": split,
        "max_length": max_length,
        "unknown_row": "mean of the kept vectors",
    }
    return tokenizer, encoder, summary


def export_word_vectors_module(vectors_path, export_base, *, max_words=None, lowercase=True,
                               split="unicode_script", max_length=None, version=None,
                               chief=None):
    """Writes the word-vectors text embedding as the Hub module `<export_base>/<version>/`.

    Args:
        vectors_path, max_words, lowercase, split, max_length: see `word_vectors_encoder`.
        export_base: the module's base directory, e.g. `saved_models/glove-6b-50d`.
        version: integer version, None for the next free one.
        chief: see `nlpkit.export.export_model`.

    Returns:
        `(version directory, summary)`; the summary is also the version's run config.

    Example:

    ```python
    handle, summary = export_word_vectors_module("glove.6B.50d.txt.gz", "saved_models/glove")
    embed = nlpkit.layers.HubLayer(handle)     # strings -> (batch, 50)
    ```
    """
    tokenizer, encoder, summary = word_vectors_encoder(
        vectors_path, max_words=max_words, lowercase=lowercase, split=split,
        max_length=max_length,
    )
    handle = export_text_encoder(tokenizer, encoder, export_base, version=version,
                                 run_config=summary, chief=chief)
    return handle, summary


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m nlpkit.export.word_vectors_module",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("vectors", help="GloVe/word2vec text or fastText .vec file (or .gz)")
    parser.add_argument("export_base", help="the module's base directory; writes <base>/<N>/")
    parser.add_argument("--max-words", type=_positive_int, default=None,
                        help="keep only the file's first N words (its most frequent); "
                        "default: all (>= 1)")
    parser.add_argument("--keep-case", action="store_true",
                        help="look words up as written (default: lower-case text and words)")
    parser.add_argument("--split", choices=SPLITS, default="unicode_script",
                        help="how strings are split into words (default: unicode_script)")
    parser.add_argument("--max-length", type=_positive_int, default=None,
                        help="average over at most the first N words of a string (>= 1)")
    parser.add_argument("--version", type=_positive_int, default=None,
                        help="version number to write (default: the next free one; an "
                        "existing version is never overwritten) (>= 1)")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        handle, summary = export_word_vectors_module(
            args.vectors, args.export_base, max_words=args.max_words,
            lowercase=not args.keep_case, split=args.split, max_length=args.max_length,
            version=args.version,
        )
    except (FileNotFoundError, FileExistsError, DataFormatError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    print(f"{handle}: {summary['words_kept']:,} words of {summary['words_read']:,} "
          f"({summary['dimension']} dimensions) in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
