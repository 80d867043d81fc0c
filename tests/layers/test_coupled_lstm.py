"""CoupledLSTMCell: three gate blocks, forget-gate bias, and the coupling i = 1 - f."""

import math

import keras
import numpy as np

from nlpkit.layers import CoupledLSTMCell


def test_three_gate_blocks_with_forget_bias_first():
    cell = CoupledLSTMCell(2, bias_initializer="zeros")
    cell.build((None, 3))
    assert tuple(cell.kernel.shape) == (3, 6) and tuple(cell.recurrent_kernel.shape) == (2, 6)
    np.testing.assert_array_equal(np.asarray(cell.bias), [1, 1, 0, 0, 0, 0])


def test_one_step_worked_by_hand():
    cell = CoupledLSTMCell(
        1,
        kernel_initializer=keras.initializers.Constant(0.3),
        recurrent_initializer=keras.initializers.Constant(0.0),
        unit_forget_bias=False,
    )
    c_prev = 0.8
    h, (_, c) = cell(np.array([[1.0]], "float32"), [np.zeros((1, 1), "float32"), np.array([[c_prev]], "float32")])
    f = 1.0 / (1.0 + math.exp(-0.3))
    expected_c = f * c_prev + (1 - f) * math.tanh(0.3)  # what is forgotten is written
    np.testing.assert_allclose(np.asarray(c)[0, 0], expected_c, atol=1e-6)
    np.testing.assert_allclose(np.asarray(h)[0, 0], f * math.tanh(expected_c), atol=1e-6)
