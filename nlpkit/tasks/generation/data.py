"""Text for language models: unit vocabularies, contiguous splits and streams of BPTT windows.

A language model reads one long text as a sequence of *units*, characters or words:

- `unit="char"`: every Unicode code point is a unit (`"\\n"` too, so the model learns lines).
- `unit="word"`: each line is split at ASCII whitespace (space, tab, `\\r`, `\\v`, `\\f`: what
  `tf.strings.split` splits at, so the exported graph splits alike; a no-break space stays
  inside a word) and ends with the unit `<eos>` (the end-of-sentence word of the Penn Treebank
  language-model lectures). A line is what lies between two `"\\n"`; a text that does not end with
  `"\\n"` still ends its last line with `<eos>`, and an empty line is the single unit `<eos>` (a
  paragraph break the model should learn to predict). The empty text has no units.

Ids come from an `nlpkit.text.Vocabulary`, so 0-3 are `[PAD]`, `[UNK]`, `[BOS]`, `[EOS]`. Words
show two of them by their language-model names: `<unk>` is `[UNK]` (id 1: every word seen fewer
than `min_count` times, or not kept by `max_size`, or unseen) and `<eos>` is `[EOS]` (id 3). A
literal `<unk>` or `<eos>` word in the text (the Penn Treebank files hold `<unk>`) is that id.

Training feeds the ids as `stream_examples`: `(input window, target window)` pairs in the order
that, batched unshuffled, gives `nlpkit.data.stateful_batches`, so a stateful model carries its
state from one batch to the next (truncated backpropagation through time).
"""

import collections
import re

import numpy as np
import tensorflow as tf

# stream_examples is shared with the pretraining task; the generation task re-exports it.
from nlpkit.data import DataFormatError, split_contiguous, stream_examples  # noqa: F401
from nlpkit.text import BOS_ID, EOS_ID, OOV_ID, PAD_ID, RESERVED_TOKENS, Vocabulary

UNITS = ("char", "word")
UNKNOWN_WORD = "<unk>"
END_OF_LINE = "<eos>"
# Decoding an unknown character id gives U+FFFD, the Unicode replacement character: one
# character per id, so decoded text lines up with the ids.
UNKNOWN_CHARACTER = "\ufffd"
# The whitespace `tf.strings.split` splits at (`\n` ends lines before words are split).
_WORD_SEPARATORS = re.compile(r"[ \t\r\v\f]+")


def text_lines(text):
    """The lines of `text` as a word language model reads them: the pieces between `"\\n"`s,
    without the empty piece after a final `"\\n"` (so `""` has no lines and `"\\n"` one empty
    line)."""
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def text_words(text):
    """The word units of `text`: each line's whitespace-split words, then `<eos>`."""
    words = []
    for line in text_lines(text):
        words.extend(word for word in _WORD_SEPARATORS.split(line) if word)
        words.append(END_OF_LINE)
    return words


