"""NoForgetGateLSTMCell: three gate blocks and a cell state that only accumulates."""

import math

import keras
import numpy as np

from nlpkit.layers import NoForgetGateLSTM, NoForgetGateLSTMCell


def test_three_gate_blocks_and_no_forget_bias_argument():
    cell = NoForgetGateLSTMCell(2)
    cell.build((None, 3))
    assert tuple(cell.kernel.shape) == (3, 6) and tuple(cell.bias.shape) == (6,)
    assert "unit_forget_bias" not in cell.get_config()


def test_cell_state_accumulates_without_forgetting():
    layer = NoForgetGateLSTM(
        1,
        return_state=True,
        kernel_initializer=keras.initializers.Constant(1.0),
        recurrent_initializer=keras.initializers.Constant(0.0),
    )
    steps = 5
    _, _, c = layer(np.ones((1, steps, 1), "float32"))
    # each step adds i * C~ = sigmoid(1) * tanh(1) and nothing is ever forgotten
    expected = steps * (1.0 / (1.0 + math.exp(-1.0))) * math.tanh(1.0)
    np.testing.assert_allclose(np.asarray(c)[0, 0], expected, atol=1e-5)
