"""Text classifiers built from nlpkit's layers: token ids in, class probabilities out.

`ClassifierOptions` declares every option of the models the classification recipes offer, once:
a bag-of-words baseline, a bag of embeddings, Kim's (2014) multi-width CNN, and recurrent encoders
with any nlpkit cell, bidirectional or not, one or more layers deep, with a pooling aggregator on
top. The command-line flags (`nlpkit.cli.add_option_flags`), `--member` overrides and the saved run
config are generated from it. A classifier is four stages, each a function here, which
`build_classifier` chains:

    token ids -> embed -> encode -> pool -> classify -> probabilities

The model takes padded token ids (0 = padding) so that the tokenizer can live in the serving
graph in front of it (see `nlpkit.tasks.classification.export`). With pretrained word vectors
(an `nlpkit.text.EmbeddingMatrix`, used as `nlpkit.cli.WordVectorOptions` says), the embed stage
is an `nlpkit.layers.PretrainedEmbedding` that holds them.

The `"hub"` encoder is a TensorFlow Hub text-embedding module (strings in, one vector out, like
`nnlm-en-dim50`), as in TensorFlow's "text classification with TF Hub" tutorial; the module
tokenizes, embeds and pools by itself, so that model takes the raw text:

    text -> hub_encode -> classify -> probabilities

A per-token module (ELMo's interface, `nlpkit.layers.token_module`) gives a vector per word
instead: a learned `ScalarMix` of its layers replaces the word embeddings in front of the
recurrent encoder, or (`hub_combine="concat"`) joins the classifier's own word embedding of the
same words, split by the recipe's `WordTokenizer` inside the model (`nlpkit.text.WordsAndIds`):

    text -> (words, ids) -> [module mix ; embed] -> encode -> pool -> classify -> probabilities

`sentence_encoder` cuts any of these classifiers back to the part before `classify` (text or token
ids -> the encoded vector), which `nlpkit.export.export_text_encoder` writes as a Hub module.
"""

import dataclasses

import keras

from nlpkit import layers
from nlpkit.layers import token_module
from nlpkit.cli import (
    WordVectorOptions,
    option,
    positive_float,
    positive_int,
    rate,
    true_or_false,
)

ENCODERS = ("bow", "boe", "cnn", "rnn", "hub")
# The layers `classify` adds, found by name (see `sentence_encoder`).
ENCODED_DROPOUT_NAME = "encoded_dropout"
OUTPUT_LAYER_NAME = "probabilities"
HUB_LAYER_NAME = "hub_encoder"
# The options a `"hub"` classifier uses: the module replaces tokenizer, embedding and encoder.
HUB_OPTIONS = ("encoder", "dropout", "max_norm", "hub_encoder", "hub_trainable")
# What a per-token module (ELMo's interface) also uses: its mixed layers replace the word
# embeddings in front of the recurrent encoder and pooling...
TOKEN_HUB_OPTIONS = HUB_OPTIONS + ("cell", "bidirectional", "num_layers", "pooling", "units",
                                   "recurrent_dropout", "hub_combine")
# ... or go next to them (hub_combine="concat"), whose options then apply too.
TOKEN_HUB_CONCAT_OPTIONS = TOKEN_HUB_OPTIONS + ("embedding_dim", "embedding_dropout",
                                                "embedding_dropout_unit")
HUB_COMBINES = token_module.COMBINES
# The width of randomly initialised word embeddings when `embedding_dim` is None; pretrained
# vectors bring their own.
DEFAULT_EMBEDDING_DIM = 128

CELLS = layers.RECURRENT_LAYERS

# What one dropout draw removes from the embedded text `(batch, time, dim)`: single values, whole
# word vectors (word dropout, Iyyer et al. 2015), or whole dimensions across the text (spatial
# dropout). `None` in a noise shape means "a separate draw along this axis".
EMBEDDING_DROPOUT_UNITS = {
    "value": None,
    "word": (None, None, 1),
    "dimension": (None, 1, None),
}

POOLINGS = {
    "last": None,  # the top recurrent layer's own final state (forward and backward halves)
    "mean": layers.MeanPooling,
    "max": layers.MaxPooling,
    "sum": layers.SumPooling,
    "mean_max": lambda **kwargs: layers.ConcatPooling(("mean", "max"), **kwargs),
}


def _widths(text):
    return tuple(positive_int(width) for width in text.split(","))


