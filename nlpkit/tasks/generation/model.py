"""Recurrent language models over characters or words, trained with truncated backpropagation
through time (TBPTT).

`LanguageModelOptions` declares every option once; the command-line flags and the run config are
generated from it. The model predicts the next unit at every step:

    unit ids (batch, time) -> embedding (learned, or one-hot for characters)
        -> 1..N recurrent layers (any nlpkit cell), dropout after each
        -> logits (batch, time, vocab): a dense layer, or the embedding matrix transposed
           (tied embeddings, Press & Wolf 2017; a projection first when the widths differ)

TBPTT: the training text is cut into `batch_size` streams and fed window after window in order
(`nlpkit.tasks.generation.data.stream_examples` with `TrainingConfig(shuffle=False)`). A model
built with `stateful=True` keeps each layer's last states in variables and starts the next batch
from them, so row r of batch k+1 continues row r of batch k; backpropagation stops at the window
border because the carried states are variables, not tensors of the previous step's graph.
`CarriedStateResets` zeroes them where a pass over contiguous text starts (every epoch, every
evaluation). `evaluate_carried` scores a whole text that way. The loss is the plain sparse
cross-entropy of the logits: there is no padding in a stream.
"""

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from nlpkit import layers
from nlpkit.cli import option, positive_int, rate

CELLS = layers.RECURRENT_LAYERS
# The input to the model: unit ids, (batch, time).
UNIT_IDS = "unit_ids"


@dataclasses.dataclass(frozen=True)
class LanguageModelOptions:
    """Every option of `build_language_model`; each field is also a command-line flag.

    Attributes:
        embedding_dim: Width of the unit embeddings (ignored with `one_hot`).
        one_hot: Feed each unit as a one-hot vector (a fixed identity embedding, as
            Karpathy's char-rnn does for characters) instead of a learned embedding.
        cell: The recurrent cell, one of `CELLS`.
        num_layers: Stacked recurrent layers. Flag `--layers`.
        units: Units of each recurrent layer.
        dropout: Dropout rate on the outputs of every recurrent layer: between layers and
            before the output layer (Zaremba et al. 2014's non-recurrent connections).
        recurrent_dropout: Dropout on the recurrent state (one mask per sequence).
        tie_embeddings: Use the embedding matrix, transposed, as the output layer (Press & Wolf
            2017; for words): logits = (h W_p) E^T, with no output bias, and with the projection
            W_p (units -> embedding_dim, no bias) only when `units != embedding_dim`.
    """

    embedding_dim: int = option(64, type=positive_int,
                                help="width of the unit embeddings (unused with --one-hot)")
    one_hot: bool = option(False, help="one-hot unit vectors instead of a learned embedding "
                           "(for characters)")
    cell: str = option("lstm", choices=sorted(CELLS), help="recurrent cell")
    num_layers: int = option(2, flag="--layers", type=positive_int,
                             help="stacked recurrent layers")
    units: int = option(256, type=positive_int, help="units of each recurrent layer")
    dropout: float = option(0.2, type=rate,
                            help="dropout between recurrent layers and before the output layer")
    recurrent_dropout: float = option(0.0, type=rate, help="dropout on the recurrent state")
    tie_embeddings: bool = option(False, help="share the embedding matrix with the output "
                                  "layer (a projection is added when --units differs from "
                                  "--embedding-dim)")

    def __post_init__(self):
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}; got {self.cell!r}.")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be at least 1; got {self.num_layers}.")
        if self.one_hot and self.tie_embeddings:
            raise ValueError("tie_embeddings needs a learned embedding; it cannot be used with "
                             "one_hot.")


def _replicas_in_sync():
    return tf.distribute.get_strategy().num_replicas_in_sync


