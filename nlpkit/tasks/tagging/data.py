"""The data side of sequence tagging: read tagged files, convert tag schemes, turn tokens into
the model's inputs, and split raw text into tokens with byte offsets.

- `read_tagged_data`: CoNLL column files (`-DOCSTART-` skipped, the tag column by flag) and
  `token<TAB>tag` files (WNUT, WikiANN), in IOB1, IOB2 or BIOES, read into IOB2
  (`nlpkit.data.read_conll`); `to_scheme` converts to the scheme the model learns.
- `tag_names_of` / `check_known_tags`: the tag vocabulary, and the error naming the file and
  line of a dev tag the training data never had.
- `TokenFeatures`: tokens -> word ids, character ids and casing classes, in the graph, the
  same at training and at serving time.
- `tagged_examples`: sentences -> the cached, unbatched `tf.data.Dataset` that
  `nlpkit.training.train` consumes. Labels are tag ids + 1, 0 at padding.
- `split_words`: raw text -> tokens and their byte offsets in the text as sent, in the graph,
  for the export.
"""

import os

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from nlpkit.data import DataFormatError, read_conll, split_examples
from nlpkit.data.conll import iob2_to_bioes
from nlpkit.text import (
    CharacterTokenizer,
    WordTokenizer,
    replace_invalid_utf8,
    vocabulary_vectors,
)

FILE_SCHEMES = ("iob1", "iob2", "bioes")
MODEL_SCHEMES = ("iob2", "bioes")
UNITS = ("sentences", "documents")
# Word shapes (Reimers & Gurevych 2017); id 0 is padding. The first class that fits wins.
CASING_CLASSES = ("[PAD]", "numeric", "mainly_numeric", "all_lower", "all_upper",
                  "initial_upper", "contains_digit", "other")
# The feature names, which are the tagger's input names; `gold_tags` only for a CRF's training.
WORD_IDS, CHAR_IDS, CASING_IDS, GOLD_TAGS = "word_ids", "char_ids", "casing_ids", "gold_tags"
# The words themselves, padded with "": the input of a per-token Hub module (--hub-encoder).
TOKENS = "tokens"
# How many characters of raw text `max_tokens` tokens may need, as nlpkit's tokenizers cut.
CHARACTERS_PER_TOKEN = 64

# Raw text -> tokens close to CoNLL-2003's (RE2; alternatives are tried in order): abbreviations
# ("U.S."), words and numbers with inner hyphens, dots, commas, slashes or ampersands
# ("1996-08-22", "3.5", "AT&T", "German-born"), a possessive "'s", then any other character on
# its own (punctuation, symbols, emoji).
WORD_PATTERN = (
    r"(?:\p{L}\.){2,}"
    r"|[\p{L}\p{M}\p{N}]+(?:[-.,/:&][\p{L}\p{M}\p{N}]+)*"
    r"|['’][sS]\b"
    r"|\S"
)


