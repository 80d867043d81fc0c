"""Text classifiers built from nlpkit's layers: token ids in, class probabilities out.

One function, `build_classifier`, covers the models the sentiment recipe offers: a bag-of-words
baseline, a bag of embeddings, Kim's (2014) multi-width CNN, and recurrent encoders with any nlpkit
cell, bidirectional or not, one or more layers deep, with a pooling aggregator on top. The model
takes padded token ids (0 = padding) so that the tokenizer can live in the serving graph in front of
it (see `nlpkit.export`). `add_classifier_flags` and `classifier_from_args` give a recipe the
command-line flags for all of it; `member_overrides` the models of an ensemble (`--ensemble`,
`--member`).
"""

import argparse

import keras

from nlpkit import layers

ENCODERS = ("bow", "boe", "cnn", "rnn")

CELLS = {
    "simple": layers.SimpleRNN,
    "lstm": layers.LSTM,
    "gru": layers.GRU,
    "peephole": layers.PeepholeLSTM,
    "coupled": layers.CoupledLSTM,
    "no_forget_gate": layers.NoForgetGateLSTM,
}

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


def build_classifier(
    vocab_size,
    num_classes,
    encoder="rnn",
    cell="lstm",
    bidirectional=True,
    num_layers=1,
    pooling="last",
    embedding_dim=128,
    units=128,
    filters=100,
    widths=(3, 4, 5),
    bow_mode="tf_idf",
    dropout=0.5,
    embedding_dropout=None,
    embedding_dropout_unit="value",
    recurrent_dropout=0.0,
    max_norm=None,
    name="classifier",
):
    """Builds a Keras classifier from token ids `(batch, time)` to probabilities `(batch, classes)`.

    Args:
        vocab_size: Number of token ids, padding (0) included.
        num_classes: Number of labels.
        encoder: `"bow"` (bag of words: multi-hot, counts or TF-IDF into a linear layer),
            `"boe"` (mean of embeddings), `"cnn"` (`MultiWidthConv1D`, Kim 2014) or `"rnn"`.
        cell: For `encoder="rnn"`: one of `CELLS` (simple, lstm, gru, peephole, coupled,
            no_forget_gate).
        bidirectional: For `"rnn"`: wrap every recurrent layer in `keras.layers.Bidirectional`.
        num_layers: For `"rnn"`: number of stacked recurrent layers.
        pooling: For `"rnn"`: how the top layer's states become one vector: one of `POOLINGS`.
        embedding_dim: Width of the token embeddings (not used by `"bow"`).
        units: Units per recurrent layer (per direction).
        filters: For `"cnn"`: filters per width.
        widths: For `"cnn"`: convolution widths.
        bow_mode: For `"bow"`: `"multi_hot"`, `"count"` or `"tf_idf"`. With TF-IDF, call
            `adapt_classifier(model, token_id_batches)` before training to set the IDF weights.
        dropout: Dropout rate on the encoded vector (the input of the output layer).
        embedding_dropout: Dropout rate on the token embeddings (`"cnn"` and `"rnn"`); `None`
            uses `dropout`. Kim (2014) drops only the encoded vector, i.e. `0.0` here.
        embedding_dropout_unit: What `embedding_dropout` drops: `"value"` (each embedding value
            on its own), `"word"` (whole word vectors) or `"dimension"` (an embedding dimension
            for the whole text, i.e. spatial dropout).
        recurrent_dropout: For `"rnn"`: dropout on the recurrent state.
        max_norm: If set, the output layer's weight vector of each class is rescaled after every
            update so that its L2 norm is at most this (Kim 2014 uses 3).
        name: Model name.

    Returns:
        An uncompiled `keras.Model`.
    """
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}; got {encoder!r}.")
    if encoder == "rnn" and cell not in CELLS:
        raise ValueError(f"cell must be one of {sorted(CELLS)}; got {cell!r}.")
    if encoder == "rnn" and pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {sorted(POOLINGS)}; got {pooling!r}.")
    if embedding_dropout_unit not in EMBEDDING_DROPOUT_UNITS:
        raise ValueError(
            f"embedding_dropout_unit must be one of {sorted(EMBEDDING_DROPOUT_UNITS)}; "
            f"got {embedding_dropout_unit!r}."
        )
    if num_layers < 1:
        raise ValueError(f"num_layers must be at least 1; got {num_layers}.")

    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    if encoder == "bow":
        encoded = layers.BagOfWords(vocab_size, mode=bow_mode, name="bag_of_words")(token_ids)
    elif encoder == "boe":
        encoded = layers.BagOfEmbeddings(vocab_size, embedding_dim, name="bag_of_embeddings")(
            token_ids
        )
    else:
        embedded = keras.layers.Embedding(
            vocab_size, embedding_dim, mask_zero=True, name="embedding"
        )(token_ids)
        embedding_dropout = dropout if embedding_dropout is None else embedding_dropout
        embedded = keras.layers.Dropout(
            embedding_dropout,
            noise_shape=EMBEDDING_DROPOUT_UNITS[embedding_dropout_unit],
            name="embedding_dropout",
        )(embedded)
        if encoder == "cnn":
            encoded = layers.MultiWidthConv1D(filters, widths=widths, name="conv")(embedded)
        else:
            encoded = _recurrent_encoder(
                embedded, cell, bidirectional, num_layers, pooling, units, recurrent_dropout
            )
    encoded = keras.layers.Dropout(dropout, name="encoded_dropout")(encoded)
    # kernel: (features, classes); axis 0 bounds each class's incoming weight vector
    constraint = None if max_norm is None else keras.constraints.MaxNorm(max_norm, axis=0)
    probabilities = keras.layers.Dense(
        num_classes, activation="softmax", kernel_constraint=constraint, name="probabilities"
    )(encoded)
    return keras.Model(token_ids, probabilities, name=name)


