"""The original LSTM, without a forget gate (Hochreiter & Schmidhuber 1997)."""

import keras
from keras import ops

from nlpkit.layers.recurrent import Recurrent
from nlpkit.layers.recurrent_cell import RecurrentCell


@keras.saving.register_keras_serializable(package="nlpkit")
class NoForgetGateLSTMCell(RecurrentCell):
    """LSTM cell without a forget gate: the cell state only accumulates.

        i_t  = sigmoid(x_t W_i + h_{t-1} U_i + b_i)
        C~_t = tanh(x_t W_c + h_{t-1} U_c + b_c)
        o_t  = sigmoid(x_t W_o + h_{t-1} U_o + b_o)
        C_t  = C_{t-1} + i_t * C~_t
        h_t  = o_t * tanh(C_t)

    Without a way to forget, C_t can grow over long inputs; Gers et al. (2000) added the forget
    gate for that reason. Useful as a baseline and for short sequences.

    Weights: `kernel` (input_dim, 3*units), `recurrent_kernel` (units, 3*units), `bias`
    (3*units,), gate blocks in the order i, c~, o.

    Args:
        units: Positive integer, dimensionality of the output space.
        **kwargs: `activation`, `recurrent_activation`, `use_bias`, initializers, regularizers,
            constraints, `dropout`, `recurrent_dropout`, `seed`: see `RecurrentCell`.

    Call arguments:
        inputs: `(batch, input_dim)`, one time step.
        states: `[h_{t-1}, C_{t-1}]`, each `(batch, units)`.
        training: Python boolean; enables dropout.

    Returns:
        `(h_t, [h_t, C_t])`.

    Example:

    >>> layer = keras.layers.RNN(NoForgetGateLSTMCell(8))
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 8)
    """

    gate_names = ("i", "c", "o")
    state_names = ("h", "c")

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        h_prev, c_prev = states
        if recurrent_dropout_mask is not None:
            h_prev = h_prev * recurrent_dropout_mask
        # shape: (batch, 3 * units), blocks i, c~, o
        z = projected_inputs + ops.matmul(h_prev, self.recurrent_kernel)
        z_i, z_c, z_o = self.split_gates(z)
        i = self.recurrent_activation(z_i)
        c = c_prev + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def fused_recurrence_blocker(self):
        return self.activation_and_dtype_blocker(gated=True)

    def fused_recurrence(self):
        if self.fused_recurrence_blocker() is not None:
            return None
        return self.describe_fused_recurrence("no_forget_gate_lstm")


@keras.saving.register_keras_serializable(package="nlpkit")
class NoForgetGateLSTM(Recurrent):
    """`NoForgetGateLSTMCell` run over a sequence; arguments and shapes as `nlpkit.layers.LSTM`.

    Example:

    >>> NoForgetGateLSTM(8)(np.zeros((2, 5, 3), "float32")).shape
    (2, 8)
    """

    cell_class = NoForgetGateLSTMCell