def build_language_model(vocab_size, options=LanguageModelOptions(), *, batch_size=None,
                         stateful=False, name="language_model"):
    """Builds a language model: unit ids in, next-unit logits out.

    Args:
        vocab_size: number of unit ids, the reserved ones included (`len(UnitVocabulary)`).
        options: a `LanguageModelOptions`.
        batch_size: the fixed batch size; required with `stateful` (each row carries its own
            state), else None (any batch size).
        stateful: carry every recurrent layer's last states over to the next call (TBPTT
            training, carried evaluation, generation). Build it inside a strategy's scope with
            one replica: the carried states belong to whole rows of the global batch, which
            `tf.distribute` would split among replicas.
        name: model name.

    Returns:
        An uncompiled functional `keras.Model`: int32 ids `(batch, time)` (input `unit_ids`)
        -> float32 logits `(batch, time, vocab_size)`.

    Raises:
        ValueError: `stateful` without a `batch_size`, or under a strategy with more than one
            replica.

    Example:

    >>> model = build_language_model(100, LanguageModelOptions(units=32), batch_size=4,
    ...                              stateful=True)
    >>> model(np.ones((4, 7), "int32")).shape
    TensorShape([4, 7, 100])
    """
    if stateful and batch_size is None:
        raise ValueError("a stateful language model needs a fixed batch_size (the number of "
                         "streams whose states it carries).")
    if stateful and _replicas_in_sync() > 1:
        raise ValueError(
            f"TBPTT with a stateful model cannot run on {_replicas_in_sync()} replicas: each "
            "replica would carry the states of its own share of the batch, which tf.distribute "
            "does not keep fixed; train on one device (e.g. --strategy one_device).")
    unit_ids = keras.Input(batch_shape=(batch_size, None), dtype="int32", name=UNIT_IDS)
    fed_ids = unit_ids
    if stateful:
        fed_ids = layers.FixedBatchSize(batch_size, name="fixed_batch_size")(unit_ids)
    if options.one_hot:
        embedding = keras.layers.Embedding(vocab_size, vocab_size,
                                           embeddings_initializer="identity", trainable=False,
                                           name="one_hot")
    elif options.tie_embeddings:
        embedding = keras.layers.ReversibleEmbedding(vocab_size, options.embedding_dim,
                                                     reverse_dtype="float32", name="embedding")
    else:
        embedding = keras.layers.Embedding(vocab_size, options.embedding_dim, name="embedding")
    states = embedding(fed_ids)
    for index in range(options.num_layers):
        states = CELLS[options.cell](
            options.units, return_sequences=True, stateful=stateful,
            recurrent_dropout=options.recurrent_dropout, name=f"{options.cell}_{index}")(states)
        states = keras.layers.Dropout(options.dropout, name=f"dropout_{index}")(states)
    if options.tie_embeddings:
        if options.units != options.embedding_dim:
            states = keras.layers.Dense(options.embedding_dim, use_bias=False,
                                        name="projection")(states)
        logits = embedding(states, reverse=True)
    else:
        logits = keras.layers.Dense(vocab_size, dtype="float32", name="logits")(states)
    return keras.Model(unit_ids, logits, name=name)


def stateful_layers(model):
    """The recurrent layers of `model` (nested models included) that carry their states."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.RNN) and layer.stateful:
            found.append(layer)
        elif hasattr(layer, "layers"):
            found.extend(stateful_layers(layer))
    return found


def reset_carried_states(model):
    """Zeroes the carried states of every stateful recurrent layer of `model`."""
    for layer in stateful_layers(model):
        layer.reset_state()


def stateful_batch_size(model):
    """The fixed batch size of a stateful `model`, None when it carries no states."""
    carried = stateful_layers(model)
    if not carried or carried[0].states is None:
        return None
    return int(carried[0].states[0].shape[0])


def stateful_copy(model, batch_size):
    """A stateful copy of a language model with a fixed `batch_size` and the same weights.

    Every recurrent layer is rebuilt with `stateful=True` (the weights are copied, not shared):
    for carried evaluation or generation from a model trained with another batch size or
    without state. The copy's states start at zero.
    """

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.RNN):
            config["stateful"] = True
        if isinstance(layer, layers.FixedBatchSize):
            config["batch_size"] = batch_size
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(
        model, input_tensors=keras.Input(batch_shape=(batch_size, None), dtype="int32",
                                         name=UNIT_IDS),
        clone_function=clone)
    copy.set_weights(model.get_weights())
    if any(isinstance(layer, layers.FixedBatchSize) for layer in copy.layers):
        return copy
    # A copy of a model built without state: the fixed batch goes in front
    # (see nlpkit.layers.FixedBatchSize).
    unit_ids = keras.Input(batch_shape=(batch_size, None), dtype="int32", name=UNIT_IDS)
    return keras.Model(unit_ids, copy(layers.FixedBatchSize(batch_size, name="fixed_batch_size")(
        unit_ids)), name=f"{model.name}_stateful")


class CarriedStateResets(keras.callbacks.Callback):
    """Zeroes the model's carried states where a pass over contiguous text starts.

    At the start of every epoch (the text starts again) and before and after every evaluation
    on the dev set (a different text, which must neither start from the training states nor
    leave its own states to the training batches that follow). With `nlpkit.training.train`,
    a run resumed in the middle of an epoch starts its first batch from zero states (the
    carried states are not part of the backup), so it is close to, not exactly, the
    uninterrupted run.
    """

    def on_epoch_begin(self, epoch, logs=None):
        reset_carried_states(self.model)

    def on_test_begin(self, logs=None):
        reset_carried_states(self.model)

    def on_test_end(self, logs=None):
        reset_carried_states(self.model)


def language_model_loss():
    """The training loss: the mean next-unit cross-entropy of the logits, in nats per unit."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def unit_cross_entropies(target_ids, logits):
    """The cross-entropy (natural log) of `logits` against each next unit, in float64.

    Args:
        target_ids: int array `(..., time)`.
        logits: float array `(..., time, vocab)`.

    Returns:
        float64 array `(..., time)`: -log p(target) at every step, in nats.
    """
    logits = np.asarray(logits, dtype=np.float64)
    # shape: (..., time, vocab): log-probabilities, the max subtracted so that exp cannot
    # overflow.
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    # shape: (..., time)
    return -np.take_along_axis(log_probabilities, np.asarray(target_ids)[..., None], -1)[..., 0]