@dataclasses.dataclass(frozen=True)
class ClassifierOptions:
    """Every option of `build_classifier`; each field is also a command-line flag.

    Attributes:
        encoder: `"bow"` (bag of words: multi-hot, counts or TF-IDF into a linear layer),
            `"boe"` (mean of embeddings), `"cnn"` (`MultiWidthConv1D`, Kim 2014), `"rnn"`, or
            `"hub"` (the TF Hub module `hub_encoder`; the model then takes raw text). Flag
            `--model`.
        cell: For `"rnn"`: one of `CELLS`.
        bidirectional: For `"rnn"`: wrap every recurrent layer in `keras.layers.Bidirectional`.
        num_layers: For `"rnn"`: number of stacked recurrent layers. Flag `--layers`.
        pooling: For `"rnn"`: how the top layer's states become one vector: one of `POOLINGS`.
        bow_mode: For `"bow"`: `"multi_hot"`, `"count"` or `"tf_idf"`. With TF-IDF, call
            `adapt_classifier(model, token_id_batches)` before training to set the IDF weights.
        embedding_dim: Width of the token embeddings (not used by `"bow"`); None: the width
            of the pretrained vectors, or `DEFAULT_EMBEDDING_DIM` without them.
        units: Units per recurrent layer (per direction).
        filters: For `"cnn"`: filters per width.
        widths: For `"cnn"`: convolution widths.
        dropout: Dropout rate on the encoded vector (the input of the output layer).
        embedding_dropout: Dropout rate on the token embeddings (`"cnn"` and `"rnn"`); `None`
            uses `dropout`. Kim (2014) drops only the encoded vector, i.e. `0.0` here.
        embedding_dropout_unit: What `embedding_dropout` drops: `"value"` (each embedding value
            on its own), `"word"` (whole word vectors) or `"dimension"` (an embedding dimension
            for the whole text, i.e. spatial dropout).
        recurrent_dropout: For `"rnn"`: dropout on the recurrent state.
        max_norm: If set, the output layer's weight vector of each class is rescaled after every
            update so that its L2 norm is at most this (Kim 2014 uses 3).
        hub_encoder: For `"hub"` (and only there): the module's handle, a directory or a URL
            `hub.load` resolves; a TF2 SavedModel whose `__call__` maps a batch of strings to
            `(batch, dim)`, such as those `nlpkit.export.export_text_encoder` writes.
        hub_trainable: For `"hub"`: fine-tune the module's trainable variables with the
            classifier (frozen by default, as `hub.KerasLayer` is).
        hub_combine: For `"hub"` with a per-token module: its mix `"replace"`s the word
            embeddings (default: the model needs no tokenizer) or goes next to (`"concat"`) the
            embedding of the words a `WordTokenizer` splits, which may be pretrained vectors
            (ELMo's usual way, with GloVe).
    """

    encoder: str = option("rnn", flag="--model", choices=ENCODERS,
                          help="bag of words, bag of embeddings, Kim's CNN, a recurrent "
                          "encoder, or the TF Hub module of --hub-encoder")
    cell: str = option("lstm", choices=sorted(CELLS), help="recurrent cell for --model rnn")
    bidirectional: bool = option(True, help="read the text both ways")
    num_layers: int = option(1, flag="--layers", type=positive_int,
                             help="stacked recurrent layers")
    pooling: str = option("last", choices=sorted(POOLINGS), help="how states become one vector")
    bow_mode: str = option("tf_idf", choices=["multi_hot", "count", "tf_idf"],
                           help="--model bow features")
    embedding_dim: int = option(None, type=positive_int,
                                default_text=f"{DEFAULT_EMBEDDING_DIM}, or the width of the "
                                "--embeddings vectors, which it must then equal",
                                help="width of the word embeddings")
    units: int = option(128, type=positive_int, help="recurrent units per direction")
    filters: int = option(100, type=positive_int, help="CNN filters per width")
    widths: tuple = option((3, 4, 5), type=_widths, metavar="W,W,...", default_text="3,4,5",
                           help="CNN convolution widths")
    dropout: float = option(0.5, type=rate, help="dropout on the encoded vector")
    embedding_dropout: float = option(None, type=rate, default_text="None, i.e. --dropout",
                                      help="dropout on the word embeddings of cnn and rnn")
    embedding_dropout_unit: str = option(
        "value", choices=sorted(EMBEDDING_DROPOUT_UNITS),
        help="what --embedding-dropout drops: single values, whole word vectors, or a dimension "
        "for the whole text (spatial dropout)")
    recurrent_dropout: float = option(0.0, type=rate,
                                      help="dropout on the recurrent state of rnn")
    max_norm: float = option(None, type=positive_float, default_text="None, i.e. none",
                             help="bound on the L2 norm of each class's output weights, as in "
                             "Kim (2014)")
    hub_encoder: str = option(None, type=str, metavar="HANDLE",
                              default_text="None, i.e. no Hub module",
                              help="the encoder is this TF Hub text-embedding module (strings in, "
                              "one vector out, e.g. nnlm-en-dim50 or a module written by "
                              "python -m nlpkit.export.word_vectors_module or by the "
                              "export-encoder command): a directory, or a URL when online; the "
                              "model then reads the raw text, without the tokenizer, vocabulary "
                              "and word-embedding flags; implies --model hub")
    hub_trainable: bool = option(False, type=true_or_false, metavar="{true,false}",
                                 default_text="false",
                                 help="fine-tune the --hub-encoder module's variables with the "
                                 "classifier, or keep them frozen")
    hub_combine: str = option("replace", choices=HUB_COMBINES,
                              help="a per-token --hub-encoder's mix replaces the word embeddings "
                              "(no tokenizer), or goes next to those of the words the --tokenizer "
                              "word splits (their flags and --embeddings then apply)")

    def __post_init__(self):
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}; got {self.encoder!r}.")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}; got {self.cell!r}.")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {sorted(POOLINGS)}; got {self.pooling!r}.")
        if self.embedding_dropout_unit not in EMBEDDING_DROPOUT_UNITS:
            raise ValueError(
                f"embedding_dropout_unit must be one of {sorted(EMBEDDING_DROPOUT_UNITS)}; "
                f"got {self.embedding_dropout_unit!r}."
            )
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be at least 1; got {self.num_layers}.")
        if (self.encoder == "hub") != (self.hub_encoder is not None):
            raise ValueError(
                "the hub encoder and hub_encoder go together: encoder='hub' needs the module's "
                f"handle in hub_encoder, and a handle needs encoder='hub'; got encoder="
                f"{self.encoder!r}, hub_encoder={self.hub_encoder!r}.")
        if self.hub_trainable and self.encoder != "hub":
            raise ValueError("hub_trainable fine-tunes a Hub module: it needs encoder='hub'.")
        if self.hub_combine not in HUB_COMBINES:
            raise ValueError(f"hub_combine must be one of {HUB_COMBINES}; got "
                             f"{self.hub_combine!r}.")
        # JSON and flags give lists; a frozen dataclass keeps a hashable tuple.
        object.__setattr__(self, "widths", tuple(self.widths))