class UnitVocabulary:
    """The units (characters or words) of a language model and their ids.

    Build it with `UnitVocabulary.fit(text, unit)` from the training text, save it with
    `get_config` (JSON-ready) and rebuild it with `from_config`. See the module docstring for
    what a unit is.

    Args:
        vocabulary: an `nlpkit.text.Vocabulary` of the units (`"[UNK]"` and `"[EOS]"` stand for
            `<unk>` and `<eos>`).
        unit: `"char"` or `"word"`.

    Example:

    >>> vocab = UnitVocabulary.fit("the cat\\nthe dog\\n", unit="word", min_count=2)
    >>> vocab.units
    ['[PAD]', '<unk>', '[BOS]', '<eos>', 'the']
    >>> vocab.encode("the cow\\n").tolist()
    [4, 1, 3]
    >>> vocab.decode([4, 1, 3])
    'the <unk>\\n'
    """

    def __init__(self, vocabulary, unit):
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}; got {unit!r}.")
        self.vocabulary = vocabulary
        self.unit = unit
        self._lookup_table = None

    @classmethod
    def fit(cls, text, unit="char", min_count=1, max_size=None):
        """The vocabulary of the units of `text`, most frequent first (ties alphabetically).

        Args:
            text: the training text, a `str`.
            unit: `"char"` (Unicode code points) or `"word"` (see the module docstring).
            min_count: units seen fewer times are left out (they become `[UNK]` / `<unk>`).
            max_size: the largest number of ids, the 4 reserved ones included (the model's
                `vocab_size`); None keeps every unit seen `min_count` times.

        Returns:
            A `UnitVocabulary`.
        """
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}; got {unit!r}.")
        units = list(text) if unit == "char" else text_words(text)
        counts = collections.Counter(units)
        if unit == "word":
            # The <unk> and <eos> words name reserved ids; they are not vocabulary entries.
            counts.pop(UNKNOWN_WORD, None)
            counts.pop(END_OF_LINE, None)
        return cls(Vocabulary.from_counts(counts, max_size=max_size, min_frequency=min_count),
                   unit)

    def __len__(self):
        return len(self.vocabulary)

    @property
    def units(self):
        """Every unit in id order as it is displayed (words: `<unk>` and `<eos>` for ids 1, 3)."""
        units = self.vocabulary.tokens
        if self.unit == "word":
            units[OOV_ID], units[EOS_ID] = UNKNOWN_WORD, END_OF_LINE
        return units

    def get_config(self):
        """`{"unit": ..., "tokens": [...]}`, JSON-ready; `from_config` rebuilds the vocabulary."""
        return {"unit": self.unit, "tokens": self.vocabulary.tokens}

    @classmethod
    def from_config(cls, config):
        return cls(Vocabulary(config["tokens"]), config["unit"])

    def _unit_id(self, unit):
        if self.unit == "word" and unit == END_OF_LINE:
            return EOS_ID
        return self.vocabulary.token_to_id(unit)

    def encode(self, text):
        """The ids of the units of the whole `text`.

        Returns:
            int32 array of shape `(units,)`; unseen units are `[UNK]` (1).
        """
        units = list(text) if self.unit == "char" else text_words(text)
        return np.asarray([self._unit_id(unit) for unit in units], dtype=np.int32)

    def decode(self, ids):
        """The text of `ids`: characters joined, or words joined by spaces with `<eos>` as a
        line break. `[PAD]` and `[BOS]` (and `[EOS]` for characters) give nothing, `[UNK]` gives
        U+FFFD for characters and `<unk>` for words.

        Args:
            ids: a sequence of ints, shape `(units,)`.

        Returns:
            A `str`.
        """
        skipped = {PAD_ID, BOS_ID}
        if self.unit == "char":
            skipped.add(EOS_ID)
            return "".join(UNKNOWN_CHARACTER if int(unit_id) == OOV_ID
                           else self.vocabulary.id_to_token(unit_id)
                           for unit_id in ids if int(unit_id) not in skipped)
        units = self.units
        lines, words = [], []
        for unit_id in ids:
            unit_id = int(unit_id)
            if unit_id == EOS_ID:
                lines.append(" ".join(words) + "\n")
                words = []
            elif unit_id not in skipped:
                words.append(units[unit_id] if 0 <= unit_id < len(units) else UNKNOWN_WORD)
        return "".join(lines) + " ".join(words)

    def lookup_table(self):
        """A `tf.lookup.StaticHashTable` from unit strings to int32 ids, default `[UNK]`.

        Created once, outside any `tf.function` being traced (`tf.init_scope`), so an export
        that tracks it saves one table.
        """
        if self._lookup_table is None:
            tokens = self.vocabulary.tokens
            keys = tokens[len(RESERVED_TOKENS):]
            values = list(range(len(RESERVED_TOKENS), len(tokens)))
            if self.unit == "word":
                keys, values = keys + [UNKNOWN_WORD, END_OF_LINE], values + [OOV_ID, EOS_ID]
            with tf.init_scope():
                self._lookup_table = tf.lookup.StaticHashTable(
                    tf.lookup.KeyValueTensorInitializer(
                        tf.constant(keys, dtype=tf.string), tf.constant(values, dtype=tf.int32)),
                    default_value=OOV_ID)
        return self._lookup_table

    def encode_tensor(self, strings):
        """`encode` in the TensorFlow graph, for a batch of texts (an export's input).

        Args:
            strings: string tensor of shape `(batch,)`, UTF-8 texts (invalid bytes become
                U+FFFD, an unknown character).

        Returns:
            int32 `tf.RaggedTensor` of shape `(batch, None)`: row i is `encode(strings[i])`.
        """
        strings = tf.convert_to_tensor(strings, dtype=tf.string)
        table = self.lookup_table()
        if self.unit == "char":
            # shape: (batch, None): one string per code point.
            return tf.ragged.map_flat_values(table.lookup, tf.strings.unicode_split(
                strings, "UTF-8"))
        # shape: (batch, None pieces): the pieces between "\n"s.
        pieces = tf.strings.split(strings, "\n")
        # A final empty piece follows a final "\n" (or is the empty text): not a line.
        positions = tf.range(tf.size(pieces.flat_values, out_type=tf.int64))
        last_of_row = tf.gather(pieces.row_limits() - 1, pieces.value_rowids())
        kept = ~((positions == last_of_row) & (pieces.flat_values == ""))
        # shape: (batch, None lines)
        lines = tf.ragged.boolean_mask(pieces, tf.RaggedTensor.from_row_splits(
            kept, pieces.row_splits))
        # shape: (batch, None lines, None words)
        word_ids = tf.ragged.map_flat_values(table.lookup, tf.strings.split(lines))
        # shape: (batch, None lines, 1): the <eos> that ends every line.
        line_ends = tf.expand_dims(tf.fill(tf.shape(lines.flat_values), EOS_ID), -1)
        line_ends = lines.with_flat_values(line_ends)
        # shape: (batch, None units)
        return tf.concat([word_ids, line_ends], axis=2).merge_dims(1, 2)


def train_validation_text(text, val_fraction=0.1):
    """Cuts `text` into `(train, validation)`, the validation text being its last
    `val_fraction` (a contiguous split: a random one would leak neighbouring context).

    Raises:
        ValueError: `val_fraction` not strictly between 0 and 1, or a part would be empty.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive); got {val_fraction}.")
    train, validation = split_contiguous(text, (1 - val_fraction, val_fraction))
    return train, validation


def require_one_window_per_stream(path, parts, batch_size, bptt, unit):
    """Raises `DataFormatError` naming `path` when a part of its text is too short for
    `batch_size` streams of one `bptt`-unit window each (plus the one-unit shift of the targets).

    Args:
        path: the file the text came from, for the message.
        parts: `{what: ids}`, e.g. `{"training text": train_ids, "validation text": val_ids}`.
        batch_size: streams (the batch size of training).
        bptt: units per window.
        unit: what a unit is called in the message (`"char"`, `"word"`).
    """
    needed = batch_size * (bptt + 1)
    for what, ids in parts.items():
        if len(ids) < needed:
            raise DataFormatError(path, None, f"at least {needed} {unit}s in the {what} "
                                  f"(--batch-size {batch_size} streams of --bptt {bptt} + 1)",
                                  f"{len(ids)}")
