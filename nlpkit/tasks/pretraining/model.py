"""A bidirectional language model in the style of ELMo (Peters et al. 2018), scaled down.

    words -> character ids -> CharacterWordEncoder (char CNN, max over characters, highway,
    projection) -> forward stack:  N x (recurrent layer -> projection) -> shared softmax
                -> backward stack: N x (recurrent layer -> projection) -> shared softmax

The forward stack predicts the next word of the text, the backward stack (reading the text
reversed) the previous one; both share the character-aware input encoder and the softmax over a
capped vocabulary (`UnitVocabulary` of the generation task: the most frequent words, `<unk>`
for the rest, `<eos>` at every line end). Training reads both directions with truncated BPTT,
each carrying its own state (`nlpkit.tasks.generation` streams and stateful layers).

The word's characters come from its UTF-8 bytes (`character_ids`), so any word, seen or not,
has a vector: the softmax is the only place the vocabulary caps.
"""

import dataclasses

import keras
import tensorflow as tf
from keras import ops

from nlpkit import layers
from nlpkit.layers import token_module
from nlpkit.cli import option, positive_int, rate

CELLS = layers.RECURRENT_LAYERS
# Character ids: 0 padding, 1..256 the bytes, then the begin- and end-of-word marks.
BEGIN_OF_WORD, END_OF_WORD = 257, 258
CHARACTER_VOCABULARY_SIZE = 259
FORWARD_IDS, BACKWARD_IDS = "forward_ids", "backward_ids"


def _widths(text):
    return tuple(positive_int(width) for width in str(text).split(","))


@dataclasses.dataclass(frozen=True)
class BiLMOptions:
    """Every option of the bidirectional language model; each field is a command-line flag.

    Attributes:
        max_characters: bytes of a word read (longer words are cut), marks excluded.
        char_embedding_dim: width of the character embeddings.
        char_filters: filters per width of the character CNN.
        char_widths: the character CNN's widths.
        highway_layers: highway layers after the CNN (Kim et al. 2016).
        projection_dim: width of the word vectors and of every layer's projection.
        cell: recurrent cell of both directions.
        num_layers: recurrent layers per direction. Flag `--layers`.
        units: units of each recurrent layer.
        dropout: dropout on the word vectors and on each layer's output.
    """

    max_characters: int = option(20, type=positive_int, help="bytes of a word read")
    char_embedding_dim: int = option(16, type=positive_int, help="character embedding width")
    char_filters: int = option(32, type=positive_int, help="character CNN filters per width")
    char_widths: tuple = option((1, 2, 3), type=_widths, metavar="W,W,...", default_text="1,2,3",
                                help="character CNN widths")
    highway_layers: int = option(1, type=positive_int, help="highway layers after the CNN")
    projection_dim: int = option(64, type=positive_int,
                                 help="width of the word vectors and of each layer's projection")
    cell: str = option("lstm", choices=sorted(CELLS), help="recurrent cell of both directions")
    num_layers: int = option(2, flag="--layers", type=positive_int,
                             help="recurrent layers per direction")
    units: int = option(128, type=positive_int, help="units of each recurrent layer")
    dropout: float = option(0.1, type=rate, help="dropout on word vectors and layer outputs")

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}; got {self.cell!r}.")
        object.__setattr__(self, "char_widths", tuple(self.char_widths))


def character_ids(words, max_characters):
    """String words `(...)` -> int32 character ids `(..., max_characters + 2)`.

    Each word is `BEGIN_OF_WORD`, its first `max_characters` UTF-8 bytes (byte b as id b + 1),
    `END_OF_WORD`, then 0 padding; the empty word (padding) is all zeros. TensorFlow ops only.
    """
    words = tf.convert_to_tensor(words, tf.string)
    # shape: (..., max_characters), zero-padded bytes
    raw = tf.cast(tf.io.decode_raw(words, tf.uint8, fixed_length=max_characters), tf.int32)
    lengths = tf.minimum(tf.strings.length(words), max_characters)
    positions = tf.range(max_characters)
    inside = positions < lengths[..., None]
    byte_ids = tf.where(inside, raw + 1, 0)
    # shape: (..., max_characters + 2): the marks around the bytes
    begin = tf.fill(tf.shape(lengths), BEGIN_OF_WORD)[..., None]
    padded = tf.concat([begin, byte_ids, tf.zeros_like(begin)], axis=-1)
    end_at = tf.one_hot(lengths + 1, max_characters + 2, dtype=tf.int32)
    ids = padded + end_at * END_OF_WORD
    return tf.where((lengths > 0)[..., None], ids, 0)


