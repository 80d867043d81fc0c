"""In-graph tokenizer layers: a batch of raw strings in, token ids out.

The layers are Keras layers built from TensorFlow and TensorFlow Text ops, so the tokenization a
model was trained with is exported inside its SavedModel: a server sends a sentence, not ids, and
needs no nlpkit Python (TensorFlow Serving bundles TF Text). They are preprocessing layers for the
TensorFlow backend; in a JAX or PyTorch setup use them inside `tf.data` pipelines.

Every tokenizer runs the same steps, all inside the graph:

1. invalid UTF-8 bytes are replaced by U+FFFD (so any byte string is safe input), and with a
   `max_length` a text is cut to its first `CHARACTERS_PER_TOKEN * max_length` characters, so a
   huge line costs no more than a normal one (the cut keeps far more text than `max_length`
   tokens need: 64 characters per token);
2. Unicode normalization (`normalization="NFKC"` by default for words, `"NFC"` for characters);
3. splitting into tokens (words, characters or WordPiece subwords), optionally lower-cased;
4. lookup of each token's id (`Vocabulary`: 0 `[PAD]`, 1 `[UNK]`, 2 `[BOS]`, 3 `[EOS]`);
5. truncation to `max_length` ids, `[BOS]`/`[EOS]` if asked for, padding with 0.

Where the vocabulary lives: in the layer config (`get_config()["vocabulary"]`, so `.keras` files
and `from_config` restore it), and in an exported SavedModel as the constants of a
`tf.lookup.StaticHashTable` (or of the FastWordpiece model) captured in the graph, so serving needs
no file next to the model. `Vocabulary.save` writes the same tokens as a plain text file (one per
line) for people and for `WordTokenizer("vocab.txt")`.

Only TensorFlow core ops and these TF Text ops appear in the graph: NormalizeUTF8,
NormalizeUTF8WithOffsetsMap, FindSourceOffsets, UnicodeScriptTokenizeWithOffsets,
TFText>WhitespaceTokenizeWithOffsetsV2, RegexSplitWithOffsets, FastWordpieceTokenizeWithOffsets.
All are registered by tensorflow-text 2.20, the release TensorFlow Serving 2.20 bundles (newer
TF Text ops would fail to load there); tests/text/test_export.py checks every exported graph
against the op lists of `nlpkit.export.serving_contract`.
"""

import collections
import re

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from nlpkit.text.vocabulary import (
    BOS_ID,
    EOS_ID,
    OOV_ID,
    OOV_TOKEN,
    PAD_ID,
    RESERVED_TOKENS,
    Vocabulary,
)

NORMALIZATION_FORMS = ("NFC", "NFKC", "NFD", "NFKD")
# How many characters of a text `max_length` tokens may need: far above the length of real words
# (a word and its space average about 6 in English), low enough that a 10 MB line is cut early.
CHARACTERS_PER_TOKEN = 64
WORD_SPLITS = ("unicode_script", "whitespace")
CHARACTER_UNITS = ("codepoint", "grapheme")

# An approximation of a Unicode extended grapheme cluster in RE2 syntax (RE2 has no \X): CR LF;
# a regional-indicator pair (a flag); or a base character with its combining marks, emoji
# skin-tone modifiers, and zero-width-joiner continuations (family and profession emoji).
GRAPHEME_PATTERN = (
    r"\r\n"
    r"|[\x{1F1E6}-\x{1F1FF}]{2}"
    r"|\P{M}[\p{M}\x{1F3FB}-\x{1F3FF}]*(?:\x{200D}\P{M}[\p{M}\x{1F3FB}-\x{1F3FF}]*)*"
)


def replace_invalid_utf8(texts):
    """Replaces every invalid UTF-8 byte sequence by U+FFFD; valid UTF-8 passes unchanged."""
    return tf.strings.unicode_transcode(
        texts,
        input_encoding="UTF-8",
        output_encoding="UTF-8",
        errors="replace",
        replacement_char=0xFFFD,
    )


def _as_string_batch(texts):
    """A 1-D string tensor from a batch `(batch,)`, a column `(batch, 1)` or a single string."""
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    rank = texts.shape.rank
    if rank == 0:
        return tf.reshape(texts, [1])
    if rank == 2 and texts.shape[1] == 1:
        return tf.squeeze(texts, axis=1)
    if rank != 1:
        raise ValueError(
            f"Tokenizers take a batch of strings of shape (batch,) or (batch, 1), got {texts.shape}"
        )
    return texts


def _to_source_offsets(offsets_map, offsets):
    """Maps byte offsets in normalized text (ragged, one row per string) back to the source.

    TF Text's FindSourceOffsets fails when a row has no offsets (an empty string) and crashes on
    an empty batch, so each row gets one extra offset that is dropped again, and callers keep a
    sentinel string at the end of the batch.
    """
    offsets = tf.cast(offsets, tf.int64)
    extra = tf.RaggedTensor.from_tensor(tf.zeros([offsets.nrows(), 1], tf.int64))
    mapped = tf_text.find_source_offsets(offsets_map, tf.concat([offsets, extra], axis=1))
    return mapped[:, :-1]


