"""A trained text encoder out as a reusable TensorFlow Hub module (the TF2 SavedModel format).

`export_text_encoder(tokenizer, encoder, export_base)` writes the part of a model that turns a
sentence into a vector (tokenizer, embedding, encoder, pooling) as
`<export_base>/<version>/`, a SavedModel with the "Reusable SavedModel" interface of TF Hub, so
that other models start from it:

    obj = hub.load(path)              # or tf.saved_model.load(path), after `import tensorflow_text`
    obj(["a sentence", "another"])    # __call__(inputs, training=False): float32 [batch, dim]
    obj.variables                     # every variable the functions use
    obj.trainable_variables           # those fine-tuning may change (frozen layers' are left out)
    obj.regularization_losses         # one function of no arguments per regularized weight
    obj.signatures["serving_default"](text=...)["default"]   # for TensorFlow Serving

It loads with `hub.load`, `nlpkit.layers.HubLayer` (Keras 3) and `hub.KerasLayer` (tf_keras),
fine-tunes through the last two, and serves with TensorFlow Serving: the tokenizer is in the graph,
and only TensorFlow and TF Text ops are used (TF Text must be imported before loading when the
tokenizer uses its ops, as for any module with TF Text preprocessing). Like every nlpkit export it
is written to a staging directory and renamed to its version number when complete
(`nlpkit.export.export_model`).

With `per_token=True` the module is a per-token encoder in ELMo's style (the interface of
`nlpkit.layers.token_module`): `__call__` takes a batch of strings (the tokenizer, here a layer
from strings `[batch]` to a ragged `[batch, (tokens)]` string tensor, splits them in the graph) or
a dict of pre-tokenized input `{"tokens": [batch, time] strings, "sequence_len": [batch] int32}`,
and answers a dict of `[batch, time, dim]` outputs (`word_emb`, `lstm_outputs1`, ...,
`default`) with `mask` and `sequence_len`; the signatures are `serving_default` (`text`) and
`tokens` (`tokens`, `sequence_len`).

Only weight regularizers become `regularization_losses`: activity regularizers depend on the
inputs, which a function of no arguments does not have.

This module takes layers as arguments and imports no task: a task's recipe picks the layers of its
model that make the encoder.
"""

import keras
import tensorflow as tf

from nlpkit.export.versioned import export_model
from nlpkit.layers import token_module

INPUT_NAME = "text"
# Hub's name for a module's main output (what hub.KerasLayer returns from TF1 modules).
OUTPUT_NAME = "default"
# The signature of a per-token module that takes pre-tokenized input.
TOKENS_SIGNATURE = "tokens"


def _unique(variables):
    seen, kept = set(), []
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            kept.append(variable)
    return kept


def _lookup_resources(layers):
    """The lookup tables and other TensorFlow resources the layers hold (a vocabulary table, a
    Hub module's tables), which the SavedModel must own for its functions to find them."""
    resources = []
    for layer in layers:
        for trackable in tf.train.TrackableView(layer).descendants():
            if isinstance(trackable, tf.saved_model.experimental.TrackableResource):
                resources.append(trackable)
    return _unique(resources)


def _regularization_loss(weight, regularizer):
    return tf.function(lambda: tf.cast(regularizer(weight), tf.float32), input_signature=[])


