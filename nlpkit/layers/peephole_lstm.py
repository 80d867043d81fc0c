"""LSTM with peephole connections: the gates see the cell state (Gers & Schmidhuber 2000).

This file is the example to copy when you try a new gate: subclass `LSTMCell`, add the new weights
in `build`, rewrite `step`, and name the cell in a one-line sequence layer. The new cell runs on
the reference loop (its `step` is not the one `LSTMCell.fused_recurrence` vouches for); to give it
a fused TensorFlow loop as well, add a program to `nlpkit.layers.tensorflow_recurrence` and return
its name from `fused_recurrence`, as this cell does.
"""

import keras

from nlpkit.layers.lstm import LSTMCell
from nlpkit.layers.recurrent import Recurrent


@keras.saving.register_keras_serializable(package="nlpkit")
class PeepholeLSTMCell(LSTMCell):
    """LSTM cell whose gates peek at the cell state through diagonal weights.

        i_t  = sigmoid(x_t W_i + h_{t-1} U_i + p_i * C_{t-1} + b_i)
        f_t  = sigmoid(x_t W_f + h_{t-1} U_f + p_f * C_{t-1} + b_f)
        C~_t = tanh(x_t W_c + h_{t-1} U_c + b_c)
        C_t  = f_t * C_{t-1} + i_t * C~_t
        o_t  = sigmoid(x_t W_o + h_{t-1} U_o + p_o * C_t + b_o)      (sees the new C_t)
        h_t  = o_t * tanh(C_t)

    Weights: those of `LSTMCell` (gate order i, f, c~, o) plus `peephole_i`, `peephole_f`,
    `peephole_o`, each `(units,)` (`*` is elementwise).

    Args:
        units: Positive integer, dimensionality of the output space.
        peephole_initializer: Initializer of the three peephole vectors.
            Default: `"glorot_uniform"`.
        peephole_regularizer: Optional regularizer of the peephole vectors.
        peephole_constraint: Optional constraint of the peephole vectors.
        **kwargs: Everything `LSTMCell` takes.

    Call arguments:
        inputs: `(batch, input_dim)`, one time step.
        states: `[h_{t-1}, C_{t-1}]`, each `(batch, units)`.
        training: Python boolean; enables dropout.

    Returns:
        `(h_t, [h_t, C_t])`.

    Example:

    >>> layer = keras.layers.RNN(PeepholeLSTMCell(8))
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 8)
    """

    def __init__(
        self,
        units,
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.peephole_initializer = keras.initializers.get(peephole_initializer)
        self.peephole_regularizer = keras.regularizers.get(peephole_regularizer)
        self.peephole_constraint = keras.constraints.get(peephole_constraint)

    def build(self, input_shape):
        super().build(input_shape)
        for gate in ("i", "f", "o"):
            weight = self.add_weight(
                shape=(self.units,),
                name=f"peephole_{gate}",
                initializer=self.peephole_initializer,
                regularizer=self.peephole_regularizer,
                constraint=self.peephole_constraint,
            )
            setattr(self, f"peephole_{gate}", weight)

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        h_prev, c_prev = states
        if recurrent_dropout_mask is not None:
            h_prev = h_prev * recurrent_dropout_mask
        z = projected_inputs + keras.ops.matmul(h_prev, self.recurrent_kernel)
        z_i, z_f, z_c, z_o = self.split_gates(z)
        i = self.recurrent_activation(z_i + self.peephole_i * c_prev)
        f = self.recurrent_activation(z_f + self.peephole_f * c_prev)
        c = f * c_prev + i * self.activation(z_c)
        o = self.recurrent_activation(z_o + self.peephole_o * c)
        h = o * self.activation(c)
        return h, [h, c]

    def fused_recurrence(self):
        if self.fused_recurrence_blocker() is not None:
            return None
        return self.describe_fused_recurrence(
            "peephole_lstm", parameters=(self.peephole_i, self.peephole_f, self.peephole_o)
        )

    def get_config(self):
        return {
            **super().get_config(),
            "peephole_initializer": keras.initializers.serialize(self.peephole_initializer),
            "peephole_regularizer": keras.regularizers.serialize(self.peephole_regularizer),
            "peephole_constraint": keras.constraints.serialize(self.peephole_constraint),
        }


@keras.saving.register_keras_serializable(package="nlpkit")
class PeepholeLSTM(Recurrent):
    """`PeepholeLSTMCell` run over a sequence; arguments and shapes as `nlpkit.layers.LSTM`.

    Example:

    >>> PeepholeLSTM(8)(np.zeros((2, 5, 3), "float32")).shape
    (2, 8)
    """

    cell_class = PeepholeLSTMCell
