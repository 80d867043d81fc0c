"""Attention sequence-to-sequence translators built from nlpkit's layers.

`TranslatorOptions` declares every option once; the command-line flags and the run config are
generated from it. A `Translator` is the RNN encoder-decoder of Bahdanau et al. (2015) and
Luong et al. (2015):

    source ids -> embedding -> 1..N recurrent layers (any nlpkit cell, bidirectional or not)
        -> memory (every source step) and final states
    final states -> (a projection when the sizes differ) -> the decoder's initial state
    at each target step t:
        input  = [embedding(y_{t-1}); previous output o_{t-1} (input feeding);
                  context from the previous state (Bahdanau)]
        h_t    = decoder cell(input, states)
        o_t    = tanh(W_c [context_t; h_t])  (Luong: context from h_t; Bahdanau: from h_{t-1})
                 or h_t without attention
        logits = W_o o_t (or tied: o_t projected onto the target embedding matrix)

`call` is the teacher-forced training pass over whole target sequences; `decoder_state` and
`decode_step` are the same step one token at a time, for `nlpkit.decoding`'s greedy and beam
search (`translate`). Both run the same `_step`, so what trains is what decodes. The time loops and
the search are TensorFlow (`tf.while_loop`), so a translator needs the TensorFlow backend; its
layers (`nlpkit.layers.LuongAttention`, ...) do not.
"""

import dataclasses

import keras
import tensorflow as tf
from keras import ops

from nlpkit import layers
from nlpkit.decoding import beam_search
from nlpkit.cli import WordVectorOptions, option, positive_int, rate
from nlpkit.tasks.translation.data import SOURCE_IDS, TARGET_INPUTS
from nlpkit.text import BOS_ID, EOS_ID, PAD_ID

ATTENTIONS = ("luong", "bahdanau", "none")
LUONG_SCORES = ("general", "dot")
CELLS = layers.RECURRENT_LAYERS


@dataclasses.dataclass(frozen=True)
class TranslatorOptions:
    """Every option of `Translator`; each field is also a command-line flag.

    Attributes:
        embedding_dim: Width of the source and target embeddings (pretrained vectors bring
            their own for their side).
        cell: The recurrent cell of encoder and decoder, one of `CELLS`.
        encoder_layers: Stacked encoder layers.
        bidirectional: Bidirectional encoder layers; each direction then has `units // 2`
            units, so the memory and the final states are `units` wide.
        units: Width of the decoder (and of the encoder's memory).
        attention: `"luong"` (multiplicative, on the new state), `"bahdanau"` (additive, on
            the previous state) or `"none"` (the final encoder states only).
        luong_score: `"general"` (q W m) or `"dot"` (q . m) for Luong attention.
        input_feeding: Feed each step's output vector to the next step's input (Luong et al.).
        dropout: Dropout on the embeddings, between encoder layers and before the output layer.
        tie_embeddings: Share the target embedding matrix with the output layer (Press & Wolf
            2017): logits = (o_t W_p) E^T + b.
        label_smoothing: Share of the target probability spread over the whole vocabulary.
    """

    embedding_dim: int = option(256, type=positive_int,
                                help="width of the source and target embeddings")
    cell: str = option("lstm", choices=tuple(CELLS),
                       help="recurrent cell of the encoder and the decoder")
    encoder_layers: int = option(1, type=positive_int, help="stacked encoder layers")
    bidirectional: bool = option(True, help="bidirectional encoder (units // 2 per direction)")
    units: int = option(256, type=positive_int,
                        help="units of the decoder and width of the encoder's memory")
    attention: str = option("luong", choices=ATTENTIONS,
                            help="attention over the source: Luong (multiplicative), Bahdanau "
                            "(additive) or none")
    luong_score: str = option("general", choices=LUONG_SCORES,
                              help="score of Luong attention: q W m (general) or q . m (dot)")
    input_feeding: bool = option(True, help="feed each step's output vector into the next step")
    dropout: float = option(0.2, type=rate, help="dropout on embeddings, between encoder layers "
                            "and before the output layer")
    tie_embeddings: bool = option(False, help="share the target embedding matrix with the "
                                  "output layer")
    label_smoothing: float = option(0.1, type=rate,
                                    help="label smoothing of the training loss")