def _lower(tokens, lowercase):
    if not lowercase:
        return tokens
    return tf.ragged.map_flat_values(tf.strings.lower, tokens, encoding="utf-8")


def _text_batches(texts, batch_size):
    """A `tf.data.Dataset` of string batches from strings, (text, label) data, or a dataset."""
    if isinstance(texts, tf.data.Dataset):
        dataset = texts
        if isinstance(dataset.element_spec, (tuple, list)):
            dataset = dataset.map(lambda *element: element[0])
        rank = dataset.element_spec.shape.rank
        if rank == 0:
            dataset = dataset.batch(batch_size)
        elif rank == 2:
            dataset = dataset.map(lambda batch: tf.reshape(batch, [-1]))
        return dataset
    texts = [text for text in texts]
    if not texts:
        raise ValueError("adapt() got no texts")
    return tf.data.Dataset.from_tensor_slices(np.asarray(texts, dtype=object)).batch(batch_size)


class _Tokenizer(keras.layers.Layer):
    """Shared machinery of the tokenizer layers; subclasses define how text becomes ids."""

    # Detokenization joins tokens with this.
    _separator = " "

    def __init__(
        self,
        vocabulary=None,
        *,
        normalization="NFKC",
        lowercase=False,
        max_length=None,
        pad_to_max_length=False,
        add_bos=False,
        add_eos=False,
        return_offsets=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if normalization is not None and normalization not in NORMALIZATION_FORMS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATION_FORMS} or None, got {normalization!r}"
            )
        num_marks = int(bool(add_bos)) + int(bool(add_eos))
        if max_length is not None and (int(max_length) != max_length or max_length <= num_marks):
            raise ValueError(
                f"max_length must be an integer above the {num_marks} [BOS]/[EOS] ids, "
                f"got {max_length!r}"
            )
        if pad_to_max_length and max_length is None:
            raise ValueError("pad_to_max_length=True needs a max_length")
        self.normalization = normalization
        self.lowercase = bool(lowercase)
        self.max_length = None if max_length is None else int(max_length)
        self.pad_to_max_length = bool(pad_to_max_length)
        self.add_bos = bool(add_bos)
        self.add_eos = bool(add_eos)
        self.return_offsets = bool(return_offsets)
        # String ops cannot be compiled by XLA.
        self.supports_jit = False
        self._vocabulary = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        self.built = True

    # ----------------------------------------------------------------- vocabulary

    @property
    def vocabulary(self):
        """The `Vocabulary`, or None before `set_vocabulary`/`adapt`."""
        return self._vocabulary

    @property
    def vocabulary_size(self):
        """Number of ids (for `Embedding(input_dim=...)` and output layers)."""
        self._require_vocabulary()
        return len(self._vocabulary)

    def set_vocabulary(self, vocabulary):
        """Sets the vocabulary from a `Vocabulary`, a token list, or a file written by `save`."""
        if isinstance(vocabulary, Vocabulary):
            pass
        elif isinstance(vocabulary, (list, tuple)):
            vocabulary = Vocabulary(vocabulary)
        else:
            vocabulary = Vocabulary.load(vocabulary)
        self._vocabulary = vocabulary
        self._build_lookup(vocabulary)

    def _build_lookup(self, vocabulary):
        # The reserved strings are left out of the table so that "[PAD]" typed by a user is an
        # unknown word rather than padding.
        tokens = vocabulary.tokens[len(RESERVED_TOKENS) :]
        initializer = tf.lookup.KeyValueTensorInitializer(
            keys=tf.constant(tokens, dtype=tf.string),
            values=tf.range(len(RESERVED_TOKENS), len(vocabulary), dtype=tf.int64),
        )
        self._table = tf.lookup.StaticHashTable(initializer, default_value=OOV_ID)

    def _require_vocabulary(self):
        if self._vocabulary is None:
            raise ValueError(
                f"{self.__class__.__name__} {self.name!r} has no vocabulary: pass vocabulary=... "
                "or call adapt(texts) first"
            )

    def count_tokens(self, texts, batch_size=1024):
        """Counts the tokens of `texts` exactly as the graph splits them.

        Args:
            texts: an iterable of strings, a NumPy array, or a `tf.data.Dataset` of strings,
                string batches, or `(text, ...)` tuples (the first component is used).
            batch_size: strings split at once.

        Returns:
            A `collections.Counter` mapping token (str) -> count.
        """

        def split(batch):
            # Cut like `tokenize`, so the vocabulary comes from the text the model will see.
            return self._split(self._normalize(self._cut(replace_invalid_utf8(batch)))).flat_values

        counts = collections.Counter()
        graph_split = None
        for index, batch in enumerate(_text_batches(texts, batch_size)):
            if index == 0:
                # Eager: tracing the TF Text splitters takes about a second, more than a
                # small corpus takes to split.
                tokens = split(batch)
            else:
                if graph_split is None:
                    graph_split = tf.function(
                        split, input_signature=[tf.TensorSpec([None], tf.string)]
                    )
                tokens = graph_split(batch)
            counts.update(tokens.numpy().tolist())
        return collections.Counter(
            {token.decode("utf-8"): count for token, count in counts.items()}
        )

    def adapt(self, texts, max_size=None, min_frequency=1, batch_size=1024):
        """Builds the vocabulary from training texts (see `count_tokens` for what `texts` may be).

        Args:
            max_size: total vocabulary size, the 4 reserved ids included; None keeps all tokens.
            min_frequency: tokens seen fewer times become `[UNK]`.
        """
        counts = self.count_tokens(texts, batch_size=batch_size)
        if not counts:
            raise ValueError("adapt() found no tokens in the texts")
        self.set_vocabulary(
            Vocabulary.from_counts(counts, max_size=max_size, min_frequency=min_frequency)
        )

    # ----------------------------------------------------------------- tokenization

    def _normalize(self, texts):
        if self.normalization is None:
            return texts
        return tf_text.normalize_utf8(texts, self.normalization)

    def _split(self, normalized):
        """Normalized strings (batch,) -> ragged string tokens (batch, (tokens))."""
        raise NotImplementedError

    def _ids(self, normalized):
        """Normalized strings -> ragged int64 ids (batch, (tokens))."""
        return tf.ragged.map_flat_values(self._table.lookup, self._split(normalized))

    def _ids_with_offsets(self, normalized):
        """Like `_ids`, plus ragged start/end byte offsets of each token in `normalized`."""
        raise NotImplementedError

    def _cut(self, texts):
        """Valid UTF-8 `texts` cut to the characters that `max_length` tokens can need."""
        if self.max_length is None:
            return texts
        return tf.strings.substr(
            texts, 0, CHARACTERS_PER_TOKEN * self.max_length, unit="UTF8_CHAR"
        )

    def tokenize(self, texts):
        """Strings -> ragged int32 ids `(batch, (length))`, truncated, with `[BOS]`/`[EOS]`.

        Args:
            texts: strings of shape `(batch,)` or `(batch, 1)`; a single string is a batch of 1.
        """
        self._require_vocabulary()
        texts = self._cut(replace_invalid_utf8(_as_string_batch(texts)))
        ids = self._ids(self._normalize(texts))
        return self._truncate_and_mark(ids)

    def tokenize_with_offsets(self, texts):
        """Strings -> ragged `(ids, starts, ends)`, each int32 `(batch, (length))`.

        `text[start:end]` (bytes) is the source of each token: offsets index the input string,
        after invalid UTF-8 bytes are replaced by the 3-byte U+FFFD (so for valid UTF-8, the
        string as sent). Normalization is undone through TF Text's offset maps. `[BOS]` gets the
        empty span (0, 0) and `[EOS]` (n, n), n being the string's byte length.
        """
        self._require_vocabulary()
        texts = replace_invalid_utf8(_as_string_batch(texts))
        lengths = tf.strings.length(texts)  # [EOS] spans the end of the whole text, cut or not
        texts = self._cut(texts)
        # One sentinel string rides along, see `_to_source_offsets`.
        padded = tf.concat([texts, tf.constant([""])], axis=0)
        if self.normalization is None:
            ids, starts, ends = self._ids_with_offsets(padded)
        else:
            normalized, offsets_map = tf_text.normalize_utf8_with_offsets_map(
                padded, self.normalization
            )
            ids, starts, ends = self._ids_with_offsets(normalized)
            starts = _to_source_offsets(offsets_map, starts)
            ends = _to_source_offsets(offsets_map, ends)
        return self._truncate_and_mark(ids[:-1], starts[:-1], ends[:-1], lengths=lengths)

    def _truncate_and_mark(self, ids, starts=None, ends=None, lengths=None):
        columns = [ids] if starts is None else [ids, starts, ends]
        if self.max_length is not None:
            limit = self.max_length - int(self.add_bos) - int(self.add_eos)
            columns = [column[:, :limit] for column in columns]
        columns = [tf.cast(column, tf.int32) for column in columns]
        num_rows = ids.nrows()

        def mark_column(values):
            return tf.RaggedTensor.from_tensor(tf.reshape(tf.cast(values, tf.int32), [-1, 1]))

        if self.add_bos:
            zeros = tf.zeros([num_rows], tf.int32)
            marks = [tf.fill([num_rows], BOS_ID), zeros, zeros][: len(columns)]
            columns = [tf.concat([mark_column(m), c], axis=1) for m, c in zip(marks, columns)]
        if self.add_eos:
            marks = [tf.fill([num_rows], EOS_ID)]
            if lengths is not None:
                marks += [lengths, lengths]
            columns = [tf.concat([c, mark_column(m)], axis=1) for m, c in zip(marks, columns)]
        return columns[0] if starts is None else tuple(columns)

    def _to_dense(self, ragged):
        if self.pad_to_max_length:
            return ragged.to_tensor(default_value=PAD_ID, shape=[None, self.max_length])
        # At least one column, so a batch of empty strings still feeds an RNN a (masked) step.
        width = tf.maximum(ragged.bounding_shape(axis=1), 1)
        return ragged.to_tensor(default_value=PAD_ID, shape=tf.stack([ragged.nrows(), width]))

    def call(self, inputs):
        if self.return_offsets:
            return tuple(self._to_dense(part) for part in self.tokenize_with_offsets(inputs))
        return self._to_dense(self.tokenize(inputs))

    def compute_output_spec(self, inputs):
        width = self.max_length if self.pad_to_max_length else None
        spec = keras.KerasTensor((inputs.shape[0], width), dtype="int32")
        if self.return_offsets:
            return (
                spec,
                keras.KerasTensor((inputs.shape[0], width), dtype="int32"),
                keras.KerasTensor((inputs.shape[0], width), dtype="int32"),
            )
        return spec

    def compute_output_shape(self, input_shape):
        width = self.max_length if self.pad_to_max_length else None
        shape = (input_shape[0], width)
        return (shape, shape, shape) if self.return_offsets else shape

    # ----------------------------------------------------------------- inverse

    def _join(self, tokens):
        return tf.strings.reduce_join(tokens, axis=1, separator=self._separator)

    def detokenize(self, ids):
        """Ids `(batch, length)` (dense or ragged) -> strings `(batch,)`.

        Stops at the first `[EOS]` (what a decoder generates after it is not output), drops
        `[PAD]` and `[BOS]`, writes `[UNK]` for unknown ids and ids outside the vocabulary.
        Word-level text comes back normalized and space-joined (`"don ' t"` for `"don't"` with
        the default `unicode_script` split), characters are concatenated, WordPiece suffixes are
        glued back onto their word.
        """
        self._require_vocabulary()
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(default_value=PAD_ID)
        ids = tf.cast(tf.convert_to_tensor(ids), tf.int64)
        vocabulary = tf.constant(self._vocabulary.tokens, dtype=tf.string)
        in_range = (ids >= 0) & (ids < len(self._vocabulary))
        tokens = tf.gather(vocabulary, tf.where(in_range, ids, OOV_ID))
        # shape: (batch, length), True up to and excluding the first [EOS]
        before_eos = tf.math.cumsum(tf.cast(tf.equal(ids, EOS_ID), tf.int32), axis=1) == 0
        keep = before_eos & tf.not_equal(ids, PAD_ID) & tf.not_equal(ids, BOS_ID)
        return self._join(tf.ragged.boolean_mask(tokens, keep))

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": None if self._vocabulary is None else self._vocabulary.tokens,
            "normalization": self.normalization,
            "lowercase": self.lowercase,
            "max_length": self.max_length,
            "pad_to_max_length": self.pad_to_max_length,
            "add_bos": self.add_bos,
            "add_eos": self.add_eos,
            "return_offsets": self.return_offsets,
        }


