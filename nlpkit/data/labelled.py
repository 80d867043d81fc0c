"""Readers for labelled text classification data (sentiment and the like)."""

import csv
import dataclasses
import os
import pathlib

import numpy as np

from nlpkit.data.errors import DataFormatError
from nlpkit.data.line_reader import LineReader, describe


@dataclasses.dataclass
class LabelledTexts:
    """Texts with one class label each.

    Attributes:
        texts: the texts, in file order.
        labels: int64 array, `labels[i]` indexes `label_names` for `texts[i]`.
        label_names: the class names; the id of a class is its position.
        skipped: bad lines skipped with `skip_bad_lines=True` (0 otherwise).
    """

    texts: list[str]
    labels: np.ndarray
    label_names: list[str]
    skipped: int = 0

    def __len__(self):
        return len(self.texts)

    def subset(self, indices):
        """The examples at `indices`, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return LabelledTexts(
            texts=[self.texts[i] for i in indices],
            labels=self.labels[indices],
            label_names=list(self.label_names),
            skipped=self.skipped,
        )

    def to_dataset(self):
        """A `tf.data.Dataset` of `(text, label)`: scalar tf.string and tf.int64."""
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(
            (np.asarray(self.texts, dtype=object), self.labels)
        )


def _label_index(label_names):
    """`{raw label: id}` for declared `label_names`: each name, and each id written as a number
    (`"0"` is the first name). A name wins over an id that reads the same (`--label-names 1,2,3`
    for star ratings maps `"1"` to id 0)."""
    index = {str(i): i for i in range(len(label_names))}
    index.update({name: i for i, name in enumerate(label_names)})
    return index


def _label_ids(raw_labels, label_names):
    """Maps label strings to ids; label names default to the sorted distinct labels."""
    if label_names is None:
        distinct = set(raw_labels)
        if all(label.lstrip("-").isdigit() for label in distinct):
            label_names = sorted(distinct, key=int)
        else:
            label_names = sorted(distinct)
        index = {name: i for i, name in enumerate(label_names)}
    else:
        index = _label_index(label_names)
    return np.asarray([index[label] for label in raw_labels], dtype=np.int64), list(label_names)


def _check_label(reader, number, label, label_names):
    if label == "":
        reader.bad_line(number, "a label", "an empty label")
        return False
    if label_names is not None and label not in _label_index(label_names):
        reader.bad_line(
            number,
            f"a label in {list(label_names)} or a class id 0..{len(label_names) - 1}",
            describe(label),
        )
        return False
    return True


def read_labelled_table(
    path,
    text_column="sentence",
    label_column="label",
    delimiter=None,
    label_names=None,
    skip_bad_lines=False,
):
    """Reads a TSV or CSV file with a header row, one labelled text per row.

    The format (GLUE SST-2 `train.tsv`)::

        sentence<TAB>label
        hide new secretions from the parental units <TAB>0
        the greatest musicians <TAB>1

    TSV files (`delimiter="\\t"`, the default for names not ending in `.csv`) are split on tabs
    with no quoting, as GLUE writes them (a `"` is an ordinary character). CSV files (`,`,
    the default for `.csv`) follow RFC 4180 quoting via the `csv` module. Every row must have as
    many fields as the header.

    Args:
        path: the file.
        text_column, label_column: header names of the two columns used.
        delimiter: field separator; None chooses by file extension.
        label_names: the class names in id order (e.g. `["negative", "positive"]`); a row's
            label must be one of them or a class id written as a number (`0` is the first
            name; a name that reads like an id wins), anything else is an error naming the
            line. None accepts any non-empty label and orders the distinct labels numerically
            when all are integers, else alphabetically.
        skip_bad_lines: skip malformed rows and count them in `skipped` instead of raising.

    Returns:
        `LabelledTexts`.

    Raises:
        DataFormatError: missing header columns, wrong field count, empty or unknown label,
            undecodable bytes, or no rows at all.
    """
    path = os.fspath(path)
    if delimiter is None:
        delimiter = "," if path.lower().endswith(".csv") else "\t"
    reader = LineReader(path, skip_bad_lines=skip_bad_lines)
    header = None
    texts, raw_labels = [], []
    if delimiter == "\t":
        rows = ((number, line.split("\t")) for number, line in reader)
    else:
        rows = _csv_rows(reader, delimiter)
    for number, fields in rows:
        if header is None:
            header = fields
            missing = [name for name in (text_column, label_column) if name not in header]
            if missing:
                raise DataFormatError(
                    path,
                    number,
                    f"a header naming columns {text_column!r} and {label_column!r}",
                    describe(delimiter.join(fields)),
                )
            text_index, label_index = header.index(text_column), header.index(label_column)
            continue
        if fields in ([], [""]):
            reader.bad_line(
                number,
                f"{len(header)} {_delimiter_name(delimiter)}-separated fields",
                "an empty line",
            )
            continue
        if len(fields) != len(header):
            reader.bad_line(
                number,
                f"{len(header)} {_delimiter_name(delimiter)}-separated fields like the header",
                f"{len(fields)}: {describe(delimiter.join(fields))}",
            )
            continue
        label = fields[label_index].strip()
        if not _check_label(reader, number, label, label_names):
            continue
        texts.append(fields[text_index])
        raw_labels.append(label)
    if header is None:
        reader.finish(0, what="header row")
    reader.finish(len(texts), what="labelled row after the header")
    labels, names = _label_ids(raw_labels, label_names)
    return LabelledTexts(texts, labels, names, skipped=reader.skipped)


def _delimiter_name(delimiter):
    return {"\t": "tab", ",": "comma", ";": "semicolon"}.get(delimiter, repr(delimiter))


def _csv_rows(reader, delimiter):
    """(first line number, fields) per CSV record; a quoted field may span lines."""
    numbers = []

    def lines():
        for number, line in reader:
            numbers.append(number)
            yield line + "\n"

    records = csv.reader(lines(), delimiter=delimiter, strict=True)
    consumed = 0
    while True:
        try:
            fields = next(records)
        except StopIteration:
            return
        except csv.Error as error:
            reader.bad_line(numbers[consumed], "a well-formed CSV record", str(error))
            consumed = len(numbers)
            continue
        first, consumed = numbers[consumed], len(numbers)
        yield first, fields


def read_line_files(files, skip_bad_lines=False):
    """Reads one-file-per-class data: every line of a class's file is one text of that class.

    The format (Movie Review polarity, `rt-polarity.pos` and `rt-polarity.neg`)::

        the rock is destined to be the 21st century's new " conan " ...
        the gorgeously elaborate continuation of " the lord of the rings " ...

    Args:
        files: mapping class name -> file path, in id order, e.g.
            `{"neg": ".../rt-polarity.neg", "pos": ".../rt-polarity.pos"}` gives neg=0, pos=1.
        skip_bad_lines: skip empty or undecodable lines instead of raising.

    Returns:
        `LabelledTexts`, all of the first class's lines first.

    Raises:
        DataFormatError: an empty (or whitespace-only) line, undecodable bytes, or a file with
            no lines.
    """
    if not files:
        raise ValueError("read_line_files() needs at least one class file")
    texts, labels, skipped = [], [], 0
    for label_id, (name, path) in enumerate(files.items()):
        reader = LineReader(path, skip_bad_lines=skip_bad_lines)
        count = 0
        for number, line in reader:
            if not line.strip():
                reader.bad_line(number, f"one {name!r} text per line", "an empty line")
                continue
            texts.append(line)
            labels.append(label_id)
            count += 1
        reader.finish(count, what=f"{name!r} text")
        skipped += reader.skipped
    return LabelledTexts(texts, np.asarray(labels, dtype=np.int64), list(files), skipped=skipped)


def read_class_folders(root, label_names=None, pattern="*.txt"):
    """Reads one-file-per-example data in one folder per class.

    The format (IMDB, `aclImdb/train`)::

        train/
          neg/0_3.txt      "Story of a man who has unnatural feelings for a pig. ..."
          pos/0_9.txt      "Bromwell High is a cartoon comedy. ..."

    Each file (UTF-8) is one text, read whole with its line breaks; files are taken in sorted
    name order so results are reproducible.

    Args:
        root: the folder holding the class folders.
        label_names: class folder names in id order; None takes every subfolder, sorted (for
            IMDB's `train/` pass `["neg", "pos"]`, since it also holds an `unsup` folder).
        pattern: glob for example files inside each class folder.

    Returns:
        `LabelledTexts`.

    Raises:
        DataFormatError: a missing or empty class folder, or a file that is not UTF-8.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DataFormatError(root, None, "a folder of class folders", "no such folder")
    if label_names is None:
        label_names = sorted(child.name for child in root.iterdir() if child.is_dir())
        if not label_names:
            raise DataFormatError(root, None, "at least one class folder", "none")
    texts, labels = [], []
    for label_id, name in enumerate(label_names):
        folder = root / name
        if not folder.is_dir():
            raise DataFormatError(folder, None, f"a folder for class {name!r}", "no such folder")
        files = sorted(folder.glob(pattern))
        if not files:
            raise DataFormatError(folder, None, f"at least one {pattern} file", "none")
        for file in files:
            data = file.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as error:
                line = data.count(b"\n", 0, error.start) + 1
                raise DataFormatError(
                    file, line, "UTF-8 text", f"undecodable bytes {data[error.start : error.end]!r}"
                ) from None
            texts.append(text)
            labels.append(label_id)
    return LabelledTexts(texts, np.asarray(labels, dtype=np.int64), list(label_names))