@keras.saving.register_keras_serializable(package="nlpkit")
class TiedOutput(keras.layers.Layer):
    """Logits from the target embedding matrix: `(x W_p) E^T + b`, W_p only when the widths
    differ. The embedding's weights are read, not copied, so both train together."""

    def __init__(self, embedding, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding

    def build(self, input_shape):
        vocab_size, width = self.embedding.embeddings.shape
        self.projection = None
        if input_shape[-1] != width:
            self.projection = keras.layers.Dense(width, use_bias=False, name="projection")
            self.projection.build(input_shape)
        self.bias = self.add_weight(name="bias", shape=(vocab_size,), initializer="zeros")

    def call(self, inputs):
        if self.projection is not None:
            inputs = self.projection(inputs)
        return ops.matmul(inputs, ops.transpose(self.embedding.embeddings)) + self.bias


class Translator(keras.Model):
    """An attention encoder-decoder: `{"source_ids", "target_inputs"}` -> target logits.

    Args:
        source_vocab_size, target_vocab_size: ids of each side, padding (0) included.
        options: `TranslatorOptions`.
        source_vectors, target_vectors: optional `nlpkit.text.EmbeddingMatrix` to start that
            side's embedding from, used as `vector_options` say.
        vector_options: `nlpkit.cli.WordVectorOptions`.

    Call arguments:
        inputs: dict with `source_ids` int32 `(batch, source_time)` and `target_inputs` int32
            `(batch, target_time)` (`[BOS] t1 .. tm`), 0-padded.
        training: dropout on or off.

    Returns:
        float logits `(batch, target_time, target_vocab_size)`.

    Example:

    >>> model = Translator(8000, 8000, TranslatorOptions(attention="bahdanau", cell="gru"))
    >>> logits = model({"source_ids": src, "target_inputs": tgt_in})
    >>> result = model.translate(src, beam_size=4, max_length=50)  # nlpkit.decoding.SearchResult
    """

    def __init__(self, source_vocab_size, target_vocab_size, options=TranslatorOptions(), *,
                 source_vectors=None, target_vectors=None,
                 vector_options=WordVectorOptions(), **kwargs):
        super().__init__(**kwargs)
        self.options = options
        self.source_vocab_size = int(source_vocab_size)
        self.target_vocab_size = int(target_vocab_size)
        self.source_embedding = self._embedding(
            source_vocab_size, source_vectors, vector_options, "source_embedding")
        self.target_embedding = self._embedding(
            target_vocab_size, target_vectors, vector_options, "target_embedding")
        layer_class = CELLS[options.cell]
        encoder_units = options.units // 2 if options.bidirectional else options.units
        self.encoder_layers = []
        for index in range(options.encoder_layers):
            layer = layer_class(encoder_units, return_sequences=True, return_state=True,
                                name=f"encoder_{index}")
            if options.bidirectional:
                layer = keras.layers.Bidirectional(layer, name=f"bidirectional_encoder_{index}")
            self.encoder_layers.append(layer)
        self.encoder_width = encoder_units * (2 if options.bidirectional else 1)
        self.decoder_cell = layer_class.cell_class(options.units, name="decoder_cell")
        # A projection from the encoder's final states to the decoder's, only where they differ.
        self.bridges = [
            keras.layers.Dense(options.units, name=f"bridge_{index}")
            if self.encoder_width != options.units else None
            for index in range(len(self._state_sizes()))
        ]
        self.attention = None
        if options.attention == "luong":
            self.attention = layers.LuongAttention(options.luong_score, name="attention")
        elif options.attention == "bahdanau":
            self.attention = layers.BahdanauAttention(options.units, name="attention")
        self.attentional = (None if self.attention is None else keras.layers.Dense(
            options.units, activation="tanh", use_bias=False, name="attentional"))
        self.dropout = keras.layers.Dropout(options.dropout)
        self.output_layer = (TiedOutput(self.target_embedding, name="output")
                             if options.tie_embeddings
                             else keras.layers.Dense(target_vocab_size, name="output"))

    def _embedding(self, vocab_size, vectors, vector_options, name):
        if vectors is not None:
            return layers.PretrainedEmbedding(
                **vector_options.embedding_arguments(vectors, vocab_size), name=name)
        # Padding is masked by the encoder and the loss themselves, not by Keras masks.
        return keras.layers.Embedding(vocab_size, self.options.embedding_dim, name=name)

    def _state_sizes(self):
        sizes = self.decoder_cell.state_size
        return list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]

    def get_config(self):
        return {"source_vocab_size": self.source_vocab_size,
                "target_vocab_size": self.target_vocab_size,
                "options": dataclasses.asdict(self.options)}

    @classmethod
    def from_config(cls, config):
        return cls(config["source_vocab_size"], config["target_vocab_size"],
                   TranslatorOptions(**config["options"]))

    # ----------------------------------------------------------------- encoder

    def encode(self, source_ids, training=False):
        """Source ids -> `(memory, memory_mask, decoder states)`.

        memory `(batch, source_time, units)`, memory_mask bool `(batch, source_time)`, and the
        decoder cell's initial states (a list), from the last layer's final states.
        """
        memory_mask = ops.not_equal(source_ids, 0)
        x = self.dropout(self.source_embedding(source_ids), training=training)
        for index, layer in enumerate(self.encoder_layers):
            outputs = layer(x, mask=memory_mask, training=training)
            x, final = outputs[0], list(outputs[1:])
            if index < len(self.encoder_layers) - 1:
                x = self.dropout(x, training=training)
        if self.options.bidirectional:
            # Bidirectional returns the forward states, then the backward ones; each decoder
            # state starts from both directions' states side by side.
            half = len(final) // 2
            final = [ops.concatenate([forward, backward], axis=-1)
                     for forward, backward in zip(final[:half], final[half:])]
        states = [state if bridge is None else bridge(state)
                  for state, bridge in zip(final, self.bridges)]
        return x, memory_mask, states

    # ----------------------------------------------------------------- one decoder step

    def _step(self, embedded, states, feed, memory, keys, memory_mask, training):
        """One decoder step on embedded inputs `(batch, embedding)`: -> `(output, states)`."""
        pieces = [embedded]
        if self.attention is not None and self.options.input_feeding:
            pieces.append(feed)
        if self.options.attention == "bahdanau":
            context, _ = self.attention(states[0], memory, memory_mask=memory_mask, keys=keys)
            pieces.append(context)
        inputs = pieces[0] if len(pieces) == 1 else ops.concatenate(pieces, axis=-1)
        hidden, states = self.decoder_cell(inputs, states, training=training)
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        if self.attention is None:
            return hidden, states
        if self.options.attention == "luong":
            context, _ = self.attention(hidden, memory, memory_mask=memory_mask, keys=keys)
        return self.attentional(ops.concatenate([context, hidden], axis=-1)), states

    def _keys(self, memory):
        if self.attention is None:
            return None
        if not self.attention.built:
            self.attention.build((None, self.options.units), tuple(memory.shape))
        return self.attention.project_memory(memory)

    def build(self, input_shape=None):
        # Every weight's shape follows from the options; one pass on a dummy batch makes them.
        ids = ops.ones((1, 2), dtype="int32")
        self.call({SOURCE_IDS: ids, TARGET_INPUTS: ids})
        self.built = True

    def call(self, inputs, training=False):
        source_ids, target_inputs = inputs[SOURCE_IDS], inputs[TARGET_INPUTS]
        memory, memory_mask, states = self.encode(source_ids, training=training)
        keys = self._keys(memory)
        # shape: (batch, target_time, embedding)
        embedded = self.dropout(self.target_embedding(target_inputs), training=training)
        feed = ops.zeros((ops.shape(source_ids)[0], self.options.units), dtype=memory.dtype)

        # A tf.while_loop over target steps: the decoder's step is the search's step, and the
        # state (a list of tensors plus the fed-back output) varies by cell.
        # shape: (target_time, batch, embedding)
        time_major = tf.transpose(embedded, (1, 0, 2))
        steps = tf.shape(time_major)[0]
        outputs = tf.TensorArray(feed.dtype, size=steps)

        def body(t, states, feed, outputs):
            output, states = self._step(time_major[t], states, feed, memory, keys, memory_mask,
                                        training)
            return t + 1, states, output, outputs.write(t, output)

        _, _, _, outputs = tf.while_loop(lambda t, *_: t < steps, body,
                                         (tf.constant(0), states, feed, outputs))
        # shape: (batch, target_time, units)
        outputs = tf.transpose(outputs.stack(), (1, 0, 2))
        return self.output_layer(self.dropout(outputs, training=training))

    # ----------------------------------------------------------------- decoding

    def decoder_state(self, source_ids):
        """The search state before the first target step, a dict of tensors that all have the
        batch as their first dimension (so that beam search can tile and reorder them)."""
        memory, memory_mask, states = self.encode(source_ids, training=False)
        state = {"states": states, "memory": memory, "memory_mask": memory_mask,
                 "feed": ops.zeros((ops.shape(source_ids)[0], self.options.units),
                                   dtype=memory.dtype)}
        if self.attention is not None:
            state["keys"] = self._keys(memory)
        return state

    def decode_step(self, tokens, state, time=None):
        """`(previous tokens (n,), state) -> (log-probabilities (n, vocab), new state)`: the
        `step_fn` of `nlpkit.decoding`."""
        embedded = self.target_embedding(tokens)
        output, states = self._step(embedded, state["states"], state["feed"], state["memory"],
                                    state.get("keys"), state["memory_mask"], False)
        logits = ops.cast(self.output_layer(output), "float32")
        # [PAD] and [BOS] are never generated: the search would take them for words.
        vocabulary = ops.arange(self.target_vocab_size)
        never = ops.logical_or(ops.equal(vocabulary, PAD_ID), ops.equal(vocabulary, BOS_ID))
        logits = ops.where(never[None, :], -1e9, logits)
        return ops.log_softmax(logits, axis=-1), {**state, "states": states, "feed": output}

    def translate(self, source_ids, *, beam_size=4, max_length=None, length_penalty=0.6,
                  max_length_ratio=2.0, max_length_extra=10):
        """Searches translations of a batch of source ids (TensorFlow backend).

        Args:
            source_ids: int32 `(batch, source_time)`.
            beam_size: 1 is greedy decoding (an int, or an int32 scalar tensor).
            max_length: the most target pieces, `[EOS]` included; None: `max_length_ratio`
                times each source's length plus `max_length_extra`. A given limit still
                applies as a cap.
            length_penalty: alpha of the GNMT length penalty (0: raw log-probability).

        Returns:
            `nlpkit.decoding.SearchResult`: ids `(batch, beam, time)` best first.
        """
        source_ids = tf.convert_to_tensor(source_ids)
        source_lengths = tf.reduce_sum(tf.cast(tf.not_equal(source_ids, 0), tf.float32), axis=1)
        limits = tf.cast(tf.math.ceil(source_lengths * max_length_ratio), tf.int32)
        limits = limits + max_length_extra
        if max_length is not None:
            limits = tf.minimum(limits, tf.cast(max_length, tf.int32))
        limits = tf.maximum(limits, 1)
        return beam_search(self.decode_step, self.decoder_state(source_ids),
                           tf.shape(source_ids)[0], beam_size=beam_size, bos_id=BOS_ID,
                           eos_id=EOS_ID, max_length=limits, length_penalty=length_penalty)