@keras.saving.register_keras_serializable(package="nlpkit.pretraining")
class CharacterWordEncoder(keras.layers.Layer):
    """Character ids `(batch, time, chars)` -> word vectors `(batch, time, projection_dim)`.

    Kim et al.'s (2016) character-aware word input: character embeddings, a multi-width CNN
    with max pooling over each word's real characters (`MultiWidthConv1D`: padding never wins
    the max), highway layers, and a linear projection. An all-padding word (a padded step)
    gets the same constant vector everywhere: the caller's sequence mask says which steps are
    words.

    Args:
        options: a `BiLMOptions` (or its dict) for the sizes.
        **kwargs: base `keras.layers.Layer` arguments.
    """

    def __init__(self, options, **kwargs):
        super().__init__(**kwargs)
        if isinstance(options, dict):
            options = BiLMOptions(**options)
        self.options = options
        self.embedding = keras.layers.Embedding(CHARACTER_VOCABULARY_SIZE,
                                                options.char_embedding_dim, name="char_embedding")
        self.conv = layers.MultiWidthConv1D(options.char_filters, widths=options.char_widths,
                                            activation="tanh", padding="same", name="char_cnn")
        self.highway = layers.Highway(options.highway_layers, name="highway")
        self.projection = keras.layers.Dense(options.projection_dim, name="projection")

    def build(self, input_shape):
        self.embedding.build((None, None))
        features = self.options.char_filters * len(self.options.char_widths)
        self.conv.build((None, None, self.options.char_embedding_dim))
        self.highway.build((None, features))
        self.projection.build((None, features))

    def call(self, char_ids):
        char_ids = ops.cast(char_ids, "int32")
        shape = ops.shape(char_ids)
        # shape: (batch * time, chars): every word a sequence of characters
        words = ops.reshape(char_ids, (-1, shape[2]))
        features = self.conv(self.embedding(words), mask=words > 0)
        vectors = self.projection(self.highway(features))
        # shape: (batch, time, projection_dim)
        return ops.reshape(vectors, (shape[0], shape[1], self.options.projection_dim))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.options.projection_dim)

    def get_config(self):
        return {**super().get_config(), "options": dataclasses.asdict(self.options)}


@keras.saving.register_keras_serializable(package="nlpkit.pretraining")
class VocabularyCharacters(keras.layers.Layer):
    """Word ids `(batch, time)` -> the character ids of those vocabulary words, from a frozen
    table `(vocab, chars)` computed once by `character_ids` (training reads word ids)."""

    def __init__(self, words, max_characters, **kwargs):
        super().__init__(**kwargs)
        self.words, self.max_characters = list(words), int(max_characters)
        self.table = ops.convert_to_tensor(
            character_ids(tf.constant(self.words), self.max_characters))

    def call(self, word_ids):
        return ops.take(self.table, ops.cast(word_ids, "int32"), axis=0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.max_characters + 2)

    def get_config(self):
        return {**super().get_config(), "words": self.words,
                "max_characters": self.max_characters}


def direction_layers(options, direction, stateful):
    """The recurrent layers and projections of one direction, `[(recurrent, projection), ...]`."""
    return [(CELLS[options.cell](options.units, return_sequences=True, stateful=stateful,
                                 name=f"{direction}_{options.cell}_{index}"),
             keras.layers.Dense(options.projection_dim, name=f"{direction}_projection_{index}"))
            for index in range(options.num_layers)]


def run_direction(vectors, stack, dropout, mask=None, training=None):
    """Word vectors through one direction's stack; returns every layer's projected output."""
    outputs, states = [], vectors
    for recurrent, projection in stack:
        states = projection(recurrent(states, mask=mask, training=training))
        outputs.append(states)
        states = dropout(states, training=training)
    return outputs