def _word_splitter(split):
    if split == "unicode_script":
        return tf_text.UnicodeScriptTokenizer(keep_whitespace=False)
    if split == "whitespace":
        return tf_text.WhitespaceTokenizer()
    raise ValueError(f"split must be one of {WORD_SPLITS}, got {split!r}")


@keras.saving.register_keras_serializable(package="nlpkit")
class WordTokenizer(_Tokenizer):
    """Strings -> word ids, in the graph (normalize, split, optionally lower-case, look up).

    Args:
        vocabulary: a `Vocabulary`, a token list starting with the reserved tokens, a vocabulary
            file path, or None to `adapt(texts)` later.
        split: `"unicode_script"` (default; TF Text `UnicodeScriptTokenizer`: splits on
            whitespace and where the Unicode script changes, so punctuation and emoji become
            their own tokens and "東京tower" is two words) or `"whitespace"` (TF Text
            `WhitespaceTokenizer`: for pre-tokenized text such as SST-2 or CoNLL).
        normalization: Unicode normalization form applied first, `"NFKC"` (default), `"NFC"`,
            `"NFD"`, `"NFKD"` or None.
        lowercase: lower-case each word (`tf.strings.lower`, UTF-8 aware).
        max_length: most ids per string, `[BOS]`/`[EOS]` included; longer texts keep their
            first `max_length - add_bos - add_eos` words and still end with `[EOS]`. None keeps
            every word.
        pad_to_max_length: pad every batch to exactly `max_length` columns (fixed shapes for
            servers and convolutions); otherwise to the longest string in the batch (at least 1).
        add_bos, add_eos: put `[BOS]` (id 2) first / `[EOS]` (id 3) last.
        return_offsets: `call` also returns the start and end byte offsets of every token.

    Call arguments:
        inputs: string tensor of shape `(batch,)` (from `keras.Input(shape=(), dtype="string")`)
            or `(batch, 1)`. Any bytes are accepted: invalid UTF-8 is replaced by U+FFFD;
            empty and whitespace-only strings give only padding (and `[BOS]`/`[EOS]`).

    Returns:
        int32 ids of shape `(batch, length)`, 0-padded; with `return_offsets=True` a tuple
        `(ids, starts, ends)` of that shape (see `tokenize_with_offsets`).

    Example:

    >>> tokenizer = WordTokenizer(lowercase=True, max_length=64)
    >>> tokenizer.adapt(train_texts, max_size=20000)
    >>> text = keras.Input(shape=(), dtype="string")
    >>> x = keras.layers.Embedding(tokenizer.vocabulary_size, 128, mask_zero=True)(tokenizer(text))
    """

    def __init__(
        self,
        vocabulary=None,
        *,
        split="unicode_script",
        normalization="NFKC",
        lowercase=False,
        max_length=None,
        pad_to_max_length=False,
        add_bos=False,
        add_eos=False,
        return_offsets=False,
        **kwargs,
    ):
        self.split = split
        self._splitter = _word_splitter(split)
        super().__init__(
            vocabulary,
            normalization=normalization,
            lowercase=lowercase,
            max_length=max_length,
            pad_to_max_length=pad_to_max_length,
            add_bos=add_bos,
            add_eos=add_eos,
            return_offsets=return_offsets,
            **kwargs,
        )

    def _split(self, normalized):
        return _lower(self._splitter.tokenize(normalized), self.lowercase)

    def _ids_with_offsets(self, normalized):
        tokens, starts, ends = self._splitter.tokenize_with_offsets(normalized)
        tokens = _lower(tokens, self.lowercase)
        return tf.ragged.map_flat_values(self._table.lookup, tokens), starts, ends

    def words_and_ids(self, texts):
        """Strings -> ragged `(words, ids)`, each `(batch, (words))`: the words `tokenize` looks
        up (invalid bytes replaced, normalized, split, cut to the words `max_length` keeps) as
        they are, not lower-cased, and their int32 ids, which are `tokenize(texts)` without
        `[BOS]`/`[EOS]`. Each text is normalized and split once for both.

        Args:
            texts: strings of shape `(batch,)` or `(batch, 1)`; a single string is a batch of 1.
        """
        self._require_vocabulary()
        texts = self._normalize(self._cut(replace_invalid_utf8(_as_string_batch(texts))))
        words = self._splitter.tokenize(texts)
        if self.max_length is not None:
            words = words[:, : self.max_length - int(self.add_bos) - int(self.add_eos)]
        ids = tf.ragged.map_flat_values(self._table.lookup, _lower(words, self.lowercase))
        return words, tf.cast(ids, tf.int32)

    def lookup(self, tokens):
        """Already-split words -> int32 ids of the same (dense or ragged) shape.

        Applies the layer's invalid-byte replacement, normalization and lower-casing to each
        word, but no splitting, truncation or `[BOS]`/`[EOS]`: for corpora that come tokenized
        (CoNLL), so training ids match what the layer gives for the same words at serving time.
        """
        self._require_vocabulary()

        def one_flat(values):
            values = self._normalize(replace_invalid_utf8(values))
            values = tf.strings.lower(values, encoding="utf-8") if self.lowercase else values
            return tf.cast(self._table.lookup(values), tf.int32)

        if isinstance(tokens, tf.RaggedTensor):
            return tf.ragged.map_flat_values(one_flat, tokens)
        return one_flat(tf.convert_to_tensor(tokens, dtype=tf.string))

    def get_config(self):
        return {**super().get_config(), "split": self.split}


