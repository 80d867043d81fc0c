"""GRUCell / GRU: weights copy to and from Keras' own GRU in both reset_after forms."""

import math

import keras
import numpy as np
import pytest

from nlpkit.layers import GRU, GRUCell


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("direction", ["keras_to_nlpkit", "nlpkit_to_keras"])
def test_weights_copy_both_ways_with_keras_gru(reset_after, direction):
    kwargs = dict(return_sequences=True, return_state=True, reset_after=reset_after)
    theirs, ours = keras.layers.GRU(5, **kwargs), GRU(5, **kwargs)
    x = np.random.default_rng(0).normal(size=(3, 7, 4)).astype("float32")
    mask = np.arange(7)[None, :] < np.array([[7], [2], [5]])
    theirs(x), ours(x)
    source, target = (theirs, ours) if direction == "keras_to_nlpkit" else (ours, theirs)
    source.set_weights([np.random.default_rng(1).normal(size=w.shape) for w in source.weights])
    target.set_weights(source.get_weights())
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]
    for expected, actual in zip(theirs(x, mask=mask), ours(x, mask=mask)):
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=1e-5)


@pytest.mark.parametrize("reset_after", [True, False])
def test_one_step_worked_by_hand_with_constant_weights(reset_after):
    cell = GRUCell(
        1,
        reset_after=reset_after,
        kernel_initializer=keras.initializers.Constant(0.5),
        recurrent_initializer=keras.initializers.Constant(-0.75),
        bias_initializer=keras.initializers.Constant(0.1),
    )
    x, h_prev = 2.0, 0.6
    h, _ = cell(np.array([[x]], "float32"), np.array([[h_prev]], "float32"))
    sigmoid = lambda v: 1.0 / (1.0 + math.exp(-v))  # noqa: E731
    if reset_after:  # input and recurrent biases are separate, both 0.1
        z = r = sigmoid(0.5 * x + 0.1 - 0.75 * h_prev + 0.1)
        candidate = math.tanh(0.5 * x + 0.1 + r * (-0.75 * h_prev + 0.1))
    else:
        z = r = sigmoid(0.5 * x - 0.75 * h_prev + 0.1)
        candidate = math.tanh(0.5 * x + 0.1 - 0.75 * (r * h_prev))
    expected = z * h_prev + (1 - z) * candidate  # Keras' convention: z keeps the old state
    np.testing.assert_allclose(np.asarray(h)[0, 0], expected, atol=1e-6)


@pytest.mark.parametrize("reset_after, bias_shape", [(True, (2, 9)), (False, (9,))])
def test_bias_layout_follows_keras(reset_after, bias_shape):
    cell = GRUCell(3, reset_after=reset_after)
    cell.build((None, 4))
    assert tuple(cell.bias.shape) == bias_shape
    assert cell.state_size == 3
