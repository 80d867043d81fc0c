"""Text classification glue shared by recipes: find the data, tokenize it, score predictions.

The sentiment recipe (and any other text classification recipe) reads as a story on top of these:
`read_labelled_data` picks the right reader for a path, `tokenized_examples` turns texts into the
token-id examples `nlpkit.training.train` consumes, and `classification_report` computes the
scores the recipe prints and saves.
"""

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


def read_labelled_data(path, skip_bad_lines=False):
    """Reads labelled texts from `path`, choosing the reader by what `path` is.

    - a `.tsv` / `.csv` file with a header `sentence<TAB>label` (GLUE SST-2) or any table with
      `sentence` (or `text`) and `label` columns;
    - a folder holding `*.pos` and `*.neg` line files (Movie Review: `rt-polarity.pos/.neg`),
      labelled `neg` = 0 and `pos` = 1;
    - a folder of class folders with one text per file (IMDB: `train/pos/*.txt`,
      `train/neg/*.txt`); give the folder that holds `pos/` and `neg/`.

    Raises:
        FileNotFoundError: `path` does not exist.
        DataFormatError: the content is malformed (the message names the file and line).
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file or folder")
    if os.path.isfile(path):
        return _read_table(path, skip_bad_lines)
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


def _read_table(path, skip_bad_lines):
    with open(path, "rb") as handle:
        header = handle.readline().decode("utf-8", errors="replace").strip().lower()
    text_column = "text" if "text" in header.replace(",", "\t").split("\t") else "sentence"
    return read_labelled_table(
        path, text_column=text_column, label_column="label", skip_bad_lines=skip_bad_lines
    )


def add_data_flags(parser):
    """Adds the data and tokenization flags of a classification recipe (group "data and
    tokenization"): the dev set or split (`--dev-data`, `--dev-fraction`, `--split-seed`,
    `--folds`, `--fold`), `--label-names`, `--tokenizer`, `--vocab-size`, `--max-length`.
    Every flag's help states its default; check the parsed values with `check_data_flags`."""
    from nlpkit.cli import positive_int

    data = parser.add_argument_group("data and tokenization")
    data.add_argument("--dev-data", metavar="PATH", help="dev set (default: hold out "
                      "--dev-fraction of --data)")
    data.add_argument("--dev-fraction", type=float, default=0.1,
                      help="share of --data held out as dev set (default: %(default)s)")
    data.add_argument("--split-seed", type=int, default=0,
                      help="seed of the train/dev split or of the folds (default: %(default)s)")
    data.add_argument("--folds", type=positive_int, default=None, metavar="N",
                      help="cross-validation: cut --data into N seeded folds and hold out fold "
                      "--fold as the dev set; run once per fold (default: %(default)s, i.e. "
                      "hold out --dev-fraction)")
    data.add_argument("--fold", type=int, default=0, metavar="K",
                      help="with --folds N: the fold held out, 0..N-1 (default: %(default)s)")
    data.add_argument("--label-names", default="negative,positive",
                      help="comma-separated names of the label ids 0, 1, ... as the export "
                      "answers them (default: %(default)s)")
    data.add_argument("--tokenizer", choices=["word", "wordpiece"], default="word",
                      help="word ids, or WordPiece subword ids so that words unseen in training "
                      "are read from their pieces (default: %(default)s)")
    data.add_argument("--vocab-size", type=positive_int, default=20000,
                      help="most frequent words kept, or WordPiece vocabulary size "
                      "(default: %(default)s)")
    data.add_argument("--max-length", type=positive_int, default=100,
                      help="tokens kept per text; longer texts are cut (default: %(default)s)")
    return data


def check_data_flags(parser, args):
    """Exits through `parser.error` (status 2) when `--folds` / `--fold` do not fit together."""
    if args.folds is not None and not (args.folds >= 2 and 0 <= args.fold < args.folds):
        parser.error(f"--folds must be at least 2 and --fold in 0..folds-1; found --folds "
                     f"{args.folds} --fold {args.fold}")


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


def classification_report(labels, probabilities, label_names):
    """Accuracy, macro F1 and the confusion matrix of predictions (scikit-learn's definitions).

    Args:
        labels: true class ids, `(examples,)`.
        probabilities: predicted probabilities, `(examples, classes)`.
        label_names: class names in id order.

    Returns:
        A JSON-ready dict: `accuracy`, `macro_f1`, `confusion_matrix` (rows = true class,
        columns = predicted class), `label_names`, `examples`.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    labels = np.asarray(labels)
    predictions = np.asarray(probabilities).argmax(axis=-1)
    classes = list(range(len(label_names)))
    return {
        "examples": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, labels=classes, average="macro", zero_division=0)),
        "confusion_matrix": confusion_matrix(labels, predictions, labels=classes).tolist(),
        "label_names": list(label_names),
    }


def format_report(report):
    """The report as the few lines a person reads after training."""
    names = report["label_names"]
    width = max(len(name) for name in names + ["true \\ predicted"])
    lines = [
        f"examples {report['examples']}   accuracy {report['accuracy']:.4f}   "
        f"macro F1 {report['macro_f1']:.4f}",
        "true \\ predicted".ljust(width) + "".join(f"{name:>10}" for name in names),
    ]
    for name, row in zip(names, report["confusion_matrix"]):
        lines.append(name.ljust(width) + "".join(f"{count:>10}" for count in row))
    return "\n".join(lines)