@keras.saving.register_keras_serializable(package="nlpkit")
class WordsAndIds(keras.layers.Layer):
    """Strings `(batch,)` -> `(words, ids)`, both `(batch, length)`: a `WordTokenizer`'s words,
    padded with "", and their ids, padded with 0, one to one. For models that read each word
    twice: by its id (a word embedding) and as a string (a per-token Hub module, a character
    encoder).

    Args:
        tokenizer: a `WordTokenizer` with a vocabulary and without `[BOS]`/`[EOS]` (which have
            no word), or its serialized config.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: string tensor of shape `(batch,)` or `(batch, 1)`.

    Returns:
        `(words, ids)`: string words `(batch, length)` (as `tokenizer.words_and_ids` gives
        them, not lower-cased) and their int32 ids, padded to the longest string of the batch
        (at least one column) or to `max_length` with `pad_to_max_length`.

    Example:

    >>> tokenizer = WordTokenizer(["[PAD]", "[UNK]", "[BOS]", "[EOS]", "the", "cat"])
    >>> words, ids = WordsAndIds(tokenizer)(tf.constant(["the cat", "the"]))
    >>> words.numpy().tolist(), ids.numpy().tolist()
    ([[b'the', b'cat'], [b'the', b'']], [[4, 5], [4, 0]])
    """

    def __init__(self, tokenizer, **kwargs):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if not isinstance(tokenizer, WordTokenizer) or tokenizer.add_bos or tokenizer.add_eos:
            raise ValueError("WordsAndIds needs a WordTokenizer without [BOS]/[EOS] (they have "
                             f"no word); got {tokenizer!r}")
        tokenizer._require_vocabulary()
        self.tokenizer = tokenizer
        self.supports_jit = False  # string ops
        self.built = True

    def call(self, inputs):
        words, ids = self.tokenizer.words_and_ids(inputs)
        if self.tokenizer.pad_to_max_length:
            shape = [None, self.tokenizer.max_length]
        else:
            # At least one column, as `WordTokenizer` pads, so an empty batch still feeds an RNN.
            shape = tf.stack([words.nrows(), tf.maximum(words.bounding_shape(axis=1), 1)])
        return words.to_tensor("", shape=shape), ids.to_tensor(PAD_ID, shape=shape)

    def get_config(self):
        return {**super().get_config(),
                "tokenizer": keras.saving.serialize_keras_object(self.tokenizer)}


