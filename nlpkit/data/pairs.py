"""Readers for sentence pairs (translation): two-column TSV and line-aligned files."""

import dataclasses

import numpy as np

from nlpkit.data.errors import DataFormatError
from nlpkit.data.line_reader import LineReader, describe


@dataclasses.dataclass
class SentencePairs:
    """Aligned source and target sentences.

    Attributes:
        sources, targets: `targets[i]` translates `sources[i]`.
        skipped: bad lines skipped with `skip_bad_lines=True` (0 otherwise).
    """

    sources: list[str]
    targets: list[str]
    skipped: int = 0

    def __len__(self):
        return len(self.sources)

    def subset(self, indices):
        """The pairs at `indices`, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return SentencePairs(
            sources=[self.sources[i] for i in indices],
            targets=[self.targets[i] for i in indices],
            skipped=self.skipped,
        )

    def to_dataset(self):
        """A `tf.data.Dataset` of `(source, target)` scalar tf.string pairs."""
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices(
            (np.asarray(self.sources, dtype=object), np.asarray(self.targets, dtype=object))
        )


def read_tsv_pairs(path, source_column=0, target_column=1, skip_bad_lines=False):
    """Reads tab-separated sentence pairs, one pair per line, no header.

    The format (Tatoeba / manythings.org `spa.txt`: English, Spanish, and in newer releases a
    third attribution column, which is ignored)::

        Go.<TAB>Ve.
        I'm sorry.<TAB>Lo siento.

    Args:
        path: the file.
        source_column, target_column: which tab-separated fields form the pair.
        skip_bad_lines: skip malformed lines and count them in `skipped` instead of raising.

    Returns:
        `SentencePairs`.

    Raises:
        DataFormatError: a line without enough tab-separated fields (e.g. no tab at all), an
            empty side, undecodable bytes, or no pairs.
    """
    reader = LineReader(path, skip_bad_lines=skip_bad_lines)
    needed = max(source_column, target_column) + 1
    sources, targets = [], []
    for number, line in reader:
        fields = line.split("\t")
        if len(fields) < needed:
            found = "no tab" if len(fields) == 1 else f"{len(fields)} fields"
            reader.bad_line(
                number, f"at least {needed} tab-separated fields", f"{found}: {describe(line)}"
            )
            continue
        source, target = fields[source_column], fields[target_column]
        if not source.strip() or not target.strip():
            reader.bad_line(number, "a non-empty source and target", describe(line))
            continue
        sources.append(source)
        targets.append(target)
    reader.finish(len(sources), what="sentence pair")
    return SentencePairs(sources, targets, skipped=reader.skipped)


def read_parallel_files(source_path, target_path, skip_bad_lines=False):
    """Reads two line-aligned files: line i of the target file translates line i of the source.

    The format (e.g. Europarl `europarl-v7.es-en.en` / `.es`)::

        source.txt                     target.txt
        Resumption of the session      Reanudación del período de sesiones
        I declare resumed the ...      Declaro reanudado el ...

    Args:
        source_path, target_path: the two files; they must have the same number of lines.
        skip_bad_lines: skip line pairs where either side is empty or undecodable (both lines
            of the pair are dropped, keeping the alignment) instead of raising.

    Returns:
        `SentencePairs`.

    Raises:
        DataFormatError: different line counts (naming both), an empty line, undecodable bytes,
            or empty files.
    """
    source_lines = _numbered_lines(source_path)
    target_lines = _numbered_lines(target_path)
    if len(source_lines) != len(target_lines):
        raise DataFormatError(
            target_path,
            None,
            f"as many lines as {source_path} ({len(source_lines)})",
            f"{len(target_lines)} lines",
        )
    reporter = LineReader(source_path, skip_bad_lines=skip_bad_lines)
    sources, targets = [], []
    for number, (source, target) in enumerate(zip(source_lines, target_lines), start=1):
        reporter.lines_read = number
        problem = None
        for side_path, side in ((source_path, source), (target_path, target)):
            if isinstance(side, DataFormatError):
                problem = side
            elif not side.strip():
                problem = DataFormatError(side_path, number, "a sentence", "an empty line")
            if problem is not None:
                break
        if problem is not None:
            if not skip_bad_lines:
                raise problem
            reporter.bad_line(number, problem.expected, f"{problem.found} in {problem.path}")
            continue
        sources.append(source)
        targets.append(target)
    reporter.finish(len(sources), what="sentence pair")
    return SentencePairs(sources, targets, skipped=reporter.skipped)


def _numbered_lines(path):
    """Every line of a file, an undecodable line replaced by its `DataFormatError`."""
    return [text if error is None else error for _, text, error in LineReader(path).decoded_lines()]
