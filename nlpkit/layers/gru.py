"""Gated recurrent unit (Cho et al. 2014)."""

import keras
from keras import ops

from nlpkit.layers.recurrent import Recurrent
from nlpkit.layers.recurrent_cell import RecurrentCell


@keras.saving.register_keras_serializable(package="nlpkit")
class GRUCell(RecurrentCell):
    """GRU cell, in Keras' convention.

    With `reset_after=False` (the paper's form):

        z_t  = sigmoid(x_t W_z + h_{t-1} U_z + b_z)                update gate
        r_t  = sigmoid(x_t W_r + h_{t-1} U_r + b_r)                reset gate
        h~_t = tanh(x_t W_h + (r_t * h_{t-1}) U_h + b_h)
        h_t  = z_t * h_{t-1} + (1 - z_t) * h~_t

    With `reset_after=True` (the default; the form cuDNN implements) the reset gate is applied
    after the recurrent matmul, and the recurrent half has its own bias b'_:

        z_t  = sigmoid(x_t W_z + b_z + h_{t-1} U_z + b'_z)
        r_t  = sigmoid(x_t W_r + b_r + h_{t-1} U_r + b'_r)
        h~_t = tanh(x_t W_h + b_h + r_t * (h_{t-1} U_h + b'_h))
        h_t  = z_t * h_{t-1} + (1 - z_t) * h~_t

    Note: Cho et al. and many textbooks write h_t = (1 - z_t) * h_{t-1} + z_t * h~_t, i.e. their
    z is our 1 - z. We follow Keras (and cuDNN) so that weights copy from `keras.layers.GRUCell`.

    Weights: `kernel` (input_dim, 3*units), `recurrent_kernel` (units, 3*units), gate blocks in the
    order z, r, h~; `bias` (3*units,) with `reset_after=False`, or (2, 3*units) with
    `reset_after=True` (row 0 input bias, row 1 recurrent bias): the layout of
    `keras.layers.GRUCell`.

    Args:
        units: Positive integer, dimensionality of the output space.
        reset_after: Apply the reset gate after the recurrent matmul. Default: `True`.
        **kwargs: `activation`, `recurrent_activation`, `use_bias`, initializers, regularizers,
            constraints, `dropout`, `recurrent_dropout`, `seed`: see `RecurrentCell`.

    Call arguments:
        inputs: `(batch, input_dim)`, one time step.
        states: `(batch, units)`, h_{t-1} (or a one-element list of it).
        training: Python boolean; enables dropout.

    Returns:
        `(h_t, h_t)`: output and new state, both `(batch, units)`.

    Example:

    >>> layer = keras.layers.RNN(GRUCell(8))
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 8)
    """

    gate_names = ("z", "r", "h")
    state_names = ("h",)

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = reset_after

    def bias_shape(self):
        if self.reset_after:
            return (2, 3 * self.units)
        return (3 * self.units,)

    def input_bias(self):
        return self.bias[0] if self.reset_after else self.bias

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        h_prev = states[0]
        h_in = h_prev if recurrent_dropout_mask is None else h_prev * recurrent_dropout_mask
        x_z, x_r, x_h = self.split_gates(projected_inputs)
        units = self.units
        if self.reset_after:
            # shape: (batch, 3 * units), blocks z, r, h~
            recurrent = ops.matmul(h_in, self.recurrent_kernel)
            if self.use_bias:
                recurrent = recurrent + self.bias[1]
            r_z, r_r, r_h = self.split_gates(recurrent)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            h_candidate = self.activation(x_h + r * r_h)
        else:
            # shape: (batch, 2 * units), blocks z, r
            recurrent = ops.matmul(h_in, self.recurrent_kernel[:, : 2 * units])
            r_z, r_r = ops.split(recurrent, 2, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            h_candidate = self.activation(
                x_h + ops.matmul(r * h_in, self.recurrent_kernel[:, 2 * units :])
            )
        h = z * h_prev + (1.0 - z) * h_candidate
        return h, [h]

    def fused_recurrence_blocker(self):
        if not self.reset_after:
            return "GRUCell has reset_after=False; the fused program is the reset_after=True form"
        return self.activation_and_dtype_blocker(gated=True)

    def fused_recurrence(self):
        if self.fused_recurrence_blocker() is not None:
            return None
        # The recurrent half's bias (row 1) goes inside the reset gate's product, so the program
        # takes it as a parameter rather than folding it into the input bias.
        parameters = (self.bias[1],) if self.use_bias else ()
        return self.describe_fused_recurrence("gru_reset_after", parameters=parameters)

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}


@keras.saving.register_keras_serializable(package="nlpkit")
class GRU(Recurrent):
    """`GRUCell` run over a sequence (see `GRUCell` for the formula and weights).

    Args:
        units: Positive integer, dimensionality of the output space.
        **kwargs: The cell's arguments (`GRUCell`, including `reset_after`) and the sequence
            arguments (`return_sequences`, `return_state`, `go_backwards`, `stateful`,
            `unroll`): see `nlpkit.layers.Recurrent`.

    Input shape: `(batch, time, features)`, with an optional mask `(batch, time)`.
    Output shape: `(batch, units)`, or `(batch, time, units)` with `return_sequences=True`;
    followed by the final state `(batch, units)` with `return_state=True`.

    Example:

    >>> GRU(8, return_sequences=True)(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 8)
    """

    cell_class = GRUCell