def read_tagged_data(path, *, scheme="iob1", tag_column=-1, token_column=0, units="sentences",
                     max_length=None, skip_bad_lines=False):
    """Reads a tagged file into IOB2 `nlpkit.data.TaggedSentences`.

    A file whose first non-blank line holds a tab is read as `token<TAB>...<TAB>tag` (tokens
    may hold spaces); otherwise columns are split at whitespace (CoNLL-2003:
    `token POS chunk NER`). `-DOCSTART-` lines are dropped and end a document.

    Args:
        path: the file.
        scheme: the file's tag scheme: `"iob1"` (CoNLL-2003; IOB2 reads the same), `"iob2"`
            (checked: an `I-X` must follow `B-X` or `I-X`) or `"bioes"` (checked).
        tag_column, token_column: column indices (-1 is the last).
        units: `"sentences"` or `"documents"` (a document's sentences joined).
        max_length: the most tokens per unit; a longer one is an error naming its line.
        skip_bad_lines: skip malformed lines (counted in `skipped`) instead of raising.

    Raises:
        FileNotFoundError: no such file.
        DataFormatError: malformed content, naming the file and line.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    delimiter = None
    with open(path, "rb") as handle:
        for raw in handle:
            if raw.strip():
                delimiter = "\t" if b"\t" in raw else None
                break
    return read_conll(path, tag_column=tag_column, token_column=token_column, scheme=scheme,
                      skip_bad_lines=skip_bad_lines, check_scheme=scheme != "iob1",
                      delimiter=delimiter, max_length=max_length, units=units)


def to_scheme(tag_lists, scheme):
    """IOB2 tag lists in `scheme` (`"iob2"`: unchanged, `"bioes"`: converted)."""
    if scheme not in MODEL_SCHEMES:
        raise ValueError(f"scheme must be one of {MODEL_SCHEMES}; got {scheme!r}.")
    return [iob2_to_bioes(tags) if scheme == "bioes" else list(tags) for tags in tag_lists]


def tag_names_of(tag_lists):
    """The tag vocabulary: `"O"` first (id 0, also the CRF's padding tag), then by entity type
    and prefix."""
    distinct = {tag for tags in tag_lists for tag in tags} - {"O"}
    return ["O"] + sorted(distinct, key=lambda tag: (tag[2:], tag[:1]))


def check_known_tags(data, tag_lists, tag_names):
    """Raises `DataFormatError` naming the file and line of the first tag not in `tag_names`.

    Args:
        data: the `TaggedSentences` the tags were read from (for the path and lines).
        tag_lists: its tags, in the model's scheme.
        tag_names: the training tags.
    """
    known = set(tag_names)
    for sentence, tags in enumerate(tag_lists):
        for index, tag in enumerate(tags):
            if tag not in known:
                raise DataFormatError(data.path, data.line_of(sentence, index),
                                      f"one of the training data's tags ({', '.join(tag_names)})",
                                      repr(tag))


def train_dev_split(data, dev_data=None, *, dev_fraction=0.1, seed=0):
    """`(train, dev)`: `data` and `dev_data` when given, else a seeded `dev_fraction` of it."""
    if dev_data is not None:
        return data, dev_data
    try:
        return split_examples(data, (1 - dev_fraction, dev_fraction), seed=seed)
    except ValueError as error:  # a part would be empty: too little data for the fraction
        raise DataFormatError(
            data.path, None, f"enough sentences for a training set and a dev set of "
            f"--dev-fraction {dev_fraction} (or a --dev-data file)",
            f"{len(data)} sentences ({error})") from None


def casing_ids(tokens):
    """Strings `(n,)` -> int32 `(n,)` casing classes (`CASING_CLASSES`), in the graph."""

    def matches(pattern):
        return tf.strings.regex_full_match(tokens, pattern)

    characters = tf.strings.length(tokens, unit="UTF8_CHAR")
    digits = tf.strings.length(tf.strings.regex_replace(tokens, r"\P{Nd}", ""), unit="UTF8_CHAR")
    # Later assignments win: from the last class that fits to the first.
    ids = tf.fill(tf.shape(tokens), CASING_CLASSES.index("other"))
    for name, fits in (
        ("contains_digit", digits > 0),
        ("initial_upper", matches(r"\p{Lu}.*")),
        ("all_upper", matches(r"\p{Lu}+")),
        ("all_lower", matches(r"\p{Ll}+")),
        ("mainly_numeric", 2 * digits > characters),
        ("numeric", matches(r"\p{Nd}+")),
    ):
        ids = tf.where(fits, CASING_CLASSES.index(name), ids)
    return tf.cast(ids, tf.int32)


class TokenFeatures:
    """Tokens -> the tagger's inputs: word ids, character ids and casing classes, in the graph.

    Training (tokens from a file) and serving (tokens from `split_words` or a client) go
    through the same ops, so a word gets the same ids in both.

    Args:
        words: a `WordTokenizer` with its vocabulary (only its `lookup` is used: invalid
            bytes replaced, NFKC, optional lower-casing, then the vocabulary).
        characters: a `CharacterTokenizer` with its vocabulary, or None for no character ids;
            its `max_length` caps the characters read per word.
        casing: compute `casing_ids`.

    Call arguments:
        tokens: a string `tf.RaggedTensor` `(batch, (time))`.

    Returns:
        A dict of int32 ragged tensors: `word_ids` `(batch, (time))`, `char_ids`
        `(batch, (time), (chars))` and `casing_ids` `(batch, (time))` (the last two if asked),
        and with `tokens` the string words `tokens` `(batch, (time))` (padded with "").
    """

    def __init__(self, words, characters=None, casing=True, tokens=False):
        self.words, self.characters, self.casing = words, characters, bool(casing)
        self.tokens = bool(tokens)

    @classmethod
    def fit(cls, sentences, *, vocab_size=None, lowercase=True, characters=True, casing=True,
            max_word_length=32, tokens=False):
        """Learns the word and character vocabularies from training sentences (token lists).

        Args:
            sentences: lists of tokens.
            vocab_size: most frequent words kept, the 4 reserved ids included (None: all).
            lowercase: look words up lower-cased (characters keep their case).
            characters: learn a character vocabulary.
            casing: compute casing classes.
            max_word_length: characters read per word.
            tokens: also give the words themselves (`tokens`), for a per-token Hub module.
        """
        flat = [token for sentence in sentences for token in sentence]
        words = WordTokenizer(split="whitespace", lowercase=lowercase, name="word_lookup")
        words.adapt(flat, max_size=vocab_size)
        chars = None
        if characters:
            chars = CharacterTokenizer(max_length=max_word_length, name="character_lookup")
            chars.adapt(flat)
        return cls(words, chars, casing, tokens)

    @property
    def word_vocabulary_size(self):
        return self.words.vocabulary_size

    @property
    def char_vocabulary_size(self):
        return self.characters.vocabulary_size if self.characters is not None else 0

    @property
    def layers(self):
        """The tokenizer layers (for an export archive to track their lookup tables)."""
        return [layer for layer in (self.words, self.characters) if layer is not None]

    def __call__(self, tokens):
        flat = replace_invalid_utf8(tokens.flat_values)
        features = {WORD_IDS: tokens.with_flat_values(self.words.lookup(flat))}
        if self.characters is not None:
            # shape: (tokens, (chars)) -> (batch, (time), (chars))
            chars = self.characters.tokenize(flat)
            features[CHAR_IDS] = tf.RaggedTensor.from_row_splits(chars, tokens.row_splits)
        if self.casing:
            features[CASING_IDS] = tokens.with_flat_values(casing_ids(flat))
        if self.tokens:
            features[TOKENS] = tokens.with_flat_values(flat)
        return features

    def dense(self, tokens, time=None):
        """`__call__` padded with 0 to `(batch, time)` (`(batch, time, chars)` for characters);
        `time` None: the longest sentence, at least 1 (a recurrent layer needs a step)."""
        if time is None:
            time = tf.maximum(tokens.bounding_shape(axis=1), 1)
        time = tf.cast(time, tf.int64)
        batch = tokens.nrows(out_type=tf.int64)
        dense = {}
        for name, values in self(tokens).items():
            if values.ragged_rank == 2:
                chars = tf.maximum(tf.cast(values.bounding_shape(axis=2), tf.int64), 1)
                dense[name] = values.to_tensor(0, shape=tf.stack([batch, time, chars]))
            else:
                padding = "" if values.dtype == tf.string else 0
                dense[name] = values.to_tensor(padding, shape=tf.stack([batch, time]))
        return dense

    def get_config(self):
        def serialize(layer):
            return None if layer is None else keras.saving.serialize_keras_object(layer)

        return {"words": serialize(self.words), "characters": serialize(self.characters),
                "casing": self.casing, "tokens": self.tokens}

    @classmethod
    def from_config(cls, config):
        def deserialize(value):
            return None if value is None else keras.saving.deserialize_keras_object(value)

        return cls(deserialize(config["words"]), deserialize(config["characters"]),
                   config["casing"], config.get("tokens", False))


def load_word_vectors(options, features, sentences, seed=0):
    """The pretrained vectors of the word vocabulary, or None without `options.path`.

    With `options.vocabulary_from_file` N, the file's N most frequent words that the vocabulary
    lacks join it first (their rows stay frozen); the coverage counts the training tokens.

    Raises:
        DataFormatError: a malformed vectors file, naming file and line.
    """
    if options.path is None:
        return None
    flat = [token for sentence in sentences for token in sentence]

    def token_id_batches():
        for start in range(0, len(flat), 65536):
            yield features.words.lookup(tf.constant(flat[start : start + 65536])).numpy()

    return vocabulary_vectors(options.path, features.words, token_id_batches,
                              add_words=options.vocabulary_from_file, seed=seed)


def _ragged_tokens(sentences):
    """Token lists -> a string `tf.RaggedTensor` `(sentences, (tokens))`."""
    return tf.ragged.constant([list(sentence) for sentence in sentences], dtype=tf.string,
                              ragged_rank=1)


def tagged_examples(sentences, tag_lists, tag_names, features, *, gold_tags=False,
                    batch_size=1024):
    """An unbatched, cached `tf.data.Dataset` of `(features, labels)`, one per sentence.

    Args:
        sentences: token lists.
        tag_lists: their tags, every tag in `tag_names`.
        tag_names: the tag of each id.
        features: a `TokenFeatures`.
        gold_tags: also put the tag ids among the features as `gold_tags` (a CRF's training
            model takes them).
        batch_size: sentences featurized at once.

    Returns:
        Examples `({"word_ids": (time,), ...}, labels (time,))`, int32, labels = tag id + 1 (so
        that the 0 of padded batches marks padding).

    Raises:
        ValueError: no sentences.
    """
    if not sentences:
        raise ValueError("tagged_examples needs at least one sentence")
    index = {tag: i for i, tag in enumerate(tag_names)}
    parts, labels = [], []
    for start in range(0, len(sentences), batch_size):
        parts.append(features(_ragged_tokens(sentences[start : start + batch_size])))
        labels.append(tf.ragged.constant(
            [[index[tag] + 1 for tag in tags] for tags in tag_lists[start : start + batch_size]],
            dtype=tf.int32, ragged_rank=1))
    merged = {name: tf.concat([part[name] for part in parts], axis=0) for name in parts[0]}
    labels = tf.concat(labels, axis=0)
    if gold_tags:
        merged[GOLD_TAGS] = labels - 1

    def dense(example, label):
        # Sliced ragged rows stay ragged specs, which padded_batch refuses.
        return ({name: value.to_tensor() if isinstance(value, tf.RaggedTensor) else value
                 for name, value in example.items()}, label)

    return tf.data.Dataset.from_tensor_slices((merged, labels)).map(dense).cache()


def predict_tags(model, features, sentences, tag_names, batch_size=256):
    """Tags of `sentences` (token lists) by a serving tagger (`model.serving_tagger`)."""
    predicted = []
    for start in range(0, len(sentences), batch_size):
        chunk = sentences[start : start + batch_size]
        ids = np.asarray(model(features.dense(_ragged_tokens(chunk)), training=False))
        predicted += [[tag_names[i] for i in row[: len(sentence)]]
                      for row, sentence in zip(ids, chunk)]
    return predicted


def split_words(texts, max_tokens):
    """Raw text -> words and their byte offsets in the text as sent, in the graph.

    Invalid UTF-8 is replaced by U+FFFD before splitting (`WORD_PATTERN`, close to CoNLL-2003's
    tokenization), and a text is cut to its first `CHARACTERS_PER_TOKEN * max_tokens`
    characters, then to `max_tokens` words. Offsets are mapped back through the replacement,
    so that `text[start:end]` (bytes of the text as sent) is the word's source, invalid bytes
    and all.

    Args:
        texts: string `(batch,)`.
        max_tokens: the most words kept per text.

    Returns:
        `(words, starts, ends)`: ragged `(batch, (words))`, strings and int64 byte offsets.
    """
    texts = tf.convert_to_tensor(texts, tf.string)
    # shape: (batch, (characters)): code points and the byte offset of each in the input.
    codepoints, input_starts = tf.strings.unicode_decode_with_offsets(
        texts, "UTF-8", errors="replace", replacement_char=0xFFFD)
    cut = codepoints[:, : CHARACTERS_PER_TOKEN * max_tokens]
    clean = tf.strings.unicode_encode(cut, "UTF-8")
    words, begins, ends = tf_text.regex_split_with_offsets(clean, r"\s+|" + WORD_PATTERN,
                                                           WORD_PATTERN)
    words, begins, ends = words[:, :max_tokens], begins[:, :max_tokens], ends[:, :max_tokens]

    # The byte offset of each code point in the clean (re-encoded) text: its UTF-8 widths summed.
    flat = tf.cast(codepoints.flat_values, tf.int64)
    widths = 1 + tf.cast(flat >= 0x80, tf.int64) + tf.cast(flat >= 0x800, tf.int64) + tf.cast(
        flat >= 0x10000, tf.int64)
    total = tf.cumsum(widths, exclusive=True)
    row_base = tf.gather(tf.concat([total, [tf.reduce_sum(widths)]], 0), codepoints.row_starts())
    clean_starts = codepoints.with_flat_values(total - tf.gather(row_base,
                                                                 codepoints.value_rowids()))
    # shape: (batch, characters); padded with the largest int64 so that rows stay sorted.
    clean_table = clean_starts.to_tensor(default_value=np.iinfo(np.int64).max)
    # shape: (batch, characters + 1): one more column per row, the input's byte length.
    lengths = tf.expand_dims(tf.strings.length(texts, unit="BYTE"), 1)
    input_table = tf.concat([input_starts, tf.RaggedTensor.from_tensor(tf.cast(lengths, tf.int64))],
                            axis=1).to_tensor()

    def to_input(offsets):
        # A word boundary is a code point boundary of the clean text (or its end): find that
        # code point, then its offset in the input.
        dense = offsets.to_tensor()
        index = tf.searchsorted(clean_table, dense, side="left")
        mapped = tf.gather(input_table, index, batch_dims=1)
        return tf.RaggedTensor.from_tensor(mapped, lengths=offsets.row_lengths())

    return words, to_input(begins), to_input(ends)
