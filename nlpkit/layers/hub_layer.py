"""`HubLayer`: a TensorFlow Hub module (or any reusable SavedModel) as a Keras 3 layer.

`hub.KerasLayer` is a `tf_keras` (Keras 2) layer, and Keras 3 models refuse it
(tensorflow/hub#903). `HubLayer` does the same job in Keras 3, for the TensorFlow backend:

- it loads the module with `hub.load` (a local directory, a `gs://` path, or a tfhub.dev/Kaggle URL
  when the machine is online), once, when the layer is made;
- a TF2 SavedModel (the "Reusable SavedModel" interface: `__call__(inputs, training=...)`,
  `variables`, `trainable_variables`, `regularization_losses`) is called through its `__call__`,
  with `training` passed when the function takes it;
- a TF1 Hub-format module (a `hub.Module` export: `tfhub_module.pb` beside a SavedModel with the
  empty tag set) is called through a signature, `"default"` and its output `"default"` unless
  `signature`/`output_key` say otherwise; so is a TF2 SavedModel when `signature` is given;
- the module's variables become the layer's weights: trainable ones are fine-tuned by `fit` when
  the layer is trainable, and all of them are saved in `.keras` files and checkpoints;
- the module's regularization losses are added to the model's loss while the layer is trainable
  (a frozen module's weights cannot change, so its penalty would only shift the reported loss).

A `.keras` file stores the layer by `handle` (not the module's graph): loading it loads the module
from `handle` again and then the saved weight values, so the handle must still resolve. An export
(`keras.export.ExportArchive`, `nlpkit.export.export_model`) copies the module's functions,
variables and tables into the new SavedModel, which then needs no Hub and no nlpkit to run.

Example:

```python
encoder = HubLayer("/models/nnlm-en-dim50/2", trainable=True)
text = keras.Input(shape=(), dtype="string")
probabilities = keras.layers.Dense(2, activation="softmax")(encoder(text))
model = keras.Model(text, probabilities)
```
"""

import inspect
import json

import keras

if keras.backend.backend() == "tensorflow":
    # Hub modules are TensorFlow graphs: under other backends TensorFlow is never imported here.
    import tensorflow as tf
else:
    tf = None

# What `hub.KerasLayer` assumes for TF1 Hub-format modules: every `hub.Module` export has a
# "default" signature with a "default" output.
TF1_DEFAULT_SIGNATURE = "default"
TF1_DEFAULT_OUTPUT = "default"


def _require_tensorflow_backend():
    backend = keras.backend.backend()
    if backend != "tensorflow":
        raise ValueError(
            f"HubLayer runs TensorFlow Hub modules (TensorFlow graphs), so it needs the "
            f"TensorFlow backend; the Keras backend is {backend!r}. Set KERAS_BACKEND=tensorflow."
        )


def load_module(handle):
    """`hub.load(handle)` with the TF1 Hub format recognised (`_is_hub_module_v1` is set)."""
    # Imported here: tensorflow_hub imports tf_keras, which a model without Hub never needs.
    import tensorflow_hub as hub

    return hub.load(handle)


