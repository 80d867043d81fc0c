"""The one exception nlpkit's readers raise for malformed input files."""

import os


class DataFormatError(ValueError):
    """A data file does not have the format its reader expects.

    The message names the file, the 1-based line number (when the problem is on a line), what
    the reader expected and what it found, e.g.::

        data/train.tsv, line 7: expected 2 tab-separated columns, found 3: 'good\\tfun\\t1'

    Attributes:
        path: the file, as given to the reader.
        line: 1-based line number, or None for whole-file problems (e.g. an empty file).
        expected: what the reader expected.
        found: what it found instead.
    """

    def __init__(self, path, line, expected, found):
        self.path = os.fspath(path) if path is not None else None
        self.line = line
        self.expected = expected
        self.found = found
        where = str(self.path) if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: expected {expected}, found {found}")

    def __reduce__(self):
        # Exceptions pickle their `args`; ours are not the constructor's, so spell them out
        # (multiprocessing workers and tf.data's py_function pass exceptions by pickling).
        return (self.__class__, (self.path, self.line, self.expected, self.found))