@keras.saving.register_keras_serializable(package="nlpkit")
class WordSplitter(keras.layers.Layer):
    """Strings `(batch,)` -> ragged words `(batch, (words))`: `WordTokenizer`'s steps without a
    vocabulary, for models that read the words themselves (a character-aware encoder, a
    per-token Hub module).

    Args:
        split: `"whitespace"` (default; TensorFlow's `tf.strings.split`: runs of ASCII
            whitespace, no TF Text op in the graph) or `"unicode_script"` (as in
            `WordTokenizer`).
        normalization: Unicode normalization form (`"NFKC"`, ...) or None (default: the bytes as
            sent, invalid UTF-8 replaced by U+FFFD).
        lowercase: lower-case each word.
        max_length: most words kept per string (the first ones); None keeps every word.
        **kwargs: base `keras.layers.Layer` arguments.

    Example:

    >>> WordSplitter()(tf.constant(["the cat  sat", ""]))
    <tf.RaggedTensor [[b'the', b'cat', b'sat'], []]>
    """

    def __init__(self, split="whitespace", normalization=None, lowercase=False, max_length=None,
                 **kwargs):
        super().__init__(**kwargs)
        if normalization is not None and normalization not in NORMALIZATION_FORMS:
            raise ValueError(
                f"normalization must be one of {NORMALIZATION_FORMS} or None, got {normalization!r}"
            )
        if max_length is not None and (int(max_length) != max_length or max_length < 1):
            raise ValueError(f"max_length must be a positive integer or None, got {max_length!r}")
        if split not in WORD_SPLITS:
            raise ValueError(f"split must be one of {WORD_SPLITS}, got {split!r}")
        self.split = split
        # Whitespace splitting by TensorFlow's own op, so that a graph of this layer (without
        # normalization) loads where TF Text is not installed or imported.
        self._splitter = None if split == "whitespace" else _word_splitter(split)
        self.normalization = normalization
        self.lowercase = bool(lowercase)
        self.max_length = None if max_length is None else int(max_length)
        # String ops cannot be compiled by XLA.
        self.supports_jit = False
        self.built = True

    def call(self, inputs):
        texts = replace_invalid_utf8(_as_string_batch(inputs))
        if self.max_length is not None:
            texts = tf.strings.substr(texts, 0, CHARACTERS_PER_TOKEN * self.max_length,
                                      unit="UTF8_CHAR")
        if self.normalization is not None:
            texts = tf_text.normalize_utf8(texts, self.normalization)
        if self._splitter is None:
            words = tf.strings.split(texts)
        else:
            words = self._splitter.tokenize(texts)
        words = _lower(words, self.lowercase)
        if self.max_length is not None:
            words = words[:, : self.max_length]
        return words

    def get_config(self):
        return {**super().get_config(), "split": self.split,
                "normalization": self.normalization, "lowercase": self.lowercase,
                "max_length": self.max_length}