class TextEncoderArchive:
    """The Reusable SavedModel of a text encoder, ready to be written.

    It has `write_out(directory)` like `keras.export.ExportArchive`, so
    `nlpkit.export.export_model` writes it as a version directory. Building it runs the encoder
    once on two short strings, which checks that it maps strings to `[batch, dim]`.

    Args:
        tokenizer: a Keras layer from a `tf.string` tensor `[batch]` to the encoder's input
            (e.g. an `nlpkit.text.WordTokenizer`), or None when the encoder takes strings.
        encoder: a Keras layer or model from the tokenizer's output to a pooled vector
            `[batch, dim]`, or a list of layers applied in order. Each gets `training`.

    Raises:
        ValueError: the encoder's output is not `[batch, dim]` floats.
    """

    def __init__(self, tokenizer, encoder, per_token=False):
        encoder_layers = list(encoder) if isinstance(encoder, (list, tuple)) else [encoder]
        if not encoder_layers or not all(isinstance(layer, keras.layers.Layer)
                                         for layer in encoder_layers):
            raise ValueError(
                f"encoder must be a Keras layer or model, or a list of them; got {encoder!r}"
            )
        self.layers = ([] if tokenizer is None else [tokenizer]) + encoder_layers
        self.signatures = {}
        if per_token:
            call = self._per_token_call(tokenizer, encoder_layers)
        else:
            call = self._sentence_call(tokenizer, encoder_layers)
        # A plain trackable whose attributes become the loaded object's (tf.Module would not do:
        # its `variables` and `trainable_variables` are read-only properties, never saved).
        root = tf.train.Checkpoint()
        root.__call__ = call
        root.variables = _unique(v for layer in self.layers for v in layer.variables)
        root.trainable_variables = _unique(
            v for layer in self.layers for v in layer.trainable_variables
        )
        root.regularization_losses = [
            _regularization_loss(weight, weight.regularizer)
            for weight in root.trainable_variables
            if getattr(weight, "regularizer", None) is not None
        ]
        root.resources = _lookup_resources(self.layers)
        self.root = root

    def _sentence_call(self, tokenizer, encoder_layers):

        def encode(inputs, training=False):
            features = inputs if tokenizer is None else tokenizer(inputs)
            for layer in encoder_layers:
                features = layer(features, training=training)
            if features.shape.rank != 2 or not features.dtype.is_floating:
                raise ValueError(
                    f"a text encoder must output [batch, dim] floats; this one gives "
                    f"{features.dtype.name} of shape {features.shape}"
                )
            # Mixed-precision encoders compute in float16: the module's interface is float32.
            return tf.cast(features, tf.float32)

        # Eagerly first: builds unbuilt layers (variables cannot be created while tracing
        # a saved function) and checks the output before anything is written.
        encode(tf.constant(["a", ""]))
        # `training` is a Python bool, as the Reusable SavedModel interface has it: one traced
        # graph for each value.
        call = tf.function(encode)
        for training in (False, True):
            call.get_concrete_function(tf.TensorSpec([None], tf.string), training=training)
        self.dimension = int(call.get_concrete_function(
            tf.TensorSpec([None], tf.string), training=False).structured_outputs.shape[-1])

        def serve(text):
            return {OUTPUT_NAME: call(text, training=False)}

        self.signatures["serving_default"] = tf.function(
            serve, input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)]
        )
        return call

    def _per_token_call(self, tokenizer, encoder_layers):
        if tokenizer is None:
            raise ValueError("a per-token encoder needs a tokenizer from strings to tokens")
        tokens_spec = {
            token_module.TOKENS: tf.TensorSpec([None, None], tf.string),
            token_module.SEQUENCE_LENGTH: tf.TensorSpec([None], tf.int32),
        }

        def encode(inputs, training=False):
            if isinstance(inputs, dict):
                tokens = tf.convert_to_tensor(inputs[token_module.TOKENS], tf.string)
                lengths = tf.cast(inputs[token_module.SEQUENCE_LENGTH], tf.int32)
            else:
                pieces = tokenizer(inputs)
                if not isinstance(pieces, tf.RaggedTensor):
                    raise ValueError("a per-token encoder's tokenizer must give a ragged "
                                     f"[batch, (tokens)] string tensor; got {pieces!r}")
                # shape: (batch, time), "" after each row's last token
                tokens = pieces.to_tensor(default_value="")
                lengths = tf.cast(pieces.row_lengths(), tf.int32)
            # shape: (batch, time)
            mask = tf.sequence_mask(lengths, tf.shape(tokens)[1])
            # Whatever a caller put after a row's length is padding, read as "".
            tokens = tf.where(mask, tokens, "")
            features = {token_module.TOKENS: tokens, token_module.SEQUENCE_LENGTH: lengths}
            for layer in encoder_layers:
                features = layer(features, training=training)
            if not isinstance(features, dict) or token_module.WORD_EMBEDDING not in features:
                raise ValueError("a per-token encoder must output a dict with "
                                 f"{token_module.WORD_EMBEDDING!r}, "
                                 f"{token_module.LAYER_PREFIX}1, ...; this one gives {features!r}")
            outputs = {}
            for name, value in features.items():
                if value.shape.rank != 3 or not value.dtype.is_floating:
                    raise ValueError(f"a per-token encoder's outputs must be [batch, time, dim] "
                                     f"floats; {name!r} is {value.dtype.name} of shape "
                                     f"{value.shape}")
                # Zeros after each row's length (mixed-precision encoders compute in float16:
                # the interface is float32).
                outputs[name] = tf.where(mask[:, :, None], tf.cast(value, tf.float32), 0.0)
            names = token_module.layer_names(outputs)
            if token_module.DEFAULT not in outputs:
                outputs[token_module.DEFAULT] = tf.add_n([outputs[n] for n in names]) / len(names)
            outputs[token_module.MASK] = mask
            outputs[token_module.SEQUENCE_LENGTH] = lengths
            return outputs

        # Eagerly first, on both inputs: builds the layers and checks the outputs.
        encode(tf.constant(["a", ""]))
        encode({token_module.TOKENS: tf.constant([["a", "b"]]),
                token_module.SEQUENCE_LENGTH: tf.constant([1], tf.int32)})
        call = tf.function(encode)
        for training in (False, True):
            call.get_concrete_function(tf.TensorSpec([None], tf.string), training=training)
            call.get_concrete_function(tokens_spec, training=training)

        def serve_text(text):
            return call(text, training=False)

        def serve_tokens(tokens, sequence_len):
            return call({token_module.TOKENS: tokens, token_module.SEQUENCE_LENGTH: sequence_len},
                        training=False)

        self.signatures["serving_default"] = tf.function(
            serve_text, input_signature=[tf.TensorSpec([None], tf.string, name=INPUT_NAME)])
        self.signatures[TOKENS_SIGNATURE] = tf.function(serve_tokens, input_signature=[
            tf.TensorSpec([None, None], tf.string, name=token_module.TOKENS),
            tf.TensorSpec([None], tf.int32, name=token_module.SEQUENCE_LENGTH)])
        return call

    def write_out(self, directory, options=None, verbose=False):
        """Writes the SavedModel to `directory` (`verbose` is accepted for ExportArchive's
        interface and ignored)."""
        del verbose
        tf.saved_model.save(
            self.root,
            str(directory),
            signatures=self.signatures,
            options=options,
        )


