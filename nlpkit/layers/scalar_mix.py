"""`ScalarMix`: a learned, softmax-weighted sum of a model's layers (ELMo, Peters et al. 2018).

A task model that reads a pretrained language model does not know in advance which of its layers
helps it most. ELMo lets it learn that: with the layers `h_0 .. h_{N-1}` of the same shape,

    s = softmax(w)                     (w: N scalars, zeros at the start: an equal mix)
    mix = gamma * sum_k s_k * h_k      (gamma: one scalar, 1 at the start)

Only public `keras.ops` are used, so the layer runs under every Keras backend.
"""

import keras
from keras import ops

from nlpkit.layers.pooling import require_sequence_shape, sequence_mask

# AllenNLP's epsilon in the variance of `layer_norm`: far below any real variance.
_LAYER_NORM_EPSILON = 1e-12


@keras.saving.register_keras_serializable(package="nlpkit")
class ScalarMix(keras.layers.Layer):
    """`gamma * sum_k softmax(w)_k * h_k` over a list of N same-shaped per-token tensors.

    With `layer_norm=True` each `h_k` is first normalised as AllenNLP's `ScalarMix(do_layer_norm=
    True)` does: its mean and variance are taken over every real (unmasked) position of the
    whole batch and every feature, and `(h_k - mean) / sqrt(variance + 1e-12)` is mixed. Padding
    never enters those statistics, so adding padding to a batch does not change the real
    positions' output.

    Outputs at masked positions are zeros (whatever garbage the inputs hold there), and the mask
    passes through to the next layer.

    Args:
        initial_weights: optional list of N floats, the starting `w` (before the softmax);
            None starts every `w_k` at 0 (an equal mix). Fixes N when given.
        initial_gamma: float, the starting `gamma`.
        layer_norm: bool, normalise each layer over the real positions before mixing.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `trainable`, ...). With
            `trainable=False` the mix stays at its starting weights.

    Call arguments:
        inputs: a list of N >= 1 float tensors, each `(batch, time, dim)`.
        mask: optional boolean `(batch, time)`, `True` for real tokens, or a list of N such
            masks (what Keras passes for a list of masked inputs; the first one that is not None
            is used). When absent, every position is real.

    Input shape: N times `(batch, time, dim)`. Output shape: `(batch, time, dim)`, with the mask.

    Weights: `layer_weights` `(N,)` (the `w` above) and `gamma` `()`; both float32.

    Example:

    ```python
    word_emb = keras.Input(shape=(None, 32))
    layer_1, layer_2 = keras.Input(shape=(None, 32)), keras.Input(shape=(None, 32))
    mix = ScalarMix(name="elmo_mix")([word_emb, layer_1, layer_2])   # (batch, time, 32)
    ```
    """

    def __init__(self, initial_weights=None, initial_gamma=1.0, layer_norm=False, **kwargs):
        super().__init__(**kwargs)
        if initial_weights is not None:
            initial_weights = [float(value) for value in initial_weights]
            if not initial_weights:
                raise ValueError("ScalarMix: initial_weights must hold one float per layer; "
                                 "got an empty list.")
        self.initial_weights = initial_weights
        self.initial_gamma = float(initial_gamma)
        self.layer_norm = bool(layer_norm)
        self.supports_masking = True

    def _check_shapes(self, input_shapes):
        if not isinstance(input_shapes, (list, tuple)) or not input_shapes or not all(
            isinstance(shape, (list, tuple)) for shape in input_shapes
        ):
            raise ValueError(f"ScalarMix expects a list of (batch, time, dim) tensors; got "
                             f"{input_shapes!r}.")
        for shape in input_shapes:
            require_sequence_shape(shape, "ScalarMix", what="(batch, time, dim)")
        dims = {shape[-1] for shape in input_shapes}
        if len(dims) != 1:
            raise ValueError(f"ScalarMix: every layer must have the same last dimension; got "
                             f"shapes {[tuple(shape) for shape in input_shapes]}.")
        if self.initial_weights is not None and len(self.initial_weights) != len(input_shapes):
            raise ValueError(f"ScalarMix: initial_weights has {len(self.initial_weights)} "
                             f"values for {len(input_shapes)} layers.")

    def build(self, input_shapes):
        self._check_shapes(input_shapes)
        self.num_layers = len(input_shapes)
        initial = self.initial_weights or [0.0] * self.num_layers
        self.layer_weights = self.add_weight(
            name="layer_weights",
            shape=(self.num_layers,),
            initializer=keras.initializers.Constant(initial),
            dtype="float32",
            autocast=False,
        )
        self.gamma = self.add_weight(
            name="gamma",
            shape=(),
            initializer=keras.initializers.Constant(self.initial_gamma),
            dtype="float32",
            autocast=False,
        )

    def _normalise(self, tensor, keep, real_elements):
        """`tensor` (zero at padding) minus its mean over the real positions, over its standard
        deviation there."""
        mean = ops.sum(tensor) / real_elements
        centred = ops.where(keep, tensor - mean, ops.zeros_like(tensor))
        variance = ops.sum(ops.square(centred)) / real_elements
        return (tensor - mean) / ops.sqrt(variance + _LAYER_NORM_EPSILON)

    def call(self, inputs, mask=None):
        self._check_shapes([tuple(tensor.shape) for tensor in inputs])
        if isinstance(mask, (list, tuple)):
            mask = next((m for m in mask if m is not None), None)
        mask = sequence_mask(inputs[0], mask)
        # shape: (batch, time, 1)
        keep = ops.expand_dims(mask, -1)
        dtype = inputs[0].dtype
        # `where`, not a product with the mask: padded inf or NaN must reach neither the output
        # nor the gradients of the weights (0 * NaN is NaN).
        inputs = [ops.where(keep, tensor, ops.zeros_like(tensor)) for tensor in inputs]
        if self.layer_norm:
            dim = ops.cast(ops.shape(inputs[0])[-1], dtype)
            # At least one element, so that an all-padding batch divides by 1, not 0.
            real_elements = ops.maximum(ops.sum(ops.cast(mask, dtype)) * dim, 1.0)
            inputs = [self._normalise(tensor, keep, real_elements) for tensor in inputs]
        scales = ops.cast(ops.softmax(self.layer_weights) * self.gamma, dtype)
        mixed = inputs[0] * scales[0]
        for index in range(1, self.num_layers):
            mixed = mixed + inputs[index] * scales[index]
        return ops.where(keep, mixed, ops.zeros_like(mixed))

    def compute_mask(self, inputs, mask=None):
        if isinstance(mask, (list, tuple)):
            return next((m for m in mask if m is not None), None)
        return mask

    def compute_output_shape(self, input_shapes):
        self._check_shapes(input_shapes)
        return tuple(input_shapes[0])

    def get_config(self):
        return {
            **super().get_config(),
            "initial_weights": self.initial_weights,
            "initial_gamma": self.initial_gamma,
            "layer_norm": self.layer_norm,
        }