def padded_token_crossentropy(label_smoothing=0.0):
    """The training loss: mean cross-entropy over the real target tokens (label 0 is padding),
    with label smoothing; a scalar per batch, so that long and short sentences weigh by their
    tokens, not per sentence."""

    def loss(labels, logits):
        labels = ops.cast(labels, "int32")
        logits = ops.cast(logits, "float32")
        targets = ops.one_hot(labels, ops.shape(logits)[-1], dtype="float32")
        if label_smoothing:
            vocab = ops.cast(ops.shape(logits)[-1], "float32")
            targets = targets * (1.0 - label_smoothing) + label_smoothing / vocab
        # shape: (batch, time)
        losses = -ops.sum(targets * ops.log_softmax(logits, axis=-1), axis=-1)
        real = ops.cast(ops.not_equal(labels, 0), "float32")
        return ops.sum(losses * real) / ops.maximum(ops.sum(real), 1.0)

    loss.__name__ = "padded_token_crossentropy"
    return loss


@keras.saving.register_keras_serializable(package="nlpkit")
class TokenAccuracy(keras.metrics.Metric):
    """Share of real target tokens (label > 0) whose most likely id is the label."""

    def __init__(self, name="token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, labels, logits, sample_weight=None):
        labels = ops.cast(labels, "int32")
        real = ops.cast(ops.not_equal(labels, 0), "float32")
        hits = ops.cast(ops.equal(ops.cast(ops.argmax(logits, axis=-1), "int32"), labels),
                        "float32")
        self.correct.assign_add(ops.sum(hits * real))
        self.total.assign_add(ops.sum(real))

    def result(self):
        return self.correct / ops.maximum(self.total, 1.0)
