"""LSTMCell / LSTM: weights copy to and from Keras' own LSTM; initial biases; a hand-worked step."""

import math

import keras
import numpy as np
import pytest

from nlpkit.layers import LSTM, LSTMCell


def sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


@pytest.mark.parametrize("direction", ["keras_to_nlpkit", "nlpkit_to_keras"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_weights_copy_both_ways_with_keras_lstm(direction, go_backwards):
    kwargs = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    theirs, ours = keras.layers.LSTM(5, **kwargs), LSTM(5, **kwargs)
    x = np.random.default_rng(0).normal(size=(3, 7, 4)).astype("float32")
    mask = np.arange(7)[None, :] < np.array([[7], [4], [1]])
    theirs(x), ours(x)
    source, target = (theirs, ours) if direction == "keras_to_nlpkit" else (ours, theirs)
    source.set_weights([np.random.default_rng(1).normal(size=w.shape) for w in source.weights])
    target.set_weights(source.get_weights())
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]
    for expected, actual in zip(theirs(x, mask=mask), ours(x, mask=mask)):
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=1e-5)


def test_unit_forget_bias_sets_only_the_forget_block_to_one():
    cell = LSTMCell(3, bias_initializer="zeros")
    cell.build((None, 2))
    np.testing.assert_array_equal(np.asarray(cell.bias), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    cell = LSTMCell(3, unit_forget_bias=False, bias_initializer="ones")
    cell.build((None, 2))
    np.testing.assert_array_equal(np.asarray(cell.bias), np.ones(12))


def test_one_step_worked_by_hand_with_constant_weights():
    cell = LSTMCell(
        1,
        kernel_initializer=keras.initializers.Constant(0.5),
        recurrent_initializer=keras.initializers.Constant(0.25),
        bias_initializer="zeros",
    )
    h_prev, c_prev = 0.2, -0.4
    h, (h_state, c) = cell(np.array([[1.0]], "float32"), [np.array([[h_prev]], "float32"), np.array([[c_prev]], "float32")])
    pre = 0.5 * 1.0 + 0.25 * h_prev  # every gate sees the same weights here
    i, f, o = sigmoid(pre), sigmoid(pre + 1.0), sigmoid(pre)  # forget bias starts at 1
    expected_c = f * c_prev + i * math.tanh(pre)
    expected_h = o * math.tanh(expected_c)
    np.testing.assert_allclose(np.asarray(c)[0, 0], expected_c, atol=1e-6)
    np.testing.assert_allclose(np.asarray(h)[0, 0], expected_h, atol=1e-6)
    np.testing.assert_allclose(np.asarray(h_state), np.asarray(h))


def test_weight_names_and_shapes_follow_keras():
    cell = LSTMCell(6)
    cell.build((None, 4))
    assert [(w.path.split("/")[-1], tuple(w.shape)) for w in cell.weights] == [
        ("kernel", (4, 24)),
        ("recurrent_kernel", (6, 24)),
        ("bias", (24,)),
    ]
    assert cell.state_size == [6, 6] and cell.output_size == 6