def build_bidirectional_lm(words, options=BiLMOptions(), *, batch_size=None, stateful=False,
                           name="bidirectional_lm"):
    """The training model and its two directions, sharing the input encoder and the softmax.

    Args:
        words: the vocabulary's words in id order (`UnitVocabulary.units`), the softmax's
            classes and the words whose characters the word ids stand for.
        options: a `BiLMOptions`.
        batch_size, stateful: as `nlpkit.tasks.generation.build_language_model` (TBPTT).
        name: model name.

    Returns:
        `(model, forward, backward)`: `model` takes `{"forward_ids", "backward_ids"}` int32
        `(batch, time)` (the backward ids are the text reversed) and gives float32 logits
        `(batch, 2 * time, vocab)`: the forward ones, then the backward ones (so a single
        sparse cross-entropy against the two target windows concatenated is the mean of the
        two directions' losses). `forward` and `backward` are the one-direction models
        (ids -> logits `(batch, time, vocab)`) with the same layers, for carried evaluation.

    Example:

    >>> model, forward, backward = build_bidirectional_lm(["[PAD]", "<unk>", "the", "cat"],
    ...                                                   BiLMOptions(units=16))
    """
    encoder = CharacterWordEncoder(options, name="character_word_encoder")
    characters = VocabularyCharacters(words, options.max_characters, name="vocabulary_characters")
    softmax = keras.layers.Dense(len(words), dtype="float32", name="softmax")
    dropout = keras.layers.Dropout(options.dropout, name="dropout")
    directions = {}
    for direction in ("forward", "backward"):
        ids = keras.Input(batch_shape=(batch_size, None), dtype="int32", name=f"{direction}_ids")
        fed = (layers.FixedBatchSize(batch_size, name=f"{direction}_fixed_batch")(ids)
               if stateful else ids)
        vectors = dropout(encoder(characters(fed)))
        top = run_direction(vectors, direction_layers(options, direction, stateful), dropout)[-1]
        directions[direction] = keras.Model(ids, softmax(dropout(top)), name=direction)
    inputs = {FORWARD_IDS: directions["forward"].input, BACKWARD_IDS: directions["backward"].input}
    logits = keras.layers.Concatenate(axis=1, name="both_directions")(
        [directions["forward"].output, directions["backward"].output])
    return keras.Model(inputs, logits, name=name), directions["forward"], directions["backward"]


class BiLMTokenEncoder(keras.layers.Layer):
    """A trained bidirectional LM as a per-token encoder (`export_text_encoder(per_token=True)`):
    `{"tokens", "sequence_len"}` -> `word_emb`, `lstm_outputs1..N`, each
    `(batch, time, 2 * projection_dim)`.

    Each sentence is read from zero states both ways (the backward stack on each row reversed
    within its length); layer k is `[forward_k, backward_k]` at every token, `word_emb` the
    character-aware word vector twice (ELMo's layout, so that every layer has one width).
    """

    def __init__(self, model, options, **kwargs):
        super().__init__(**kwargs)
        self.options = options
        self.encoder = model.get_layer("character_word_encoder")
        self.stacks = {
            direction: [(model.get_layer(f"{direction}_{options.cell}_{index}"),
                         model.get_layer(f"{direction}_projection_{index}"))
                        for index in range(options.num_layers)]
            for direction in ("forward", "backward")}
        self.dropout = model.get_layer("dropout")

    def call(self, features, training=False):
        tokens = features[token_module.TOKENS]
        lengths = tf.cast(features[token_module.SEQUENCE_LENGTH], tf.int32)
        mask = tf.sequence_mask(lengths, tf.shape(tokens)[1])
        # shape: (batch, time, projection_dim)
        vectors = self.encoder(character_ids(tokens, self.options.max_characters))
        forward = run_direction(self.dropout(vectors, training=training), self.stacks["forward"],
                                self.dropout, mask=mask, training=training)
        # shape: (batch, time, projection_dim), each row reversed within its own length
        reversed_vectors = tf.reverse_sequence(vectors, lengths, seq_axis=1, batch_axis=0)
        backward = run_direction(self.dropout(reversed_vectors, training=training),
                                 self.stacks["backward"], self.dropout, mask=mask,
                                 training=training)
        outputs = {token_module.WORD_EMBEDDING: tf.concat([vectors, vectors], axis=-1)}
        for index, (ahead, behind) in enumerate(zip(forward, backward, strict=True), start=1):
            behind = tf.reverse_sequence(behind, lengths, seq_axis=1, batch_axis=0)
            outputs[f"{token_module.LAYER_PREFIX}{index}"] = tf.concat([ahead, behind], axis=-1)
        return outputs