def build_classifier(vocab_size, num_classes, options=ClassifierOptions(), name="classifier", *,
                     vectors=None, vector_options=WordVectorOptions(), tokenizer=None):
    """Builds a Keras classifier from token ids `(batch, time)` to probabilities `(batch, classes)`
    or, with the `"hub"` encoder, from raw text `(batch,)` strings (TensorFlow backend).

    Args:
        vocab_size: Number of token ids, padding (0) included (None for `"hub"`).
        num_classes: Number of labels.
        options: A `ClassifierOptions`.
        name: Model name.
        vectors: Optional pretrained word vectors of the vocabulary, an
            `nlpkit.text.EmbeddingMatrix` (see `embed`).
        vector_options: An `nlpkit.cli.WordVectorOptions`: how `vectors` are used.
        tokenizer: For `"hub"` with `hub_combine="concat"` (and only there): the fitted
            `nlpkit.text.WordTokenizer` whose words the model embeds next to the module's.

    Returns:
        An uncompiled `keras.Model`.

    Example:

    >>> model = build_classifier(20000, 2, ClassifierOptions(encoder="cnn"))
    >>> model.output.shape
    (None, 2)
    """
    if options.encoder == "hub":
        text = keras.Input(shape=(), dtype="string", name="text")
        encoded = hub_encode(text, options, tokenizer=tokenizer, vectors=vectors,
                             vector_options=vector_options)
        return keras.Model(text, classify(encoded, num_classes, options), name=name)
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    embedded = embed(token_ids, vocab_size, options, vectors, vector_options)
    states = encode(embedded, options)
    pooled = pool(states, options)
    probabilities = classify(pooled, num_classes, options)
    return keras.Model(token_ids, probabilities, name=name)


