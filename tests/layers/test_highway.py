"""Highway against the formula of Srivastava et al. (2015) written out in NumPy."""

import keras
import numpy as np
import pytest

from nlpkit.layers.highway import Highway
from tests.layer_checks import (
    assert_config_round_trip,
    assert_export_runs_without_nlpkit,
    assert_gradients_match_finite_differences,
    assert_model_saves_and_loads,
    backend_is_tensorflow,
)


def reference_highway(x, weights, activation):
    y = np.asarray(x, dtype="float64")
    for index in range(0, len(weights), 4):
        kernel, bias, gate_kernel, gate_bias = weights[index:index + 4]
        t = 1.0 / (1.0 + np.exp(-(y @ gate_kernel + gate_bias)))
        y = t * activation(y @ kernel + bias) + (1.0 - t) * y
    return y


@pytest.mark.parametrize("num_layers", [1, 3])
def test_matches_numpy_formula(num_layers):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 4)).astype("float32")
    layer = Highway(num_layers=num_layers, activation="tanh", bias_initializer="random_normal")
    actual = keras.ops.convert_to_numpy(layer(x))
    expected = reference_highway(x, layer.get_weights(), np.tanh)
    assert actual.shape == (2, 5, 4)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def test_gate_bias_starts_at_minus_two_so_the_layer_mostly_carries():
    layer = Highway()
    x = np.random.default_rng(1).normal(size=(3, 6)).astype("float32")
    layer(x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.weights[3]), -2.0)
    # A zero gate kernel leaves t = sigmoid(-2) everywhere.
    weights = layer.get_weights()
    weights[2] = np.zeros_like(weights[2])
    layer.set_weights(weights)
    t = 1.0 / (1.0 + np.exp(2.0))
    expected = t * np.maximum(x @ weights[0], 0.0) + (1 - t) * x
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5,
                               atol=1e-6)


def test_mask_passes_through():
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(10, 4, mask_zero=True)(ids)
    outputs = Highway(num_layers=2)(vectors)
    assert outputs._keras_mask is not None


def test_gradients_match_finite_differences():
    if not backend_is_tensorflow():
        pytest.skip("gradient check uses tf.GradientTape")
    import tensorflow as tf

    rng = np.random.default_rng(2)
    x = tf.Variable(rng.normal(size=(3, 4)))
    layer = Highway(num_layers=2, activation="tanh", bias_initializer="random_normal",
                    dtype="float64")
    upstream = rng.normal(size=(3, 4))

    def loss():
        return tf.reduce_sum(layer(x) * upstream)

    with tf.GradientTape() as tape:
        value = loss()
    variables = [x, *layer.trainable_variables]
    gradients = [g.numpy() for g in tape.gradient(value, variables)]
    assert_gradients_match_finite_differences(loss, variables, gradients, rng, samples=4)


def test_config_round_trip():
    assert_config_round_trip(Highway(num_layers=2, activation="tanh", gate_bias=-1.0,
                                     kernel_regularizer="l2", name="highway"))


def test_model_saves_loads_and_exports(tmp_path):
    inputs = keras.Input(shape=(None, 3))
    model = keras.Model(inputs, Highway(num_layers=2, name="highway")(inputs))
    x = np.random.default_rng(3).normal(size=(2, 4, 3)).astype("float32")
    assert_model_saves_and_loads(model, x, tmp_path)
    if backend_is_tensorflow():
        assert_export_runs_without_nlpkit(model, x, tmp_path)


def test_bad_arguments_and_shapes_are_rejected():
    with pytest.raises(ValueError, match="num_layers must be a positive int"):
        Highway(num_layers=0)
    layer = Highway()
    layer(np.zeros((1, 4), "float32"))
    with pytest.raises(ValueError, match="built for a last dimension of 4"):
        layer(np.zeros((1, 3), "float32"))
