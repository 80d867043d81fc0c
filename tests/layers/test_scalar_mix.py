"""ScalarMix against ELMo's formula (and AllenNLP's layer norm) written out in NumPy."""

import keras
import numpy as np
import pytest

from nlpkit.layers.scalar_mix import ScalarMix
from tests.layer_checks import (
    assert_config_round_trip,
    assert_export_runs_without_nlpkit,
    assert_model_saves_and_loads,
    backend_is_tensorflow,
)


def reference_mix(layers, mask, w, gamma, layer_norm):
    """gamma * sum_k softmax(w)_k * h_k, h_k normalised over the real positions if asked."""
    layers = [np.asarray(h, dtype="float64") for h in layers]
    s = np.exp(w - np.max(w))
    s = s / s.sum()
    if layer_norm:
        normalised = []
        for h in layers:
            real = h[mask]  # (real positions, dim)
            mean = real.mean()
            variance = ((real - mean) ** 2).mean()
            normalised.append((h - mean) / np.sqrt(variance + 1e-12))
        layers = normalised
    mixed = gamma * sum(s_k * h for s_k, h in zip(s, layers, strict=True))
    return np.where(mask[..., None], mixed, 0.0)


def random_layers(rng, count=3, batch=4, time=5, dim=6):
    layers = [rng.normal(loc=k, scale=1 + k, size=(batch, time, dim)).astype("float32")
              for k in range(count)]
    mask = np.arange(time)[None, :] < np.array([5, 3, 1, 4])[:, None]
    for h in layers:
        h[~mask] = 1e4  # garbage at padding: must not reach the output or the statistics
    layers[1][1, 4] = np.nan
    return layers, mask


@pytest.mark.parametrize("layer_norm", [False, True])
def test_matches_numpy_formula_with_trained_weights(layer_norm):
    rng = np.random.default_rng(0)
    layers, mask = random_layers(rng)
    mix = ScalarMix(initial_weights=[0.3, -1.2, 0.8], initial_gamma=1.7, layer_norm=layer_norm)
    actual = keras.ops.convert_to_numpy(mix(layers, mask=mask))
    expected = reference_mix(layers, mask, np.array([0.3, -1.2, 0.8]), 1.7, layer_norm)
    assert actual.shape == (4, 5, 6)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
    assert np.all(actual[~mask] == 0.0)


def test_starts_as_an_equal_mix_and_without_a_mask_every_position_is_real():
    rng = np.random.default_rng(1)
    layers = [rng.normal(size=(2, 3, 4)).astype("float32") for _ in range(4)]
    actual = keras.ops.convert_to_numpy(ScalarMix()(layers))
    np.testing.assert_allclose(actual, np.mean(layers, axis=0), rtol=1e-5, atol=1e-6)


def test_padding_more_does_not_change_real_positions_with_layer_norm():
    rng = np.random.default_rng(2)
    layers, mask = random_layers(rng)
    mix = ScalarMix(layer_norm=True)
    short = keras.ops.convert_to_numpy(mix(layers, mask=mask))
    padded = [np.pad(h, [(0, 0), (0, 3), (0, 0)], constant_values=-7.0) for h in layers]
    long = keras.ops.convert_to_numpy(mix(padded, mask=np.pad(mask, [(0, 0), (0, 3)])))
    np.testing.assert_allclose(long[:, :5], short, rtol=1e-5, atol=1e-5)


def test_mask_of_the_inputs_is_picked_up_and_passed_on():
    ids = keras.Input(shape=(None,), dtype="int32")
    embedding = keras.layers.Embedding(10, 4, mask_zero=True)
    first, second = embedding(ids), keras.layers.Dense(4)(embedding(ids))
    mixed = ScalarMix()([first, second])
    assert mixed._keras_mask is not None
    pooled = keras.layers.GlobalAveragePooling1D()(mixed)  # averages over the real steps only
    model = keras.Model(ids, pooled)
    token_ids = np.array([[3, 4, 0, 0]], dtype="int32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(token_ids)),
                               keras.ops.convert_to_numpy(model(token_ids[:, :2])),
                               rtol=1e-5, atol=1e-6)


def test_gradients_match_the_analytic_ones():
    """d mix / d w_k = gamma * s_k * (h_k - sum_j s_j h_j), d mix / d gamma = sum_k s_k h_k."""
    if not backend_is_tensorflow():
        pytest.skip("gradient check uses tf.GradientTape")
    import tensorflow as tf

    rng = np.random.default_rng(3)
    layers, mask = random_layers(rng)
    upstream = rng.normal(size=(4, 5, 6))
    w, gamma = np.array([0.5, -0.4, 0.1]), 1.3
    mix = ScalarMix(initial_weights=w.tolist(), initial_gamma=gamma)
    with tf.GradientTape() as tape:
        value = tf.reduce_sum(mix(layers, mask=mask) * tf.constant(upstream, tf.float32))
    grad_w, grad_gamma = tape.gradient(value, [mix.layer_weights, mix.gamma])
    s = np.exp(w) / np.exp(w).sum()
    h = [np.where(mask[..., None], layer, 0.0).astype("float64") for layer in layers]
    average = sum(s_k * h_k for s_k, h_k in zip(s, h, strict=True))
    expected_w = [gamma * s_k * np.sum(upstream * (h_k - average)) for s_k, h_k in zip(s, h,
                                                                                        strict=True)]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(grad_w), expected_w, rtol=1e-4,
                               atol=1e-4)
    np.testing.assert_allclose(float(grad_gamma), np.sum(upstream * average), rtol=1e-4)


def test_frozen_mix_has_no_trainable_weights():
    mix = ScalarMix(trainable=False)
    mix([np.zeros((1, 2, 3), "float32")] * 2)
    assert mix.trainable_weights == [] and len(mix.non_trainable_weights) == 2


def test_config_round_trip():
    assert_config_round_trip(ScalarMix(initial_weights=[1.0, 2.0], initial_gamma=0.5,
                                       layer_norm=True, name="mix"))


def test_model_saves_loads_and_exports(tmp_path):
    inputs = keras.Input(shape=(None, 3))
    layers = [inputs, keras.layers.Dense(3, name="d1")(inputs),
              keras.layers.Dense(3, name="d2")(inputs)]
    model = keras.Model(inputs, ScalarMix(initial_weights=[0.1, 0.2, 0.3], initial_gamma=2.0,
                                          name="mix")(layers))
    x = np.random.default_rng(4).normal(size=(2, 4, 3)).astype("float32")
    loaded = assert_model_saves_and_loads(model, x, tmp_path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded.get_layer("mix").layer_weights), [0.1, 0.2, 0.3])
    if backend_is_tensorflow():
        assert_export_runs_without_nlpkit(model, x, tmp_path)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ScalarMix()([np.zeros((2, 3), "float32")]), r"\(batch, time, dim\)"),
        (lambda: ScalarMix()([np.zeros((1, 2, 3), "float32"), np.zeros((1, 2, 4), "float32")]),
         "same last dimension"),
        (lambda: ScalarMix(initial_weights=[0.0])([np.zeros((1, 2, 3), "float32")] * 2),
         "initial_weights has 1 values for 2 layers"),
        (lambda: ScalarMix(initial_weights=[]), "one float per layer"),
    ],
)
def test_bad_inputs_are_rejected(call, message):
    with pytest.raises(ValueError, match=message):
        call()