def embed(token_ids, vocab_size, options, vectors=None, vector_options=WordVectorOptions()):
    """Token ids `(batch, time)` -> masked embeddings `(batch, time, embedding_dim)` with
    embedding dropout; the bag encoders embed the whole text at once: `bow` into its bag-of-words
    vector `(batch, vocab_size)`, `boe` into the mean of its embeddings `(batch, embedding_dim)`.

    With `vectors` (an `nlpkit.text.EmbeddingMatrix` of the vocabulary), the embedding is a
    `PretrainedEmbedding` named "embedding" that starts from them, fine-tuned or frozen as
    `vector_options` says (rows from `vectors.frozen_from` on are always frozen), with a frozen
    second channel and trained dimensions if asked: its width is then `vectors.dimension` (times
    2 with two channels) plus `vector_options.trained_dim`.

    Raises:
        ValueError: `vectors` with the `bow` encoder (which has no embedding), with an
            `embedding_dim` other than theirs, or with another number of rows than `vocab_size`.
    """
    if options.encoder == "bow":
        if vectors is not None:
            raise ValueError("the bow encoder has no word embedding to start from pretrained "
                             "vectors; use boe, cnn or rnn")
        return layers.BagOfWords(vocab_size, mode=options.bow_mode, name="bag_of_words")(
            token_ids
        )
    if vectors is not None:
        embedding = layers.PretrainedEmbedding(
            **vector_options.embedding_arguments(vectors, vocab_size, options.embedding_dim),
            name="embedding")
    elif options.encoder == "boe":
        return layers.BagOfEmbeddings(vocab_size, _embedding_dim(options),
                                      name="bag_of_embeddings")(token_ids)
    else:
        embedding = keras.layers.Embedding(
            vocab_size, _embedding_dim(options), mask_zero=True, name="embedding"
        )
    embedded = embedding(token_ids)
    if options.encoder == "boe":  # the mean of the pretrained vectors
        return layers.MeanPooling(name="mean_of_embeddings")(embedded)
    rate = options.dropout if options.embedding_dropout is None else options.embedding_dropout
    return keras.layers.Dropout(
        rate,
        noise_shape=EMBEDDING_DROPOUT_UNITS[options.embedding_dropout_unit],
        name="embedding_dropout",
    )(embedded)


def _embedding_dim(options):
    return DEFAULT_EMBEDDING_DIM if options.embedding_dim is None else options.embedding_dim


def hub_encode(text, options, *, tokenizer=None, vectors=None,
               vector_options=WordVectorOptions()):
    """Raw text `(batch,)` strings -> the Hub module's vector `(batch, dim)`: an
    `nlpkit.layers.HubLayer` named "hub_encoder" on `options.hub_encoder`, fine-tuned when
    `options.hub_trainable`. Build it under the training strategy's scope (`nlpkit.training.train`
    calls the model builder there), so that the module's variables are the strategy's.

    A per-token module (`nlpkit.layers.token_module`, ELMo's interface) gives a vector per
    word; its layers, mixed by a learned `ScalarMix`, take the place of the word embeddings
    (the module splits the text itself), or with `options.hub_combine == "concat"` go next to
    `embed`'s embedding of the words `tokenizer` splits (`vectors` as in `embed`), both read
    from the same words (`nlpkit.text.WordsAndIds`). The recurrent encoder of `options`
    (`encode`) and its pooling (`pool`) make the vector.

    Raises:
        ValueError: `tokenizer` or `vectors` without a per-token module and `"concat"`, or
            `"concat"` without a `tokenizer`.
    """
    info = token_module.per_token_description(options.hub_encoder)
    concat = info is not None and options.hub_combine == "concat"
    if not concat and (tokenizer is not None or vectors is not None):
        raise ValueError("a tokenizer and word vectors go with a per-token Hub module and "
                         "hub_combine='concat' only; the module reads the raw text itself")
    if info is None:
        return layers.HubLayer(options.hub_encoder, trainable=options.hub_trainable,
                               name=HUB_LAYER_NAME)(text)
    if not concat:
        mixed = token_module.mix_token_module(text, options.hub_encoder, info,
                                              trainable=options.hub_trainable,
                                              name=HUB_LAYER_NAME)
        return pool(encode(mixed, options), options)
    if tokenizer is None:
        raise ValueError("hub_combine='concat' embeds the words of a WordTokenizer next to the "
                         "module's layers: pass the fitted tokenizer")
    from nlpkit.text import WordsAndIds  # TensorFlow string ops, like the Hub module

    # shape: (batch, time) words padded with "", and their ids padded with 0
    words, token_ids = WordsAndIds(tokenizer, name="words_and_ids")(text)
    mixed = token_module.mix_token_module(words, options.hub_encoder, info,
                                          trainable=options.hub_trainable, name=HUB_LAYER_NAME)
    embedded = embed(token_ids, tokenizer.vocabulary_size, options, vectors, vector_options)
    # shape: (batch, time, embedding width + module width); both masks are the words'
    joined = keras.layers.Concatenate(name="embedding_and_hub")([embedded, mixed])
    return pool(encode(joined, options), options)