@keras.saving.register_keras_serializable(package="nlpkit")
class CharacterTokenizer(_Tokenizer):
    """Strings -> character ids, in the graph (for character language models and features).

    Args:
        vocabulary: as for `WordTokenizer` (the tokens are single characters or graphemes).
        unit: `"codepoint"` (default; one id per Unicode code point, `tf.strings.unicode_split`)
            or `"grapheme"` (user-perceived characters: a letter with its combining accents,
            a flag, an emoji with skin tone or zero-width-joiner sequence stay one token; an
            RE2 approximation of Unicode extended grapheme clusters, `GRAPHEME_PATTERN`).
        normalization: default `"NFC"`, which composes "e" + U+0301 into one code point "é"
            while keeping compatibility characters ("ﬁ", "①") as they are.
        lowercase, max_length, pad_to_max_length, add_bos, add_eos, return_offsets: as for
            `WordTokenizer` (`max_length` counts characters).

    Call arguments:
        inputs: string tensor `(batch,)` or `(batch, 1)`; any bytes are accepted.

    Returns:
        int32 ids `(batch, length)`, 0-padded (or `(ids, starts, ends)` with `return_offsets`).

    Example:

    >>> chars = CharacterTokenizer()
    >>> chars.adapt([open("input.txt").read()])
    >>> chars.detokenize(chars(["to be"]))  # -> [b"to be"]
    """

    _separator = ""

    def __init__(
        self,
        vocabulary=None,
        *,
        unit="codepoint",
        normalization="NFC",
        lowercase=False,
        max_length=None,
        pad_to_max_length=False,
        add_bos=False,
        add_eos=False,
        return_offsets=False,
        **kwargs,
    ):
        if unit not in CHARACTER_UNITS:
            raise ValueError(f"unit must be one of {CHARACTER_UNITS}, got {unit!r}")
        self.unit = unit
        super().__init__(
            vocabulary,
            normalization=normalization,
            lowercase=lowercase,
            max_length=max_length,
            pad_to_max_length=pad_to_max_length,
            add_bos=add_bos,
            add_eos=add_eos,
            return_offsets=return_offsets,
            **kwargs,
        )

    def _split_with_offsets(self, normalized):
        if self.unit == "grapheme":
            return tf_text.regex_split_with_offsets(normalized, GRAPHEME_PATTERN, GRAPHEME_PATTERN)
        chars, starts = tf.strings.unicode_split_with_offsets(normalized, "UTF-8")
        lengths = tf.ragged.map_flat_values(tf.strings.length, chars, unit="BYTE")
        ends = starts + tf.cast(lengths, starts.dtype)
        return chars, starts, ends

    def _split(self, normalized):
        if self.unit == "grapheme":
            chars = tf_text.regex_split(normalized, GRAPHEME_PATTERN, GRAPHEME_PATTERN)
        else:
            chars = tf.strings.unicode_split(normalized, "UTF-8")
        return _lower(chars, self.lowercase)

    def _ids_with_offsets(self, normalized):
        chars, starts, ends = self._split_with_offsets(normalized)
        chars = _lower(chars, self.lowercase)
        return tf.ragged.map_flat_values(self._table.lookup, chars), starts, ends

    def get_config(self):
        return {**super().get_config(), "unit": self.unit}