def nats_per_unit(target_ids, logits):
    """The mean next-unit cross-entropy of `logits` (shapes as `unit_cross_entropies`), in nats
    per unit, a Python float."""
    return float(unit_cross_entropies(target_ids, logits).mean())


def bits_per_unit(nats):
    """Nats per unit in bits per unit (bits per character for characters): nats / ln 2."""
    return nats / math.log(2)


def perplexity(nats):
    """The perplexity of a mean cross-entropy in nats per unit: exp(nats)."""
    return math.exp(nats)


def evaluate_carried(model, ids, batch_size, bptt):
    """The cross-entropy of a language model over a whole text, reading it with carried state.

    The text's `len(ids) - 1` predictions (unit t+1 from units 0..t) are cut into `batch_size`
    consecutive streams of equal length (the last padded; the padding is not scored), each read
    window after window of `bptt` units with the states carried from window to window, as
    training reads them. Every unit after the first is scored exactly once; each stream starts
    from zero states, so `batch_size=1` reads the whole text with all its context (the usual
    evaluation) and larger batches are faster.

    Args:
        model: a language model (`build_language_model`), stateful or not. A stateful model
            with this `batch_size` is used itself: its states are reset before and after.
            Otherwise a stateful copy with the same weights is made (`stateful_copy`).
        ids: 1-D integer array of the text's unit ids, at least 2.
        batch_size: number of streams.
        bptt: units per window.

    Returns:
        `{"nats_per_unit", "bits_per_unit", "perplexity", "units"}`: the mean cross-entropy
        over the `units` predictions (floats; `units` an int).
    """
    ids = np.asarray(ids, dtype=np.int32)
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError(f"evaluate_carried needs a 1-D text of at least 2 units; got shape "
                         f"{ids.shape}.")
    if batch_size < 1 or bptt < 1:
        raise ValueError(f"batch_size and bptt must be positive; got {batch_size}, {bptt}.")
    predictions = len(ids) - 1
    stream_length = -(-predictions // batch_size)
    if stateful_batch_size(model) != batch_size:
        model = stateful_copy(model, batch_size)
    padded = np.zeros(batch_size * stream_length + 1, dtype=np.int32)
    padded[:len(ids)] = ids
    # shape: (batch_size, stream_length): stream r predicts from units r*L .. (r+1)*L - 1.
    inputs = padded[:-1].reshape(batch_size, stream_length)
    targets = padded[1:].reshape(batch_size, stream_length)
    scored = (np.arange(batch_size * stream_length) < predictions).reshape(batch_size,
                                                                           stream_length)
    total = 0.0
    reset_carried_states(model)
    try:
        for start in range(0, stream_length, bptt):
            window = slice(start, start + bptt)
            # shape: (batch_size, window, vocab)
            logits = ops.convert_to_numpy(model(inputs[:, window], training=False))
            # shape: (batch_size, window)
            losses = unit_cross_entropies(targets[:, window], logits)
            total += float(losses[scored[:, window]].sum())
    finally:
        reset_carried_states(model)
    nats = total / predictions
    return {"nats_per_unit": nats, "bits_per_unit": bits_per_unit(nats),
            "perplexity": perplexity(nats), "units": predictions}
