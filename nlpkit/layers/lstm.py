"""Long short-term memory with a forget gate (Hochreiter & Schmidhuber 1997; Gers et al. 2000)."""

import keras
from keras import ops

from nlpkit.layers.recurrent import Recurrent
from nlpkit.layers.recurrent_cell import RecurrentCell, unit_forget_bias_initializer


@keras.saving.register_keras_serializable(package="nlpkit")
class LSTMCell(RecurrentCell):
    """LSTM cell with a forget gate (Gers, Schmidhuber & Cummins 2000).

        i_t  = sigmoid(x_t W_i + h_{t-1} U_i + b_i)          input gate
        f_t  = sigmoid(x_t W_f + h_{t-1} U_f + b_f)          forget gate
        C~_t = tanh(x_t W_c + h_{t-1} U_c + b_c)             candidate
        o_t  = sigmoid(x_t W_o + h_{t-1} U_o + b_o)          output gate
        C_t  = f_t * C_{t-1} + i_t * C~_t
        h_t  = o_t * tanh(C_t)

    Weights: `kernel` (input_dim, 4*units), `recurrent_kernel` (units, 4*units), `bias` (4*units,),
    gate blocks in the order i, f, c~, o: the layout of `keras.layers.LSTMCell`, so
    `set_weights(keras_cell.get_weights())` works both ways.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Used for C~_t and for squashing C_t (tanh above). Default: `"tanh"`.
        recurrent_activation: Used for the gates (sigmoid above). Default: `"sigmoid"`.
        unit_forget_bias: Initialise the forget-gate bias to 1 (Jozefowicz et al. 2015), which
            keeps the cell state flowing early in training. Default: `True`.
        **kwargs: `use_bias`, initializers, regularizers, constraints, `dropout`,
            `recurrent_dropout`, `seed`: see `RecurrentCell`.

    Call arguments:
        inputs: `(batch, input_dim)`, one time step.
        states: `[h_{t-1}, C_{t-1}]`, each `(batch, units)`.
        training: Python boolean; enables dropout.

    Returns:
        `(h_t, [h_t, C_t])`.

    Example:

    >>> layer = keras.layers.RNN(LSTMCell(8))
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 8)
    """

    gate_names = ("i", "f", "c", "o")
    state_names = ("h", "c")

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = unit_forget_bias

    def initial_bias(self):
        if self.unit_forget_bias:
            return unit_forget_bias_initializer(self)
        return self.bias_initializer

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        h_prev, c_prev = states
        if recurrent_dropout_mask is not None:
            h_prev = h_prev * recurrent_dropout_mask
        # shape: (batch, 4 * units), blocks i, f, c~, o
        z = projected_inputs + ops.matmul(h_prev, self.recurrent_kernel)
        z_i, z_f, z_c, z_o = self.split_gates(z)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c_candidate = self.activation(z_c)
        o = self.recurrent_activation(z_o)
        c = f * c_prev + i * c_candidate
        h = o * self.activation(c)
        return h, [h, c]

    def fused_recurrence_blocker(self):
        return self.activation_and_dtype_blocker(gated=True)

    def fused_recurrence(self):
        if self.fused_recurrence_blocker() is not None:
            return None
        return self.describe_fused_recurrence("lstm")

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


@keras.saving.register_keras_serializable(package="nlpkit")
class LSTM(Recurrent):
    """`LSTMCell` run over a sequence (see `LSTMCell` for the formula and weights).

    Args:
        units: Positive integer, dimensionality of the output space.
        **kwargs: The cell's arguments (`LSTMCell`) and the sequence arguments
            (`return_sequences`, `return_state`, `go_backwards`, `stateful`, `unroll`): see
            `nlpkit.layers.Recurrent`.

    Input shape: `(batch, time, features)`, with an optional mask `(batch, time)`.
    Output shape: `(batch, units)`, or `(batch, time, units)` with `return_sequences=True`;
    followed by the final `h` and `C`, each `(batch, units)`, with `return_state=True`.

    Example:

    >>> inputs = keras.Input((None,), dtype="int32")
    >>> x = keras.layers.Embedding(1000, 32, mask_zero=True)(inputs)
    >>> x = keras.layers.Bidirectional(LSTM(64))(x)
    >>> x.shape
    (None, 128)
    """

    cell_class = LSTMCell