def export_text_encoder(
    tokenizer,
    encoder,
    export_base,
    *,
    version=None,
    run_config=None,
    chief=None,
    per_token=False,
):
    """Writes a text encoder as the reusable TF Hub module `<export_base>/<version>/`.

    Args:
        tokenizer: Keras layer from `tf.string` `[batch]` to the encoder's input, or None (see
            `TextEncoderArchive`).
        encoder: Keras layer or model (or list of layers) from there to `[batch, dim]`; frozen
            layers' weights are saved but left out of `trainable_variables`.
        export_base: the module's base directory, e.g. `saved_models/sentiment-encoder`.
        version: integer version, None for the next free one; an existing one is never
            overwritten.
        run_config: optional JSON-ready dict stored as `assets.extra/run_config.json`.
        chief: see `nlpkit.export.export_model`.
        per_token: write a per-token module (see the module docstring): `tokenizer` gives
            ragged string tokens, `encoder` maps `{"tokens", "sequence_len"}` to a dict of
            `[batch, time, dim]` layers `word_emb`, `lstm_outputs1`, ... (and optionally its
            own `default`; else the mean of the layers).

    Returns:
        The new version directory, a Hub handle (None on non-chief workers).

    Example:

    ```python
    tokenizer = nlpkit.text.WordTokenizer(lowercase=True)
    tokenizer.adapt(train_texts)
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(tokenizer.vocabulary_size, 64, mask_zero=True)(ids)
    encoder = keras.Model(ids, nlpkit.layers.MeanPooling()(nlpkit.layers.LSTM(64, ...)(vectors)))
    # ... train a classifier on top of encoder ...
    handle = export_text_encoder(tokenizer, encoder, "saved_models/sst2-encoder")
    nlpkit.layers.HubLayer(handle, trainable=True)   # strings -> [batch, 64], in a new model
    ```
    """
    archive = TextEncoderArchive(tokenizer, encoder, per_token=per_token)
    return export_model(archive, export_base, version=version, run_config=run_config, chief=chief)
