"""Coupled input-forget gate LSTM (CIFG; Greff et al. 2017, "LSTM: A Search Space Odyssey")."""

import keras
from keras import ops

from nlpkit.layers.lstm import LSTMCell
from nlpkit.layers.recurrent import Recurrent


@keras.saving.register_keras_serializable(package="nlpkit")
class CoupledLSTMCell(LSTMCell):
    """LSTM cell whose input gate is tied to its forget gate: i_t = 1 - f_t.

        f_t  = sigmoid(x_t W_f + h_{t-1} U_f + b_f)
        C~_t = tanh(x_t W_c + h_{t-1} U_c + b_c)
        o_t  = sigmoid(x_t W_o + h_{t-1} U_o + b_o)
        C_t  = f_t * C_{t-1} + (1 - f_t) * C~_t
        h_t  = o_t * tanh(C_t)

    One gate fewer than `LSTMCell` (a quarter fewer weights), and Greff et al. found it no worse.
    It subclasses `LSTMCell` for everything but the gates and `step`.

    Weights: `kernel` (input_dim, 3*units), `recurrent_kernel` (units, 3*units), `bias`
    (3*units,), gate blocks in the order f, c~, o.

    Args:
        units: Positive integer, dimensionality of the output space.
        unit_forget_bias: Initialise the forget-gate bias to 1. Default: `True`.
        **kwargs: `activation`, `recurrent_activation`, `use_bias`, initializers, regularizers,
            constraints, `dropout`, `recurrent_dropout`, `seed`: see `RecurrentCell`.

    Call arguments:
        inputs: `(batch, input_dim)`, one time step.
        states: `[h_{t-1}, C_{t-1}]`, each `(batch, units)`.
        training: Python boolean; enables dropout.

    Returns:
        `(h_t, [h_t, C_t])`.

    Example:

    >>> layer = keras.layers.RNN(CoupledLSTMCell(8))
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 8)
    """

    gate_names = ("f", "c", "o")

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        h_prev, c_prev = states
        if recurrent_dropout_mask is not None:
            h_prev = h_prev * recurrent_dropout_mask
        # shape: (batch, 3 * units), blocks f, c~, o
        z = projected_inputs + ops.matmul(h_prev, self.recurrent_kernel)
        z_f, z_c, z_o = self.split_gates(z)
        f = self.recurrent_activation(z_f)
        c = f * c_prev + (1.0 - f) * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def fused_recurrence(self):
        if self.fused_recurrence_blocker() is not None:
            return None
        return self.describe_fused_recurrence("coupled_lstm")


@keras.saving.register_keras_serializable(package="nlpkit")
class CoupledLSTM(Recurrent):
    """`CoupledLSTMCell` run over a sequence; arguments and shapes as `nlpkit.layers.LSTM`.

    Example:

    >>> CoupledLSTM(8)(np.zeros((2, 5, 3), "float32")).shape
    (2, 8)
    """

    cell_class = CoupledLSTMCell