def _recurrent_encoder(embedded, cell, bidirectional, num_layers, pooling, units, recurrent_dropout):
    states = embedded
    for index in range(num_layers):
        top = index == num_layers - 1
        layer = CELLS[cell](
            units,
            return_sequences=not (top and pooling == "last"),
            recurrent_dropout=recurrent_dropout,
            name=f"{cell}_{index}",
        )
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{cell}_{index}")
        states = layer(states)
    if pooling == "last":
        return states
    return POOLINGS[pooling](name=f"{pooling}_pooling")(states)


def average_classifiers(models, name="ensemble"):
    """One model whose probabilities are the mean of the probabilities of `models` (an ensemble).

    Args:
        models: Trained models from `build_classifier`, all taking the same token ids and
            answering the same classes; their names must differ (e.g. `name="member_0"`, ...).
        name: Name of the ensemble model.

    Returns:
        A `keras.Model` from token ids `(batch, time)` to probabilities `(batch, classes)`.
    """
    if len(models) < 2:
        raise ValueError(f"an ensemble needs at least 2 models; got {len(models)}.")
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    probabilities = keras.layers.Average(name="probabilities")([model(token_ids) for model in models])
    return keras.Model(token_ids, probabilities, name=name)


def adapt_classifier(model, token_id_batches):
    """Sets data-dependent weights before training (the IDF weights of a TF-IDF bag of words).

    Args:
        model: A model from `build_classifier`.
        token_id_batches: Training token ids, `(docs, time)` or an iterable of such batches.
    """
    for layer in model.layers:
        if isinstance(layer, layers.BagOfWords) and layer.mode == "tf_idf":
            layer.adapt(token_id_batches)


