"""Sequence taggers built from nlpkit's layers: token features in, one tag per token out.

`TaggerOptions` declares every option of the tagger once; the command-line flags
(`nlpkit.cli.add_option_flags`) and the saved run config are generated from it. A tagger is
the BiLSTM-CRF family of Lample et al. (2016) and Ma & Hovy (2016):

    word ids   -> word embedding (random, or pretrained vectors)  \\
    char ids   -> character encoder (CNN + max pooling, or BiLSTM) -> concatenated -> dropout
    casing ids -> casing embedding                                 /
        -> 1..N bidirectional recurrent layers (any nlpkit cell) -> dropout
        -> emission scores -> softmax per token, or a linear-chain CRF (Viterbi decoding)

`build_tagger` returns the model that trains. With the CRF it also takes the gold tags
(input `gold_tags`), because the CRF adds its negative log-likelihood with `add_loss`;
`serving_tagger` gives the model without that input, sharing every weight, which is the one
to export. Every model starts at ids so that tokenization and featurization can live in the
serving graph in front of it (`nlpkit.tasks.tagging.data.TokenFeatures`,
`nlpkit.tasks.tagging.export`).
"""

import dataclasses

import keras
from keras import ops

from nlpkit import layers
from nlpkit.cli import WordVectorOptions, option, positive_int, rate, true_or_false
from nlpkit.layers import token_module
from nlpkit.tasks.tagging.data import (
    CASING_CLASSES,
    CASING_IDS,
    CHAR_IDS,
    GOLD_TAGS,
    TOKENS,
    WORD_IDS,
)

CHARACTER_ENCODERS = ("cnn", "lstm", "none")
DECODERS = ("crf", "softmax")
# How a per-token Hub module's mixed layers join the word features.
HUB_COMBINES = token_module.COMBINES
# The width of randomly initialised word embeddings when `embedding_dim` is None; pretrained
# vectors bring their own.
DEFAULT_EMBEDDING_DIM = 100
CELLS = layers.RECURRENT_LAYERS


@dataclasses.dataclass(frozen=True)
class TaggerOptions:
    """Every option of `build_tagger`; each field is also a command-line flag.

    Attributes:
        embedding_dim: Width of the word embeddings; None: the width of the pretrained
            vectors, or `DEFAULT_EMBEDDING_DIM` without them.
        char_encoder: Character-level word features: `"cnn"` (Ma & Hovy 2016: a convolution
            over each word's character embeddings, max-pooled), `"lstm"` (Lample et al. 2016:
            the final states of a character BiLSTM) or `"none"`.
        char_embedding_dim: Width of the character embeddings.
        char_filters: For `"cnn"`: convolution filters (the feature width).
        char_width: For `"cnn"`: convolution width in characters.
        char_units: For `"lstm"`: units per direction (the feature width is twice this).
        casing: Add an embedding of each word's casing (`data.CASING_CLASSES`: all lower,
            all upper, initial upper, numeric, ...), so that lower-cased word vectors keep the
            capitalisation signal.
        casing_dim: Width of the casing embedding.
        cell: The recurrent cell, one of `CELLS`.
        num_layers: Stacked bidirectional recurrent layers. Flag `--layers`.
        units: Units per direction of each recurrent layer.
        dropout: Dropout rate on the concatenated word features and on the top layer's states.
        recurrent_dropout: Dropout on the recurrent state.
        decoder: `"crf"` (a linear-chain CRF with the tag scheme's allowed transitions,
            Viterbi-decoded) or `"softmax"` (an independent choice per token).
        hub_encoder: the handle of a per-token Hub module (`nlpkit.layers.token_module`, e.g.
            the pretraining recipe's bidirectional language model), or None. It reads the
            sentence's words (its pre-tokenized input), and its layers, mixed by a learned
            `ScalarMix`, join the word features as `hub_combine` says.
        hub_trainable: fine-tune the module's variables (default: frozen; the mix always
            trains).
        hub_combine: `"concat"` (next to the word embedding, ELMo's usual way) or `"replace"`
            (instead of it; the character and casing features stay).
    """

    embedding_dim: int = option(None, type=positive_int,
                                default_text=f"{DEFAULT_EMBEDDING_DIM}, or the width of the "
                                "--embeddings vectors, which it must then equal",
                                help="width of the word embeddings")
    char_encoder: str = option("cnn", choices=CHARACTER_ENCODERS,
                               help="character-level word features: a CNN with max pooling "
                               "(Ma & Hovy 2016), a BiLSTM (Lample et al. 2016) or none")
    char_embedding_dim: int = option(30, type=positive_int,
                                     help="width of the character embeddings")
    char_filters: int = option(30, type=positive_int, help="character CNN filters")
    char_width: int = option(3, type=positive_int, help="character CNN width in characters")
    char_units: int = option(25, type=positive_int,
                             help="character BiLSTM units per direction")
    casing: bool = option(True, help="add an embedding of each word's casing (lower, upper, "
                          "title, numeric, ...)")
    casing_dim: int = option(8, type=positive_int, help="width of the casing embedding")
    cell: str = option("lstm", choices=sorted(CELLS), help="recurrent cell")
    num_layers: int = option(1, flag="--layers", type=positive_int,
                             help="stacked bidirectional recurrent layers")
    units: int = option(100, type=positive_int, help="recurrent units per direction")
    dropout: float = option(0.5, type=rate,
                            help="dropout on the word features and on the recurrent states")
    recurrent_dropout: float = option(0.0, type=rate, help="dropout on the recurrent state")
    decoder: str = option("crf", choices=DECODERS,
                          help="a linear-chain CRF (Viterbi decoding, scheme constraints) or a "
                          "softmax per token")
    hub_encoder: str = option(None, type=str, metavar="HANDLE",
                              default_text="None, i.e. no Hub module",
                              help="a per-token TF Hub module (ELMo's interface, e.g. one written "
                              "by python recipes/pretrain.py export): its layers, mixed by a "
                              "learned ScalarMix, join the word features as --hub-combine says")
    hub_trainable: bool = option(False, type=true_or_false, metavar="{true,false}",
                                 default_text="false",
                                 help="fine-tune the --hub-encoder module's variables, or keep "
                                 "them frozen (the mix trains either way)")
    hub_combine: str = option("concat", choices=HUB_COMBINES,
                              help="the --hub-encoder mix goes next to the word embedding, or "
                              "replaces it")

    def __post_init__(self):
        for name, choices in (("char_encoder", CHARACTER_ENCODERS), ("cell", sorted(CELLS)),
                              ("decoder", DECODERS), ("hub_combine", HUB_COMBINES)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {choices}; got {getattr(self, name)!r}.")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be at least 1; got {self.num_layers}.")
        if self.hub_trainable and self.hub_encoder is None:
            raise ValueError("hub_trainable fine-tunes a Hub module: it needs hub_encoder.")

    @property
    def uses_characters(self):
        return self.char_encoder != "none"


@keras.saving.register_keras_serializable(package="nlpkit.tagging")
class CharacterEncoder(keras.layers.Layer):
    """Character ids of words `(batch, time, chars)` -> one vector per word `(batch, time, d)`.

    Each word's characters are embedded and read by a convolution followed by a max over the
    word's real characters (Ma & Hovy 2016; `d = filters`), or by a bidirectional LSTM whose two
    final states are concatenated (Lample et al. 2016; `d = 2 * units`). Character id 0 is
    padding; an all-padding word (a padded step) gives zeros. Returns no mask: the word ids
    carry the sentence's mask.

    Args:
        vocab_size: number of character ids, padding (0) included.
        kind: `"cnn"` or `"lstm"`.
        embedding_dim: width of the character embeddings.
        filters: for `"cnn"`, the number of filters.
        width: for `"cnn"`, the convolution width.
        units: for `"lstm"`, units per direction.
        dropout: dropout on the character embeddings.
        **kwargs: base `keras.layers.Layer` arguments.
    """

    def __init__(self, vocab_size, kind="cnn", embedding_dim=30, filters=30, width=3, units=25,
                 dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if kind not in ("cnn", "lstm"):
            raise ValueError(f"kind must be 'cnn' or 'lstm'; got {kind!r}.")
        self.vocab_size, self.kind = int(vocab_size), kind
        self.embedding_dim, self.filters, self.width = embedding_dim, filters, width
        self.units, self.dropout = units, dropout
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="char_embedding")
        self.embedding_dropout = keras.layers.Dropout(dropout, name="char_dropout")
        if kind == "cnn":
            self.conv = keras.layers.Conv1D(filters, width, padding="same", name="char_conv")
            self.pool = layers.MaxPooling(name="char_max")
        else:
            self.rnn = keras.layers.Bidirectional(layers.LSTM(units), name="char_bilstm")
        self.output_dim = filters if kind == "cnn" else 2 * units

    def build(self, input_shape):
        self.embedding.build((None, None))
        if self.kind == "cnn":
            self.conv.build((None, None, self.embedding_dim))
        else:
            self.rnn.build((None, None, self.embedding_dim))

    def call(self, char_ids, training=False):
        char_ids = ops.cast(char_ids, "int32")
        shape = ops.shape(char_ids)
        # shape: (batch * time, chars): every word is a sequence of characters.
        words = ops.reshape(char_ids, (-1, shape[2]))
        mask = words > 0
        embedded = self.embedding_dropout(self.embedding(words), training=training)
        if self.kind == "cnn":
            features = self.pool(self.conv(embedded), mask=mask)
        else:
            features = self.rnn(embedded, mask=mask, training=training)
        # shape: (batch, time, output_dim)
        return ops.reshape(features, (shape[0], shape[1], self.output_dim))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.output_dim)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "kind": self.kind,
                "embedding_dim": self.embedding_dim, "filters": self.filters,
                "width": self.width, "units": self.units, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="nlpkit.tagging")