def accepts_training(function):
    """Whether `function` takes an argument named `training`."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return "training" in parameters


def _weight_name(variable):
    # Keras weight names may not hold "/", and the ":0" output suffix says nothing here.
    return variable.name.split(":")[0].replace("/", "_")


@keras.saving.register_keras_serializable(package="nlpkit")
class HubLayer(keras.layers.Layer):
    """A TensorFlow Hub module as a Keras 3 layer (TensorFlow backend).

    See the module docstring for what is loaded and how. Frozen by default, like
    `hub.KerasLayer`: pass `trainable=True` to fine-tune the module's trainable variables with
    the rest of the model (also under `tf.distribute` strategies: make the layer inside
    `strategy.scope()`, so that its variables are loaded as distributed variables).

    Args:
        handle: where the module is: a directory, a `gs://` path, or a URL `hub.load` resolves
            (tfhub.dev, Kaggle, a `.tar.gz`). Saved in the layer config.
        trainable: whether `fit` changes the module's trainable variables. Refused with a
            signature (TF1 modules always use one): a signature is an inference graph, without
            the training-mode graph and the update ops that fine-tuning needs.
        signature: call this signature of the module instead of its `__call__`, e.g.
            `"serving_default"`; TF1 Hub-format modules default to `"default"`.
        output_key: which output of a signature (a dict) the layer returns; needed with a
            signature that has more than one output. TF1 Hub-format modules default to
            `"default"`. With `__call__`, picks one entry of a dict result.
        arguments: optional dict of extra keyword arguments for every call of the module (JSON
            values, as they are saved in the config).
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Call arguments:
        inputs: what the module takes: for a text module a `tf.string` tensor of shape `(batch,)`
            (in a functional model `keras.Input(shape=(), dtype="string")`); with a signature of
            several inputs, a dict from input name to tensor.
        training: Python bool (or boolean tensor); passed to a module whose `__call__` takes
            `training`, and only while the layer is trainable (a frozen module always runs in
            inference mode, like a frozen `BatchNormalization`).

    Output: the module's output (or the `output_key` entry of it), in the module's dtype.

    Raises:
        ValueError: the Keras backend is not TensorFlow; `trainable=True` with a signature; an
            unknown signature or output key; a non-callable module without `signature`.

    Example:

    ```python
    embed = HubLayer("saved_models/glove-50d/1")          # strings -> (batch, 50)
    embed(tf.constant(["a good movie", "a bad one"])).shape  # (2, 50)

    tf1_embed = HubLayer("/modules/tf1-nnlm")             # signature "default", output "default"
    ```
    """

    def __init__(
        self,
        handle,
        trainable=False,
        signature=None,
        output_key=None,
        arguments=None,
        **kwargs,
    ):
        _require_tensorflow_backend()
        if not isinstance(handle, str):
            raise ValueError(
                f"handle must be a string (a path or URL), saved in the layer config; got "
                f"{type(handle).__name__}"
            )
        arguments = dict(arguments or {})
        try:
            json.dumps(arguments)
        except TypeError as error:
            raise ValueError(
                f"arguments must be JSON values (they go in the config): {error}"
            ) from None
        # The module fixes its own dtypes: Keras must not cast float inputs to a mixed-precision
        # compute dtype the module's graph was not traced for.
        kwargs.setdefault("autocast", False)
        super().__init__(trainable=trainable, **kwargs)
        self.handle = handle
        self.arguments = arguments
        # String and other inputs the module takes cannot be compiled by XLA.
        self.supports_jit = False

        module = load_module(handle)
        self.is_tf1_hub_format = bool(getattr(module, "_is_hub_module_v1", False))
        if self.is_tf1_hub_format:
            signature = signature or TF1_DEFAULT_SIGNATURE
            output_key = output_key or TF1_DEFAULT_OUTPUT
        self.signature = signature
        self.output_key = output_key
        if trainable and signature is not None:
            why = " (a TF1 Hub-format module has only signatures)" if self.is_tf1_hub_format else ""
            raise ValueError(
                f"HubLayer({handle!r}) cannot be trainable when it calls the signature "
                f"{signature!r}{why}: a signature is an inference graph, without the training "
                "mode and the update ops fine-tuning needs. Use trainable=False, or a TF2 "
                "SavedModel called through its __call__."
            )
        self._function = self._pick_function(module)
        # A restored object's `__call__` attribute is the function with the real signature.
        self._takes_training = signature is None and accepts_training(module.__call__)
        # Attributes, so that exports and checkpoints of the model reach the module's functions,
        # tables and variables (Keras tracks the wrapping weights below the same way).
        self.module = module
        self.module_weights = self._wrap_variables(module)
        # A frozen Keras layer keeps its trainable weights with their flag cleared, so that
        # `layer.trainable = True` can unfreeze them. The `trainable` setter does that, but
        # TensorFlow's attribute tracking skips it when the value does not change, so here the
        # flags are set by hand.
        for weight in self.module_weights:
            weight.trainable = weight.trainable and self.trainable
        self._regularization_losses = list(getattr(module, "regularization_losses", None) or [])
        for index, loss in enumerate(self._regularization_losses):
            if not callable(loss):
                raise ValueError(
                    f"{handle}: regularization_losses[{index}] is not callable; the Reusable "
                    "SavedModel interface wants functions of no arguments returning a scalar"
                )
        self.built = True

    def _pick_function(self, module):
        if self.signature is None:
            if not callable(module):
                signatures = sorted(getattr(module, "signatures", {}) or {})
                raise ValueError(
                    f"{self.handle}: the module has no __call__; name one of its signatures "
                    f"with signature=... (it has {signatures})"
                )
            return module
        signatures = getattr(module, "signatures", None) or {}
        if self.signature not in signatures:
            raise ValueError(
                f"{self.handle}: no signature {self.signature!r}; it has {sorted(signatures)}"
            )
        function = signatures[self.signature]
        outputs = function.structured_outputs
        if self.output_key is None and isinstance(outputs, dict) and len(outputs) > 1:
            raise ValueError(
                f"{self.handle}: signature {self.signature!r} has outputs {sorted(outputs)}; "
                "pick one with output_key=..."
            )
        if self.output_key is not None and self.output_key not in outputs:
            raise ValueError(
                f"{self.handle}: signature {self.signature!r} has no output "
                f"{self.output_key!r}; it has {sorted(outputs)}"
            )
        return function

    def _wrap_variables(self, module):
        """Keras weights around the module's own variables (the same storage, no copy)."""
        # Through a signature nothing is fine-tuned (see `trainable`), so a later
        # `model.trainable = True` must not hand the module's variables to the optimizer.
        trainable = []
        if self.signature is None:
            trainable = list(getattr(module, "trainable_variables", None) or [])
        trainable_ids = {id(variable) for variable in trainable}
        others = [
            variable
            for variable in list(getattr(module, "variables", None) or [])
            if id(variable) not in trainable_ids
        ]
        weights = []
        for variable, is_trainable in [(v, True) for v in trainable] + [(v, False) for v in others]:
            # A keras.Variable made from a tf.Variable keeps that very variable as its value, so
            # the module's functions and the optimizer update the same storage.
            weights.append(
                keras.Variable(
                    initializer=variable,
                    shape=variable.shape,
                    dtype=variable.dtype.name,
                    trainable=is_trainable,
                    autocast=False,
                    name=_weight_name(variable),
                )
            )
        return weights

    def _single_input_name(self):
        _, keywords = self._function.structured_input_signature
        return next(iter(keywords)) if len(keywords) == 1 else None

    def call(self, inputs, training=None):
        kwargs = dict(self.arguments)
        if self.signature is not None:
            # Signatures take keyword arguments only.
            if isinstance(inputs, dict):
                kwargs.update(inputs)
            else:
                name = self._single_input_name()
                if name is None:
                    _, keywords = self._function.structured_input_signature
                    raise ValueError(
                        f"{self.handle}: signature {self.signature!r} takes {sorted(keywords)}; "
                        "pass a dict of inputs"
                    )
                kwargs[name] = inputs
            result = self._function(**kwargs)
        elif not self._takes_training:
            result = self._function(inputs, **kwargs)
        else:
            # A frozen module always runs in inference mode.
            if not self.trainable or training is None:
                training = False
            if tf.is_tensor(training):
                result = tf.cond(
                    tf.cast(training, tf.bool),
                    lambda: self._function(inputs, training=True, **kwargs),
                    lambda: self._function(inputs, training=False, **kwargs),
                )
            else:
                result = self._function(inputs, training=bool(training), **kwargs)
        if self.trainable and self._regularization_losses:
            self.add_loss(
                tf.add_n([tf.cast(loss(), tf.float32) for loss in self._regularization_losses])
            )
        if self.output_key is not None:
            if not isinstance(result, dict) or self.output_key not in result:
                available = sorted(result) if isinstance(result, dict) else type(result).__name__
                raise ValueError(
                    f"{self.handle}: output_key {self.output_key!r} is not in the module's "
                    f"output ({available})"
                )
            result = result[self.output_key]
        elif isinstance(result, dict) and len(result) == 1:
            result = next(iter(result.values()))
        return result

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "handle": self.handle,
                "signature": self.signature,
                "output_key": self.output_key,
                "arguments": dict(self.arguments),
            }
        )
        return config
