"""`Highway`: highway layers (Srivastava et al. 2015, "Highway Networks").

Each layer lets its input through where its gate says so and transforms it elsewhere:

    t = sigmoid(x @ W_t + b_t)            (the transform gate)
    y = t * g(x @ W + b) + (1 - t) * x

A negative gate bias starts every layer close to the identity, which is what lets deep stacks
train (Srivastava et al. use -1 to -3; Kim et al. 2016's character-aware language model, whose
character CNN feeds a highway layer as here, uses -2). Only public `keras.ops` are used, so the
layer runs under every Keras backend.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nlpkit")
class Highway(keras.layers.Layer):
    """`num_layers` highway layers applied in turn to the last axis; the width never changes.

    Args:
        num_layers: int >= 1, how many highway layers.
        activation: `g` above (name or callable; default `"relu"`).
        gate_bias: float, the starting value of every `b_t` (default -2: mostly carry).
        kernel_initializer, bias_initializer: initializers of `W`/`W_t` and of `b`.
        kernel_regularizer: optional regularizer of `W` and `W_t`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(..., dim)`, e.g. `(batch, time, dim)` word features.
        mask: optional; passed through unchanged (each position is transformed on its own).

    Input shape: `(..., dim)`. Output shape: the same.

    Weights, for each layer `i`: `kernel_{i}` `(dim, dim)`, `bias_{i}` `(dim,)`,
    `gate_kernel_{i}` `(dim, dim)`, `gate_bias_{i}` `(dim,)`.

    Example:

    ```python
    words = keras.Input(shape=(None, 64))            # e.g. a character CNN's word features
    features = Highway(num_layers=2)(words)          # (batch, time, 64)
    ```
    """

    def __init__(
        self,
        num_layers=1,
        activation="relu",
        gate_bias=-2.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"Highway: num_layers must be a positive int; got {num_layers!r}.")
        self.num_layers = num_layers
        self.activation = keras.activations.get(activation)
        self.gate_bias = float(gate_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim is None:
            raise ValueError(f"Highway needs a known last dimension; got shape "
                             f"{tuple(input_shape)}.")
        self._dim = dim
        self._highway_weights = []
        for index in range(self.num_layers):
            kernel = self.add_weight(name=f"kernel_{index}", shape=(dim, dim),
                                     initializer=self.kernel_initializer,
                                     regularizer=self.kernel_regularizer)
            bias = self.add_weight(name=f"bias_{index}", shape=(dim,),
                                   initializer=self.bias_initializer)
            gate_kernel = self.add_weight(name=f"gate_kernel_{index}", shape=(dim, dim),
                                          initializer=self.kernel_initializer,
                                          regularizer=self.kernel_regularizer)
            gate_bias = self.add_weight(name=f"gate_bias_{index}", shape=(dim,),
                                        initializer=keras.initializers.Constant(self.gate_bias))
            self._highway_weights.append((kernel, bias, gate_kernel, gate_bias))

    def call(self, inputs):
        if inputs.shape[-1] != self._dim:
            raise ValueError(f"Highway was built for a last dimension of {self._dim}; got shape "
                             f"{tuple(inputs.shape)}.")
        outputs = inputs
        for kernel, bias, gate_kernel, gate_bias in self._highway_weights:
            gate = ops.sigmoid(ops.matmul(outputs, gate_kernel) + gate_bias)
            transformed = self.activation(ops.matmul(outputs, kernel) + bias)
            outputs = gate * transformed + (1.0 - gate) * outputs
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "num_layers": self.num_layers,
            "activation": keras.activations.serialize(self.activation),
            "gate_bias": self.gate_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }
