"""The Elman recurrent network: one tanh layer fed back into itself."""

import keras
from keras import ops

from nlpkit.layers.recurrent import Recurrent
from nlpkit.layers.recurrent_cell import RecurrentCell


@keras.saving.register_keras_serializable(package="nlpkit")
class SimpleRNNCell(RecurrentCell):
    """Fully-connected recurrent cell (Elman 1990).

        h_t = tanh(x_t W + h_{t-1} U + b)

    Weights: `kernel` W (input_dim, units), `recurrent_kernel` U (units, units), `bias` b (units,):
    the layout of `keras.layers.SimpleRNNCell`, so weights copy both ways.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: The nonlinearity (tanh above). Default: `"tanh"`.
        **kwargs: `use_bias`, initializers, regularizers, constraints, `dropout`,
            `recurrent_dropout`, `seed`: see `RecurrentCell`.

    Call arguments:
        inputs: `(batch, input_dim)`, one time step.
        states: `(batch, units)`, h_{t-1} (or a one-element list of it).
        training: Python boolean; enables dropout.

    Returns:
        `(h_t, h_t)`: output and new state, both `(batch, units)`.

    Example:

    >>> layer = keras.layers.RNN(SimpleRNNCell(8))
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 8)
    """

    gate_names = ("h",)
    state_names = ("h",)

    def __init__(self, units, activation="tanh", **kwargs):
        kwargs.pop("recurrent_activation", None)  # a simple RNN has no gates
        super().__init__(units, activation=activation, **kwargs)

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        h_prev = states[0]
        if recurrent_dropout_mask is not None:
            h_prev = h_prev * recurrent_dropout_mask
        h = self.activation(projected_inputs + ops.matmul(h_prev, self.recurrent_kernel))
        return h, [h]

    def fused_recurrence_blocker(self):
        return self.activation_and_dtype_blocker(gated=False)

    def fused_recurrence(self):
        if self.fused_recurrence_blocker() is not None:
            return None
        return self.describe_fused_recurrence("simple_rnn")

    def get_config(self):
        config = super().get_config()
        del config["recurrent_activation"]
        return config


@keras.saving.register_keras_serializable(package="nlpkit")
class SimpleRNN(Recurrent):
    """`SimpleRNNCell` run over a sequence: h_t = tanh(x_t W + h_{t-1} U + b).

    Args:
        units: Positive integer, dimensionality of the output space.
        **kwargs: The cell's arguments (`SimpleRNNCell`) and the sequence arguments
            (`return_sequences`, `return_state`, `go_backwards`, `stateful`, `unroll`): see
            `nlpkit.layers.Recurrent`.

    Input shape: `(batch, time, features)`, with an optional mask `(batch, time)`.
    Output shape: `(batch, units)`, or `(batch, time, units)` with `return_sequences=True`;
    followed by the final state `(batch, units)` with `return_state=True`.

    Example:

    >>> SimpleRNN(8, return_sequences=True)(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 8)
    """

    cell_class = SimpleRNNCell