def encode(embedded, options):
    """The encoder: `cnn` gives its pooled feature vector `(batch, widths * filters)`; `rnn`
    (and `hub`, on a per-token module's states) the top layer's states `(batch, time, units)`,
    or its last state with `pooling="last"`;
    the bag encoders' texts are already one vector, passed on unchanged."""
    if options.encoder in ("bow", "boe"):
        return embedded
    if options.encoder == "cnn":
        return layers.MultiWidthConv1D(options.filters, widths=options.widths, name="conv")(
            embedded
        )
    states = embedded
    for index in range(options.num_layers):
        top = index == options.num_layers - 1
        layer = CELLS[options.cell](
            options.units,
            return_sequences=not (top and options.pooling == "last"),
            recurrent_dropout=options.recurrent_dropout,
            name=f"{options.cell}_{index}",
        )
        if options.bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{options.cell}_{index}")
        states = layer(states)
    return states


def pool(states, options):
    """The recurrent encoder's states `(batch, time, units)` -> one vector per text, by
    `options.pooling` (also on a per-token Hub module's states, see `hub_encode`); other
    encoders' outputs (and `"last"`) are already one vector."""
    if options.encoder not in ("rnn", "hub") or options.pooling == "last":
        return states
    return POOLINGS[options.pooling](name=f"{options.pooling}_pooling")(states)


def classify(encoded, num_classes, options):
    """Dropout on the encoded vector, then a softmax layer `(batch, num_classes)`."""
    encoded = keras.layers.Dropout(options.dropout, name=ENCODED_DROPOUT_NAME)(encoded)
    # kernel: (features, classes); axis 0 bounds each class's incoming weight vector
    constraint = (
        None if options.max_norm is None else keras.constraints.MaxNorm(options.max_norm, axis=0)
    )
    return keras.layers.Dense(
        num_classes, activation="softmax", kernel_constraint=constraint, name=OUTPUT_LAYER_NAME
    )(encoded)


def sentence_encoder(model, name="sentence_encoder"):
    """The part of a classifier before `classify`: its input (token ids, or text for `"hub"`) ->
    the encoded vector `(batch, dim)` that the output layer reads (after embedding, encoder and
    pooling). Found by layer name (the input of the "encoded_dropout" layer), so it works on
    models loaded from `.keras` files; the new model shares the classifier's layers and weights.

    Raises:
        ValueError: `model` has no layer "encoded_dropout" (e.g. an ensemble, whose members
            each have their own encoder).
    """
    names = [layer.name for layer in model.layers]
    if ENCODED_DROPOUT_NAME not in names:
        raise ValueError(
            f"model {model.name!r} has no layer {ENCODED_DROPOUT_NAME!r} in front of its output "
            f"layer, so its sentence encoder cannot be found (its layers: {names}); an ensemble "
            "has one encoder per member and none of its own")
    return keras.Model(model.input, model.get_layer(ENCODED_DROPOUT_NAME).input, name=name)


def adapt_classifier(model, token_id_batches):
    """Sets data-dependent weights before training (the IDF weights of a TF-IDF bag of words).

    Args:
        model: A model from `build_classifier`.
        token_id_batches: Training token ids, `(docs, time)` or an iterable of such batches.
    """
    for layer in model.layers:
        if isinstance(layer, layers.BagOfWords) and layer.mode == "tf_idf":
            layer.adapt(token_id_batches)
