"""Reader for token-tagged sentences in CoNLL column format (named entities, chunks), and the
conversions between the IOB1, IOB2 (BIO) and BIOES tag schemes."""

import dataclasses
import re

import numpy as np

from nlpkit.data.errors import DataFormatError
from nlpkit.data.line_reader import LineReader, describe

_IOB_TAG = re.compile(r"^(O|[BI]-\S+)$")
_BIOES_TAG = re.compile(r"^(O|[BIES]-\S+)$")
DOCSTART = "-DOCSTART-"
SCHEMES = ("iob1", "iob2", "bioes")
UNITS = ("sentences", "documents")


@dataclasses.dataclass
class TaggedSentences:
    """Sentences as token lists with one tag per token.

    Attributes:
        tokens: `tokens[i]` is the list of tokens of sentence i.
        tags: `tags[i][j]` is the tag of `tokens[i][j]` (IOB2 after `read_conll`'s conversion).
        skipped: bad lines skipped with `skip_bad_lines=True` (0 otherwise).
        lines: optional `lines[i]`, the file line of the first token of sentence i (`read_conll`
            sets it; the tokens of a sentence are on consecutive lines unless lines were
            skipped), so that later checks can name the line of a token; None if unknown.
        path: optional file the sentences were read from, for messages.
    """

    tokens: list[list[str]]
    tags: list[list[str]]
    skipped: int = 0
    lines: list[int] | None = None
    path: str | None = None

    def line_of(self, sentence, token=0):
        """The file line of token `token` of sentence `sentence`, or None if unknown."""
        if self.lines is None:
            return None
        return self.lines[sentence] + token

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
            lines=None if self.lines is None else [self.lines[i] for i in indices],
            path=self.path,
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


def iob2_to_bioes(tags):
    """Converts one sentence's valid IOB2 tags to BIOES (IOBES).

    A one-token entity is `S-X`, a longer one `B-X I-X ... E-X`.

    >>> iob2_to_bioes(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "I-LOC"])
    ['B-PER', 'E-PER', 'O', 'S-LOC', 'B-LOC', 'I-LOC', 'E-LOC']
    """
    converted = []
    for index, tag in enumerate(tags):
        following = tags[index + 1] if index + 1 < len(tags) else "O"
        continues = following == "I-" + tag[2:]
        if tag.startswith("B-"):
            tag = tag if continues else "S-" + tag[2:]
        elif tag.startswith("I-"):
            tag = tag if continues else "E-" + tag[2:]
        converted.append(tag)
    return converted


def bioes_to_iob2(tags):
    """Converts one sentence's BIOES tags to IOB2: `S-X` -> `B-X`, `E-X` -> `I-X`.

    >>> bioes_to_iob2(["B-PER", "E-PER", "O", "S-LOC"])
    ['B-PER', 'I-PER', 'O', 'B-LOC']
    """
    return ["B-" + tag[2:] if tag[:2] == "S-" else "I-" + tag[2:] if tag[:2] == "E-" else tag
            for tag in tags]


def scheme_violation(previous, tag, scheme):
    """Why `tag` may not follow `previous` ("O" at a sentence start) under `scheme` ("iob2" or
    "bioes"), or None when it may. `tag` None asks whether a sentence may end after
    `previous`."""
    inside = previous[:2] in ("B-", "I-")
    if scheme == "iob2":
        if tag is not None and tag.startswith("I-") and (
                not inside or previous[2:] != tag[2:]):
            return f"B-{tag[2:]} or I-{tag[2:]} before {tag} (IOB2)"
        return None
    if tag is None:
        return f"I-{previous[2:]} or E-{previous[2:]} after {previous}" if inside else None
    if inside and tag not in ("I-" + previous[2:], "E-" + previous[2:]):
        return f"I-{previous[2:]} or E-{previous[2:]} after {previous} (BIOES)"
    if not inside and tag[:2] in ("I-", "E-"):
        return f"B-{tag[2:]} before {tag} (BIOES)"
    return None