def learn_wordpiece_vocabulary(word_counts, vocab_size, suffix_indicator="##", **learner_options):
    """Learns a WordPiece vocabulary with TF Text's learner (`wordpiece_tokenizer_learner_lib`).

    Args:
        word_counts: mapping word -> count, e.g. from `WordPieceTokenizer.count_tokens(texts)`
            so that words are split exactly as the graph will split them.
        vocab_size: the target size, reserved tokens included; the learner lands within about
            5% below it (its `slack_ratio`).
        suffix_indicator: marks word-internal pieces (`"##"`: "places" -> "place", "##s").
        **learner_options: passed on to `learn` (e.g. `lower_thresh`, `max_unique_chars`).

    Returns:
        A `Vocabulary`: the reserved tokens, every single character (alone and as a suffix), then
        the learned pieces by decreasing frequency.
    """
    # Imported here: the learner is a training-time tool, not needed to tokenize.
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib

    counts = {word: count for word, count in word_counts.items() if word not in RESERVED_TOKENS}
    if not counts:
        raise ValueError("learn_wordpiece_vocabulary() got no words")
    learner_options.setdefault("lower_thresh", 1)
    tokens = wordpiece_tokenizer_learner_lib.learn(
        counts,
        vocab_size=vocab_size,
        reserved_tokens=list(RESERVED_TOKENS),
        include_joiner_token=True,
        joiner=suffix_indicator,
        **learner_options,
    )
    return Vocabulary(tokens)


