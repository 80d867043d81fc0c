"""The data side of text classification: find and read the data, split it, tokenize it.

`read_labelled_data` picks the right reader for a path (GLUE table, Movie Review line files, IMDB
class folders), `train_dev_split` holds out a dev set, `fit_tokenizer` learns a vocabulary,
`load_word_vectors` extends it from a vectors file and reads the vectors, and
`tokenized_examples` turns texts into the token-id examples `nlpkit.training.train` consumes
(`text_examples` keeps them as raw strings, for models that read text themselves: a Hub encoder).
`model_inputs` gives a whole set's inputs for `model.predict`, token ids or strings.
"""

import dataclasses
import os

import numpy as np

from nlpkit.data import (
    DataFormatError,
    preprocess_in_batches,
    read_class_folders,
    read_labelled_table,
    read_line_files,
)

LINE_FILE_SUFFIXES = (".pos", ".neg")


def read_labelled_data(path, label_names=None, skip_bad_lines=False):
    """Reads labelled texts from `path`, choosing the reader by what `path` is.

    - a `.tsv` / `.csv` file with a header `sentence<TAB>label` (GLUE SST-2) or any table with
      `sentence` (or `text`) and `label` columns;
    - a folder holding `*.pos` and `*.neg` line files (Movie Review: `rt-polarity.pos/.neg`),
      labelled `neg` = 0 and `pos` = 1;
    - a folder of class folders with one text per file (IMDB: `train/pos/*.txt`,
      `train/neg/*.txt`); give the folder that holds `pos/` and `neg/`.

    Args:
        path: the file or folder.
        label_names: the class names in id order (`--label-names`), or None to take the
            labels found. A table's labels must be these names or class ids written as numbers
            (`0` is the first name); files and folders name their classes themselves (`neg` <
            `pos`), which must be as many as `label_names`. The result carries `label_names`.
        skip_bad_lines: skip malformed table rows (counted in `skipped`) instead of raising.

    Raises:
        FileNotFoundError: `path` does not exist.
        DataFormatError: the content is malformed or a label is not one of `label_names` (the
            message names the file and line).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or folder")
    texts = _read_any(path, label_names, skip_bad_lines)
    if label_names is None:
        return texts
    if len(texts.label_names) != len(label_names):
        raise DataFormatError(path, None, f"{len(label_names)} classes ({', '.join(label_names)})",
                              f"{len(texts.label_names)}: {texts.label_names}")
    return dataclasses.replace(texts, label_names=list(label_names))


def _read_any(path, label_names, skip_bad_lines):
    if os.path.isfile(path):
        return _read_table(path, label_names, skip_bad_lines)
    names = sorted(os.listdir(path))
    line_files = {
        suffix[1:]: os.path.join(path, name)
        for name in names
        for suffix in LINE_FILE_SUFFIXES
        if name.endswith(suffix)
    }
    if set(line_files) == {"pos", "neg"}:
        return read_line_files(
            {"neg": line_files["neg"], "pos": line_files["pos"]}, skip_bad_lines=skip_bad_lines
        )
    if any(os.path.isdir(os.path.join(path, name)) for name in names):
        return read_class_folders(path)
    raise DataFormatError(
        path,
        None,
        "a TSV/CSV file, a folder with *.pos and *.neg line files, or a folder of class folders",
        f"a folder with {names[:5]}",
    )


def _read_table(path, label_names, skip_bad_lines):
    with open(path, "rb") as handle:
        header = handle.readline().decode("utf-8", errors="replace").strip().lower()
    text_column = "text" if "text" in header.replace(",", "\t").split("\t") else "sentence"
    return read_labelled_table(
        path, text_column=text_column, label_column="label", label_names=label_names,
        skip_bad_lines=skip_bad_lines,
    )


def train_dev_split(data, dev_data=None, *, folds=None, fold=0, dev_fraction=0.1, seed=0):
    """`(train, dev)` texts: all of `data` and `dev_data` when given; else with `folds`, fold
    `fold` of `folds` seeded folds as dev (cross-validation); else a seeded `dev_fraction`."""
    from nlpkit.data import split_examples, split_indices

    if dev_data is not None:
        return data, dev_data
    if folds:
        parts = split_indices(len(data), [1 / folds] * folds, seed=seed)
        dev = data.subset(parts.pop(fold))
        return data.subset(np.sort(np.concatenate(parts))), dev
    return split_examples(data, (1 - dev_fraction, dev_fraction), seed=seed)


def fit_tokenizer(kind, texts, vocab_size, max_length):
    """A lower-casing `"word"` or `"wordpiece"` tokenizer whose vocabulary (at most
    `vocab_size` entries) is learned from `texts`; texts are cut to `max_length` ids."""
    from nlpkit.text import WordPieceTokenizer, WordTokenizer

    if kind == "wordpiece":
        tokenizer = WordPieceTokenizer(lowercase=True, max_length=max_length)
        tokenizer.adapt(texts, vocab_size=vocab_size)
    elif kind == "word":
        tokenizer = WordTokenizer(lowercase=True, max_length=max_length)
        tokenizer.adapt(texts, max_size=vocab_size)
    else:
        raise ValueError(f"tokenizer must be 'word' or 'wordpiece'; got {kind!r}.")
    return tokenizer


def load_word_vectors(options, tokenizer, train_texts, seed=0):
    """The pretrained vectors of the tokenizer's vocabulary, or None without `options.path`.

    First, with `options.vocabulary_from_file` N, the words among the N most frequent of the
    file that the vocabulary lacks join it (`nlpkit.text.add_vector_words`: this changes
    `tokenizer`, so call it before tokenizing); their rows are frozen. Then every vocabulary word
    gets its vector (`nlpkit.text.embedding_matrix`), and the coverage counts the tokens of
    `train_texts`.

    Args:
        options: an `nlpkit.cli.WordVectorOptions`.
        tokenizer: the fitted word or WordPiece tokenizer.
        train_texts: the training texts (strings), for the token coverage.
        seed: seed of the random rows of words without a vector.

    Returns:
        An `nlpkit.text.EmbeddingMatrix`, or None.

    Raises:
        DataFormatError: a malformed vectors file, naming file and line.
    """
    from nlpkit.text import vocabulary_vectors

    if options.path is None:
        return None

    def token_id_batches():
        for start in range(0, len(train_texts), 1024):
            yield tokenizer.tokenize(list(train_texts[start : start + 1024])).flat_values.numpy()

    return vocabulary_vectors(options.path, tokenizer, token_id_batches,
                              add_words=options.vocabulary_from_file, seed=seed)


def tokenized_examples(texts, tokenizer, batch_size=1024):
    """An unbatched, cached `tf.data.Dataset` of `(token_ids, label)`, each text its own length.

    Args:
        texts: `LabelledTexts` from a reader.
        tokenizer: an `nlpkit.text` tokenizer with its vocabulary.
        batch_size: strings per tokenizer call.
    """
    import tensorflow as tf

    def tokenize(text, label):
        return tf.cast(tokenizer.tokenize(text), tf.int32), label

    # cached: tokenize once, not once per epoch
    return preprocess_in_batches(texts.to_dataset(), tokenize, batch_size).cache()


def padded_token_ids(texts, tokenizer, batch_size=1024):
    """All texts' token ids as one 0-padded NumPy array `(examples, longest)`."""
    rows = [ids.numpy() for ids, _ in tokenized_examples(texts, tokenizer, batch_size)]
    longest = max(1, max(len(row) for row in rows))
    padded = np.zeros((len(rows), longest), dtype=np.int32)
    for index, row in enumerate(rows):
        padded[index, : len(row)] = row
    return padded



def text_examples(texts):
    """An unbatched `tf.data.Dataset` of `(text, label)`, the text a scalar `tf.string`: the
    examples of a model that reads raw text itself (the `"hub"` encoder). `nlpkit.training.train`
    batches them like token ids (strings need no padding) under any strategy."""
    return texts.to_dataset()


def model_inputs(texts, tokenizer=None):
    """All texts as one input for `model.predict`: 0-padded token ids `(examples, longest)` with
    a tokenizer, else the raw strings `(examples,)` (a NumPy object array) for a model that reads
    text itself."""
    if tokenizer is None:
        return np.asarray(texts.texts, dtype=object)
    return padded_token_ids(texts, tokenizer)
