"""Reader for token-tagged sentences in CoNLL column format (named entities, chunks)."""

import dataclasses
import re

import numpy as np

from nlpkit.data.errors import DataFormatError
from nlpkit.data.line_reader import LineReader, describe

_IOB_TAG = re.compile(r"^(O|[BI]-\S+)$")
DOCSTART = "-DOCSTART-"


@dataclasses.dataclass
class TaggedSentences:
    """Sentences as token lists with one tag per token.

    Attributes:
        tokens: `tokens[i]` is the list of tokens of sentence i.
        tags: `tags[i][j]` is the tag of `tokens[i][j]` (IOB2 after `read_conll`'s conversion).
        skipped: bad lines skipped with `skip_bad_lines=True` (0 otherwise).
    """

    tokens: list[list[str]]
    tags: list[list[str]]
    skipped: int = 0

    def __len__(self):
        return len(self.tokens)

    @property
    def num_tokens(self):
        return sum(len(sentence) for sentence in self.tokens)

    def tag_names(self):
        """The distinct tags: `"O"` first (id 0), then by entity type, `B-` before `I-`."""
        distinct = {tag for sentence in self.tags for tag in sentence}
        others = sorted(distinct - {"O"}, key=lambda tag: (tag[2:], tag[:1]))
        return (["O"] if "O" in distinct else []) + others

    def subset(self, indices):
        """The sentences at `indices`, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        return TaggedSentences(
            tokens=[self.tokens[i] for i in indices],
            tags=[self.tags[i] for i in indices],
            skipped=self.skipped,
        )

    def to_dataset(self, tag_names=None):
        """A `tf.data.Dataset` of `(tokens, tag_ids)`: 1-D tf.string and tf.int64 per sentence.

        Args:
            tag_names: tags in id order; None uses `self.tag_names()`. Pass the training set's
                list when building dev/test datasets so ids agree.
        """
        import tensorflow as tf

        tag_names = self.tag_names() if tag_names is None else list(tag_names)
        index = {tag: i for i, tag in enumerate(tag_names)}
        unknown = {tag for sentence in self.tags for tag in sentence} - set(index)
        if unknown:
            raise ValueError(f"Tags {sorted(unknown)} are not in tag_names {tag_names}")
        tag_ids = [[index[tag] for tag in sentence] for sentence in self.tags]
        return tf.data.Dataset.from_tensor_slices(
            (
                tf.ragged.constant(self.tokens, dtype=tf.string),
                tf.ragged.constant(tag_ids, dtype=tf.int64),
            )
        )


def iob1_to_iob2(tags):
    """Converts one sentence's tags from IOB1 to IOB2 (BIO).

    In IOB1 an entity starts with `I-`, and `B-` appears only where an entity follows another of
    the same type; in IOB2 every entity starts with `B-`. An `I-X` that does not continue an
    entity of type X becomes `B-X`. Valid IOB2 input comes back unchanged.

    >>> iob1_to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    ['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC']
    """
    converted = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and (previous == "O" or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        converted.append(tag)
        previous = tag
    return converted


def read_conll(path, tag_column=-1, token_column=0, scheme="iob1", skip_bad_lines=False):
    """Reads CoNLL column format: one token per line, blank lines between sentences.

    The format (CoNLL-2003 `eng.train`: token, POS tag, chunk tag, NER tag)::

        -DOCSTART- -X- O O

        EU NNP I-NP I-ORG
        rejects VBZ I-VP O
        German JJ I-NP I-MISC
        call NN I-NP O
        . . O O

        Peter NNP I-NP I-PER

    Columns are separated by whitespace; every token line must have as many columns as the
    file's first token line. `-DOCSTART-` lines (document boundaries) are dropped and also end
    a sentence.

    Args:
        path: the file.
        tag_column: index of the tag column (-1, the last, is the NER tag in CoNLL-2003;
            2 would be its chunk tags).
        token_column: index of the token column.
        scheme: tagging scheme of the file: `"iob1"` (CoNLL-2003) is converted to IOB2 (BIO)
            with `iob1_to_iob2`; `"iob2"` is kept as it is. Either way tags must be `O`, `B-X`
            or `I-X`.
        skip_bad_lines: skip malformed lines (the rest of the sentence is kept) and count them
            in `skipped` instead of raising.

    Returns:
        `TaggedSentences` with IOB2 tags.

    Raises:
        DataFormatError: wrong column count, a tag that is not IOB, undecodable bytes, or no
            sentences.
    """
    if scheme not in ("iob1", "iob2"):
        raise ValueError(f"scheme must be 'iob1' or 'iob2', got {scheme!r}")
    reader = LineReader(path, skip_bad_lines=skip_bad_lines)
    sentences, tag_lists = [], []
    tokens, tags = [], []
    num_columns = None

    def end_sentence():
        if tokens:
            sentences.append(list(tokens))
            tag_lists.append(iob1_to_iob2(tags) if scheme == "iob1" else list(tags))
            tokens.clear()
            tags.clear()

    for number, line in reader:
        columns = line.split()
        if not columns:
            end_sentence()
            continue
        if columns[0] == DOCSTART:
            end_sentence()
            continue
        if num_columns is None:
            num_columns = len(columns)
            for index, name in ((tag_column, "tag_column"), (token_column, "token_column")):
                if not -num_columns <= index < num_columns:
                    # A wrong column choice breaks every line, so it is never skipped.
                    raise DataFormatError(
                        reader.path,
                        number,
                        f"a column {index} ({name})",
                        f"{num_columns} column(s): {describe(line)}",
                    )
        if len(columns) != num_columns:
            reader.bad_line(
                number,
                f"{num_columns} whitespace-separated columns like the first token line",
                f"{len(columns)}: {describe(line)}",
            )
            continue
        tag = columns[tag_column]
        if not _IOB_TAG.match(tag):
            reader.bad_line(number, "an IOB tag (O, B-TYPE or I-TYPE)", describe(tag))
            continue
        tokens.append(columns[token_column])
        tags.append(tag)
    end_sentence()
    reader.finish(len(sentences), what="sentence")
    return TaggedSentences(sentences, tag_lists, skipped=reader.skipped)