@keras.saving.register_keras_serializable(package="nlpkit")
class WordPieceTokenizer(_Tokenizer):
    """Strings -> WordPiece subword ids, in the graph (TF Text `FastWordpieceTokenizer`).

    Words are split as in `WordTokenizer`, then each word is cut into the longest vocabulary
    pieces from the left ("unaffable" -> "un", "##aff", "##able"); a word that cannot be cut
    (a character outside the vocabulary, or longer than `max_bytes_per_word`) becomes `[UNK]`.

    Args:
        vocabulary: a `Vocabulary`/token list/file path, or None to `adapt(texts, vocab_size)`.
        split, normalization, lowercase: word splitting, as for `WordTokenizer`
            (`lowercase` defaults to True here, as in uncased BERT).
        suffix_indicator: prefix of word-internal pieces (`"##"`).
        max_bytes_per_word: longer words become `[UNK]`.
        max_length, pad_to_max_length, add_bos, add_eos, return_offsets: as for
            `WordTokenizer`, counted in pieces.

    Call arguments:
        inputs: string tensor `(batch,)` or `(batch, 1)`; any bytes are accepted.

    Returns:
        int32 ids `(batch, length)`, 0-padded (or `(ids, starts, ends)` with `return_offsets`).

    Example:

    >>> pieces = WordPieceTokenizer(max_length=128, add_bos=True, add_eos=True)
    >>> pieces.adapt(train_texts, vocab_size=8000)
    >>> pieces.detokenize(pieces(["unaffable"]))  # -> [b"unaffable"]
    """

    def __init__(
        self,
        vocabulary=None,
        *,
        split="unicode_script",
        normalization="NFKC",
        lowercase=True,
        suffix_indicator="##",
        max_bytes_per_word=100,
        max_length=None,
        pad_to_max_length=False,
        add_bos=False,
        add_eos=False,
        return_offsets=False,
        **kwargs,
    ):
        self.split = split
        self.suffix_indicator = suffix_indicator
        self.max_bytes_per_word = int(max_bytes_per_word)
        self._splitter = _word_splitter(split)
        super().__init__(
            vocabulary,
            normalization=normalization,
            lowercase=lowercase,
            max_length=max_length,
            pad_to_max_length=pad_to_max_length,
            add_bos=add_bos,
            add_eos=add_eos,
            return_offsets=return_offsets,
            **kwargs,
        )

    def _build_lookup(self, vocabulary):
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocab=vocabulary.tokens,
            suffix_indicator=self.suffix_indicator,
            max_bytes_per_word=self.max_bytes_per_word,
            token_out_type=tf.int64,
            unknown_token=OOV_TOKEN,
            no_pretokenization=True,
        )

    def adapt(self, texts, vocab_size=8000, batch_size=1024, **learner_options):
        """Learns a WordPiece vocabulary of about `vocab_size` ids (reserved included) from texts.

        See `learn_wordpiece_vocabulary` for the learner and its options.
        """
        counts = self.count_tokens(texts, batch_size=batch_size)
        self.set_vocabulary(
            learn_wordpiece_vocabulary(counts, vocab_size, self.suffix_indicator, **learner_options)
        )

    def _split(self, normalized):
        return _lower(self._splitter.tokenize(normalized), self.lowercase)

    @staticmethod
    def _no_reserved(ids):
        # A word spelled like a reserved token ("[PAD]" with whitespace splitting) is unknown.
        return tf.where(ids < len(RESERVED_TOKENS), tf.constant(OOV_ID, tf.int64), ids)

    def _ids(self, normalized):
        # shape: (batch, (words), (pieces)) -> (batch, (pieces))
        ids = self._wordpiece.tokenize(self._split(normalized)).merge_dims(1, 2)
        return tf.ragged.map_flat_values(self._no_reserved, ids)

    def _ids_with_offsets(self, normalized):
        words, word_starts, word_ends = self._splitter.tokenize_with_offsets(normalized)
        words = _lower(words, self.lowercase)
        # shape: (batch, (words), (pieces)); piece offsets are relative to their word
        ids, starts, ends = self._wordpiece.tokenize_with_offsets(words)
        pieces_per_word = ids.values.row_lengths()
        word_start = tf.repeat(word_starts.flat_values, pieces_per_word)
        word_end = tf.repeat(word_ends.flat_values, pieces_per_word)
        # Lower-casing can change a word's byte length (a few rare letters); stay in the word.
        starts = tf.minimum(starts.flat_values + word_start, word_end)
        ends = tf.minimum(ends.flat_values + word_start, word_end)
        ids = ids.merge_dims(1, 2)
        return (
            tf.ragged.map_flat_values(self._no_reserved, ids),
            ids.with_flat_values(starts),
            ids.with_flat_values(ends),
        )

    def _join(self, tokens):
        joined = tf.strings.reduce_join(tokens, axis=1, separator=" ")
        # shape: (batch,); "un ##aff ##able" -> "unaffable"
        return tf.strings.regex_replace(joined, " " + re.escape(self.suffix_indicator), "")

    def get_config(self):
        return {
            **super().get_config(),
            "split": self.split,
            "suffix_indicator": self.suffix_indicator,
            "max_bytes_per_word": self.max_bytes_per_word,
        }
