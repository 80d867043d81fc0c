"""Line-by-line reading of UTF-8 text files with precise errors and an opt-in skip mode."""

import logging
import os

from nlpkit.data.errors import DataFormatError

logger = logging.getLogger("nlpkit.data")

_UTF8_BOM = b"\xef\xbb\xbf"


def describe(value, limit=60):
    """A short repr of a found value for error messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class LineReader:
    """Yields the decoded lines of one file and applies the reader's bad-line policy.

    Lines end at `\\n`; a trailing `\\r` (Windows files) and a UTF-8 byte-order mark at the start
    of the file are removed. Each line is decoded as strict UTF-8, so an undecodable byte is
    reported with its line number rather than silently replaced.

    Args:
        path: the file to read.
        skip_bad_lines: False (default) raises `DataFormatError` at the first bad line; True
            skips bad lines, counts them in `skipped`, and logs one warning when `finish()` runs.

    Example:

    >>> reader = LineReader("train.tsv")
    >>> for number, line in reader:
    ...     if "\\t" not in line:
    ...         reader.bad_line(number, "a tab", describe(line))
    ...         continue
    """

    def __init__(self, path, skip_bad_lines=False):
        self.path = os.fspath(path)
        self.skip_bad_lines = skip_bad_lines
        self.skipped = 0
        self.lines_read = 0
        self._first_problem = None

    def __iter__(self):
        """(line number, text) for each decodable line; undecodable ones go to `bad_line`."""
        for number, text, error in self.decoded_lines():
            if error is not None:
                self.bad_line(number, error.expected, error.found)
                continue
            yield number, text

    def decoded_lines(self):
        """(line number, text, None), or (line number, None, DataFormatError) for a line that
        is not UTF-8; for readers that must keep line positions (aligned files)."""
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                self.lines_read = number
                if number == 1 and raw.startswith(_UTF8_BOM):
                    raw = raw[len(_UTF8_BOM) :]
                if raw.endswith(b"\n"):
                    raw = raw[:-1]
                if raw.endswith(b"\r"):
                    raw = raw[:-1]
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    found = (
                        f"undecodable bytes {raw[error.start : error.end]!r} "
                        f"at byte {error.start} of the line"
                    )
                    yield number, None, DataFormatError(self.path, number, "UTF-8 text", found)
                    continue
                yield number, text, None

    def bad_line(self, line, expected, found):
        """Raises `DataFormatError`, or counts the line as skipped in skip mode."""
        if not self.skip_bad_lines:
            raise DataFormatError(self.path, line, expected, found)
        self.skipped += 1
        if self._first_problem is None:
            self._first_problem = DataFormatError(self.path, line, expected, found)

    def finish(self, num_examples, what="example"):
        """Checks that something was read and reports skipped lines; call after iterating.

        Raises:
            DataFormatError: no `what` was read (an empty file is an error, never a silent
                zero-length dataset).
        """
        if self.skipped:
            logger.warning(
                "%s: skipped %d bad line(s); the first: %s",
                self.path,
                self.skipped,
                self._first_problem,
            )
        if num_examples == 0:
            if self.lines_read == 0:
                found = "an empty file"
            else:
                found = f"none in {self.lines_read} line(s)"
                if self.skipped:
                    found += f" ({self.skipped} bad line(s) skipped)"
            raise DataFormatError(self.path, None, f"at least one {what}", found)