def add_classifier_flags(parser):
    """Adds the flags of `build_classifier`, `--ensemble` and `--member` as a "model" group.

    Returns the group, which `member_overrides` needs. Every flag's help states its default.
    """
    from nlpkit.cli import positive_int

    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=ENCODERS, default="rnn",
                       help="bag of words, bag of embeddings, Kim's CNN or a recurrent encoder "
                       "(default: %(default)s)")
    model.add_argument("--cell", choices=sorted(CELLS), default="lstm",
                       help="recurrent cell for --model rnn (default: %(default)s)")
    model.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=True,
                       help="read the text both ways (default: %(default)s)")
    model.add_argument("--layers", type=positive_int, default=1,
                       help="stacked recurrent layers (default: %(default)s)")
    model.add_argument("--pooling", choices=sorted(POOLINGS), default="last",
                       help="how states become one vector (default: %(default)s)")
    model.add_argument("--bow-mode", choices=["multi_hot", "count", "tf_idf"], default="tf_idf",
                       help="--model bow features (default: %(default)s)")
    model.add_argument("--embedding-dim", type=positive_int, default=128,
                       help="(default: %(default)s)")
    model.add_argument("--units", type=positive_int, default=128,
                       help="recurrent units per direction (default: %(default)s)")
    model.add_argument("--filters", type=positive_int, default=100,
                       help="CNN filters per width (default: %(default)s)")
    model.add_argument("--widths", type=_widths, default=(3, 4, 5), metavar="W,W,...",
                       help="CNN convolution widths (default: 3,4,5)")
    model.add_argument("--ensemble", type=positive_int, default=1, metavar="K",
                       help="train K models of this kind one after another (shuffling seeds "
                       "--seed, --seed+1, ...) and export the average of their probabilities "
                       "(default: %(default)s)")
    model.add_argument("--member", action="append", default=[], metavar="FLAG=VALUE,...",
                       help="add one ensemble member that differs from the model the other "
                       "flags describe by these model and training flags, written without "
                       "dashes, e.g. --member model=cnn,embedding-dropout=0,max-norm=3 "
                       "--member cell=gru; repeat for more members. Members train one after "
                       "another after the --ensemble ones (seeds continue from there) and the "
                       "export averages all their probabilities (default: none)")
    model.add_argument("--dropout", type=float, default=0.5,
                       help="dropout on the encoded vector (default: %(default)s)")
    model.add_argument("--embedding-dropout", type=float, default=None,
                       help="dropout on the word embeddings of cnn and rnn (default: "
                       "%(default)s, i.e. --dropout)")
    model.add_argument("--embedding-dropout-unit", choices=sorted(EMBEDDING_DROPOUT_UNITS),
                       default="value", help="what --embedding-dropout drops: single values, "
                       "whole word vectors, or a dimension for the whole text (spatial dropout) "
                       "(default: %(default)s)")
    model.add_argument("--recurrent-dropout", type=float, default=0.0,
                       help="dropout on the recurrent state of rnn (default: %(default)s)")
    model.add_argument("--max-norm", type=float, default=None,
                       help="bound on the L2 norm of each class's output weights, as in Kim "
                       "(2014) (default: %(default)s, i.e. none)")
    return model


def classifier_from_args(args, vocab_size, num_classes, name="classifier"):
    """`build_classifier` with the model that the flags of `add_classifier_flags` describe."""
    return build_classifier(
        vocab_size, num_classes, encoder=args.model, cell=args.cell,
        bidirectional=args.bidirectional, num_layers=args.layers, pooling=args.pooling,
        embedding_dim=args.embedding_dim, units=args.units, filters=args.filters,
        widths=args.widths, bow_mode=args.bow_mode, dropout=args.dropout,
        embedding_dropout=args.embedding_dropout,
        embedding_dropout_unit=args.embedding_dropout_unit,
        recurrent_dropout=args.recurrent_dropout, max_norm=args.max_norm, name=name)


def member_overrides(parser, args, model_flags):
    """How each model of the run differs from `args`: `--ensemble` empty dicts (copies of the
    model the flags describe), then one dict per `--member` (`nlpkit.cli.parse_overrides`).

    Args:
        parser: the recipe's parser.
        args: its parsed flags.
        model_flags: the group `add_classifier_flags` returned.

    Returns:
        A list of `{flag destination: value}`, one per model, at least one. A bad `--member`
        exits with status 2.
    """
    from nlpkit.cli import PER_MODEL_TRAINING_FLAGS, parse_overrides

    allowed = {action.dest for action in model_flags._group_actions} | PER_MODEL_TRAINING_FLAGS
    # --bidirectional is an on/off switch, which FLAG=VALUE does not express.
    allowed -= {"ensemble", "member", "bidirectional"}
    return [{} for _ in range(args.ensemble)] + [
        parse_overrides(parser, args, spec, allowed, option="--member") for spec in args.member
    ]


def _widths(text):
    from nlpkit.cli import positive_int

    return tuple(positive_int(width) for width in text.split(","))