def read_conll(path, tag_column=-1, token_column=0, scheme="iob1", skip_bad_lines=False, *,
               check_scheme=False, delimiter=None, max_length=None, units="sentences"):
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
            with `iob1_to_iob2`; `"iob2"` is kept as it is; tags must then be `O`, `B-X` or
            `I-X`. `"bioes"` (tags `O`, `B-X`, `I-X`, `E-X`, `S-X`) is converted to IOB2 with
            `bioes_to_iob2`.
        skip_bad_lines: skip malformed lines (the rest of the sentence is kept) and count them
            in `skipped` instead of raising.
        check_scheme: also refuse tags that break the scheme's order (`"iob2"`: an `I-X` not
            after `B-X` or `I-X`; `"bioes"`: the BIOES grammar, also at the sentence's end),
            naming the line. `"iob1"` has no order to break.
        delimiter: the column separator, e.g. `"\t"` for `token<TAB>tag` files whose tokens
            may hold spaces; None splits at any whitespace.
        max_length: if set, a sentence (or document) of more tokens is an error naming the
            line of its first token beyond the limit.
        units: `"sentences"` (blank lines end a sequence) or `"documents"` (only `-DOCSTART-`
            lines do; a document's sentences are converted one by one, then joined).

    Returns:
        `TaggedSentences` with IOB2 tags, the line of each sequence's first token and the path.

    Raises:
        DataFormatError: wrong column count, a tag that is not IOB (or BIOES), a tag out of the
            scheme's order (with `check_scheme`), an over-long sentence, undecodable bytes, or
            no sentences.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if units not in UNITS:
        raise ValueError(f"units must be one of {UNITS}, got {units!r}")
    tag_pattern = _BIOES_TAG if scheme == "bioes" else _IOB_TAG
    to_iob2 = {"iob1": iob1_to_iob2, "iob2": list, "bioes": bioes_to_iob2}[scheme]
    check = check_scheme and scheme != "iob1"
    reader = LineReader(path, skip_bad_lines=skip_bad_lines)
    sentences, tag_lists, first_lines = [], [], []
    tokens, tags = [], []
    # The document being gathered with units="documents": its tokens, IOB2 tags, first line.
    document = {"tokens": [], "tags": [], "line": None}
    num_columns = None
    first_line = None
    last_number = 0

    def add(unit_tokens, unit_tags, line):
        if unit_tokens:
            sentences.append(unit_tokens)
            tag_lists.append(unit_tags)
            first_lines.append(line)

    def end_sentence(number):
        nonlocal first_line
        if tokens and check:
            problem = scheme_violation(tags[-1], None, scheme)
            if problem is not None:
                reader.bad_line(number, problem, "the end of the sentence")
        if tokens:
            if units == "documents":
                document["line"] = document["line"] or first_line
                document["tokens"] += tokens
                document["tags"] += to_iob2(tags)
            else:
                add(list(tokens), to_iob2(tags), first_line)
        tokens.clear()
        tags.clear()
        first_line = None

    def end_document():
        add(document["tokens"], document["tags"], document["line"])
        document.update(tokens=[], tags=[], line=None)

    for number, line in reader:
        last_number = number
        columns = line.split(delimiter) if delimiter else line.split()
        if delimiter and not line.strip():
            columns = []
        if not columns:
            end_sentence(number)
            continue
        if columns[0] == DOCSTART:
            end_sentence(number)
            end_document()
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
        tag = columns[tag_column].strip()
        if not tag_pattern.match(tag):
            expected = ("a BIOES tag (O, B-TYPE, I-TYPE, E-TYPE or S-TYPE)" if scheme == "bioes"
                        else "an IOB tag (O, B-TYPE or I-TYPE)")
            reader.bad_line(number, expected, describe(tag))
            continue
        if check:
            problem = scheme_violation(tags[-1] if tags else "O", tag, scheme)
            if problem is not None:
                reader.bad_line(number, problem, describe(tag))
                continue
        length = len(tokens) + 1 + (len(document["tokens"]) if units == "documents" else 0)
        if max_length is not None and length > max_length:
            # Not skippable: dropping the token would silently cut the sentence.
            raise DataFormatError(
                reader.path, number,
                f"at most {max_length} tokens per {units[:-1]} (the limit)",
                f"token {length}: {describe(columns[token_column])}")
        if first_line is None:
            first_line = number
        tokens.append(columns[token_column])
        tags.append(tag)
    end_sentence(last_number)
    end_document()
    reader.finish(len(sentences), what="sentence")
    return TaggedSentences(sentences, tag_lists, skipped=reader.skipped, lines=first_lines,
                           path=reader.path)