class WordFeatures(keras.layers.Layer):
    """Concatenates per-word features `[(batch, time, d_i), ...]`; the mask is the first's.

    The first input is the word embedding, whose mask says which steps are words. (Keras'
    `Concatenate` would keep a step that any input leaves unmasked, and the character and
    casing features have no mask, so padding would become words.)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return ops.concatenate(inputs, axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[0]

    def compute_output_shape(self, input_shapes):
        widths = [shape[-1] for shape in input_shapes]
        total = None if None in widths else sum(widths)
        return (*input_shapes[0][:-1], total)


@keras.saving.register_keras_serializable(package="nlpkit.tagging")
def padded_tag_crossentropy(labels, probabilities):
    """Per-token cross-entropy of a softmax tagger; labels are tag ids + 1, 0 at padding.

    Returns `(batch, time)` losses, 0 at padding (Keras averages them over the real tokens
    through the output's mask).
    """
    labels = ops.cast(labels, "int32")
    losses = keras.losses.sparse_categorical_crossentropy(
        ops.maximum(labels - 1, 0), probabilities)
    return ops.where(labels > 0, losses, ops.zeros_like(losses))


def scheme_constraints(tag_names, scheme):
    """The CRF's allowed transitions for `scheme` (`"iob2"` or `"bioes"`), as CRF kwargs."""
    if scheme == "bioes":
        return layers.bioes_allowed_transitions(tag_names)
    return layers.iob2_allowed_transitions(tag_names)


def build_tagger(vocab_size, char_vocab_size, tag_names, options=TaggerOptions(), *,
                 scheme="iob2", vectors=None, vector_options=WordVectorOptions(),
                 name="tagger"):
    """Builds the tagger that trains: token features in, tags (CRF) or probabilities out.

    Args:
        vocab_size: number of word ids, padding (0) included.
        char_vocab_size: number of character ids, padding included (unused without a
            character encoder).
        tag_names: the tag of each id (`"O"` first), IOB2 or BIOES names.
        options: a `TaggerOptions`.
        scheme: `"iob2"` or `"bioes"`, the scheme of `tag_names` (the CRF's constraints).
        vectors: optional pretrained word vectors of the vocabulary, an
            `nlpkit.text.EmbeddingMatrix`.
        vector_options: an `nlpkit.cli.WordVectorOptions`: how `vectors` are used.
        name: model name.

    Returns:
        An uncompiled `keras.Model` with a dict of inputs: `word_ids` int32 `(batch, time)`
        (0 = padding), `char_ids` int32 `(batch, time, chars)` with a character encoder,
        `casing_ids` int32 `(batch, time)` with `casing`, and with the CRF `gold_tags` int32
        `(batch, time)`. Its output: the CRF's Viterbi tags int32 `(batch, time)` (its loss
        added by the layer), or the softmax's probabilities float32 `(batch, time, tags)`.

    Example:

    >>> model = build_tagger(5000, 80, ["O", "B-PER", "I-PER"])
    >>> sorted(model.input)
    ['casing_ids', 'char_ids', 'gold_tags', 'word_ids']
    """
    inputs = {WORD_IDS: keras.Input(shape=(None,), dtype="int32", name=WORD_IDS)}
    if vectors is not None:
        word_embedding = layers.PretrainedEmbedding(
            **vector_options.embedding_arguments(vectors, vocab_size, options.embedding_dim),
            name="word_embedding")
    else:
        word_embedding = keras.layers.Embedding(
            vocab_size, options.embedding_dim or DEFAULT_EMBEDDING_DIM, mask_zero=True,
            name="word_embedding")
    features = [word_embedding(inputs[WORD_IDS])]
    if options.hub_encoder is not None:
        inputs[TOKENS] = keras.Input(shape=(None,), dtype="string", name=TOKENS)
        info = token_module.describe_token_module(options.hub_encoder)
        mixed = token_module.mix_token_module(inputs[TOKENS], options.hub_encoder, info,
                                              trainable=options.hub_trainable)
        # The first feature's mask is the sentence's (`WordFeatures`); the mix carries it too.
        features = [mixed] if options.hub_combine == "replace" else features + [mixed]
    if options.uses_characters:
        inputs[CHAR_IDS] = keras.Input(shape=(None, None), dtype="int32", name=CHAR_IDS)
        features.append(CharacterEncoder(
            char_vocab_size, options.char_encoder, options.char_embedding_dim,
            options.char_filters, options.char_width, options.char_units, options.dropout,
            name="character_encoder")(inputs[CHAR_IDS]))
    if options.casing:
        inputs[CASING_IDS] = keras.Input(shape=(None,), dtype="int32", name=CASING_IDS)
        features.append(keras.layers.Embedding(
            len(CASING_CLASSES), options.casing_dim, name="casing_embedding")(inputs[CASING_IDS]))
    states = features[0] if len(features) == 1 else WordFeatures(name="word_features")(features)
    states = keras.layers.Dropout(options.dropout, name="features_dropout")(states)
    for index in range(options.num_layers):
        states = keras.layers.Bidirectional(
            CELLS[options.cell](options.units, return_sequences=True,
                                recurrent_dropout=options.recurrent_dropout,
                                name=f"{options.cell}_{index}"),
            name=f"bidirectional_{options.cell}_{index}")(states)
    states = keras.layers.Dropout(options.dropout, name="states_dropout")(states)
    if options.decoder == "softmax":
        probabilities = keras.layers.Dense(len(tag_names), activation="softmax",
                                           dtype="float32", name="probabilities")(states)
        return keras.Model(inputs, probabilities, name=name)
    emissions = keras.layers.Dense(len(tag_names), dtype="float32", name="emissions")(states)
    inputs[GOLD_TAGS] = keras.Input(shape=(None,), dtype="int32", name=GOLD_TAGS)
    crf = layers.CRF(**scheme_constraints(tag_names, scheme), name="crf")
    return keras.Model(inputs, crf(emissions, tags=inputs[GOLD_TAGS]), name=name)


def uses_crf(model):
    """Whether `model` (from `build_tagger`) is a CRF tagger's training model."""
    return GOLD_TAGS in model.input


def serving_tagger(model):
    """The model without the `gold_tags` input: features in, tag ids `(batch, time)` out.

    For a CRF tagger, the same layers with the CRF called on the emissions alone (Viterbi
    decoding); for a softmax tagger, the most probable tag of each token. Weights are shared
    with `model`, so this is the model to evaluate and export after training.
    """
    inputs = {key: value for key, value in model.input.items() if key != GOLD_TAGS}
    if uses_crf(model):
        tags = model.get_layer("crf")(model.get_layer("emissions").output)
    else:
        tags = ArgMax(name="tags")(model.output)
    return keras.Model(inputs, tags, name=f"{model.name}_serving")


@keras.saving.register_keras_serializable(package="nlpkit.tagging")
class ArgMax(keras.layers.Layer):
    """Probabilities `(batch, time, classes)` -> int32 `(batch, time)`, the argmax; keeps the
    mask."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return ops.cast(ops.argmax(inputs, axis=-1), "int32")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(tuple(inputs.shape[:-1]), dtype="int32")

    def compute_mask(self, inputs, mask=None):
        return mask
