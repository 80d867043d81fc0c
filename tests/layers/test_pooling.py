"""Mask-aware pooling layers against a loop-by-loop NumPy reference."""

import keras
import numpy as np
import pytest

from nlpkit.layers.pooling import ConcatPooling, LastPooling, MaxPooling, MeanPooling, SumPooling
from tests.layer_checks import (
    assert_config_round_trip,
    assert_export_runs_without_nlpkit,
    assert_model_saves_and_loads,
    backend_is_tensorflow,
)

POOLINGS = {
    "last": lambda: LastPooling(),
    "first": lambda: LastPooling(from_start=True),
    "mean": lambda: MeanPooling(),
    "max": lambda: MaxPooling(),
    "sum": lambda: SumPooling(),
}


REFERENCE_REDUCTIONS = {
    "last": lambda states: states[-1],
    "first": lambda states: states[0],
    "mean": lambda states: states.mean(axis=0),
    "max": lambda states: states.max(axis=0),
    "sum": lambda states: states.sum(axis=0),
}


def reference_pooling(name, x, mask):
    """Pools each row over its real positions only, one row at a time."""
    out = np.zeros((x.shape[0], x.shape[2]), dtype="float64")
    for b in range(x.shape[0]):
        real = np.flatnonzero(mask[b])
        if real.size:
            out[b] = REFERENCE_REDUCTIONS[name](x[b, real].astype("float64"))
    return out


def random_batch(rng, batch=6, time=7, units=5):
    """States with garbage (1e6, NaN) at padded positions; masks with holes and an empty row."""
    x = rng.normal(size=(batch, time, units)).astype("float32")
    mask = rng.random((batch, time)) < 0.6
    mask[0] = False  # all padding
    mask[1] = True  # no padding
    mask[2] = np.arange(time) >= 4  # left padding
    mask[3] = np.arange(time) < 2  # right padding
    x[~mask] = 1e6
    x[3, 2:] = np.nan  # padding garbage must not leak, not even as NaN
    x[3, :2] = -np.abs(x[3, :2]) - 1.0  # all real values negative: padding must not win the max
    return x, mask


@pytest.mark.parametrize("name", sorted(POOLINGS))
def test_matches_numpy_reference_with_random_masks(name):
    x, mask = random_batch(np.random.default_rng(0))
    actual = keras.ops.convert_to_numpy(POOLINGS[name]()(x, mask=mask))
    np.testing.assert_allclose(actual, reference_pooling(name, x, mask), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(actual[0], 0.0)


@pytest.mark.parametrize("name", sorted(POOLINGS))
def test_without_mask_every_position_is_real(name):
    x = np.random.default_rng(1).normal(size=(3, 4, 2)).astype("float32")
    actual = keras.ops.convert_to_numpy(POOLINGS[name]()(x))
    expected = reference_pooling(name, x, np.ones((3, 4), dtype=bool))
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("name", sorted(POOLINGS) + ["concat"])
def test_padded_with_mask_equals_each_sequence_alone(name, side):
    rng = np.random.default_rng(2)
    lengths, time, units = [1, 3, 6], 6, 4
    layer = (
        ConcatPooling(("first", "last", "mean", "max", "sum"))
        if name == "concat"
        else POOLINGS[name]()
    )
    texts = [rng.normal(size=(n, units)).astype("float32") for n in lengths]
    batch = np.full((len(lengths), time, units), 7.0, dtype="float32")
    mask = np.zeros((len(lengths), time), dtype=bool)
    for row, text in enumerate(texts):
        start = 0 if side == "right" else time - len(text)
        batch[row, start : start + len(text)] = text
        mask[row, start : start + len(text)] = True
    padded = keras.ops.convert_to_numpy(layer(batch, mask=mask))
    for row, text in enumerate(texts):
        alone = keras.ops.convert_to_numpy(layer(text[None]))
        np.testing.assert_allclose(padded[row], alone[0], rtol=1e-6, atol=1e-6)


def test_concat_pooling_concatenates_in_the_given_order():
    x, mask = random_batch(np.random.default_rng(3))
    names = ("max", "first", "mean")
    actual = keras.ops.convert_to_numpy(ConcatPooling(names)(x, mask=mask))
    expected = np.concatenate([reference_pooling(n, x, mask) for n in names], axis=-1)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
    assert ConcatPooling(names).compute_output_shape((None, 7, 5)) == (None, 15)


def embedding_model(pooling):
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(20, 3, mask_zero=True, name="embedding")(ids)
    return keras.Model(ids, pooling(vectors))


def test_mask_from_embedding_is_picked_up_in_a_model():
    model = embedding_model(MeanPooling())
    ids = np.array([[4, 2, 9, 0, 0], [0, 0, 0, 0, 0], [5, 0, 3, 0, 1]], dtype="int32")
    table = model.get_layer("embedding").get_weights()[0]
    expected = reference_pooling("mean", table[ids], ids != 0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(ids)), expected, atol=1e-6)


def test_layers_return_no_mask():
    x, mask = random_batch(np.random.default_rng(4))
    for layer in [factory() for factory in POOLINGS.values()] + [ConcatPooling()]:
        assert layer.compute_mask(x, mask) is None


@pytest.mark.parametrize(
    "layer",
    [
        LastPooling(from_start=True, name="p"),
        MeanPooling(),
        MaxPooling(),
        SumPooling(),
        ConcatPooling(("sum", "last")),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_config_round_trip(layer):
    assert_config_round_trip(layer)


def all_poolings_model():
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(20, 3, mask_zero=True)(ids)
    pooled = [factory()(vectors) for factory in POOLINGS.values()]
    pooled.append(ConcatPooling(("mean", "last"))(vectors))
    return keras.Model(ids, keras.layers.Concatenate()(pooled))


def test_model_with_every_pooling_saves_loads_and_exports(tmp_path):
    model = all_poolings_model()
    ids = np.array([[4, 2, 9, 0], [0, 0, 0, 0], [0, 3, 0, 1]], dtype="int32")
    loaded = assert_model_saves_and_loads(model, ids, tmp_path)
    assert [type(layer).__name__ for layer in loaded.layers[2:8]] == [
        "LastPooling",
        "LastPooling",
        "MeanPooling",
        "MaxPooling",
        "SumPooling",
        "ConcatPooling",
    ]
    if backend_is_tensorflow():
        assert_export_runs_without_nlpkit(model, ids, tmp_path)


@pytest.mark.parametrize("name", sorted(POOLINGS))
def test_gradient_reaches_only_the_pooled_positions(name):
    if not backend_is_tensorflow():
        pytest.skip("gradient check uses tf.GradientTape")
    import tensorflow as tf

    rng = np.random.default_rng(5)
    x, mask = random_batch(rng)
    x[~mask] = rng.normal(
        size=(int((~mask).sum()), x.shape[2])
    )  # finite, so a leak would show as a gradient
    upstream = rng.normal(size=(x.shape[0], x.shape[2]))
    x_var = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(POOLINGS[name]()(x_var, mask=mask) * upstream)
    gradient = tape.gradient(loss, x_var).numpy()
    # Independent gradient: the weight each real position has in the pooled value.
    expected = np.zeros_like(x, dtype="float64")
    for b in range(x.shape[0]):
        real = np.flatnonzero(mask[b])
        if real.size == 0:
            continue
        if name in ("last", "first"):
            expected[b, real[-1] if name == "last" else real[0]] = upstream[b]
        elif name in ("mean", "sum"):
            expected[b, real] = upstream[b] / (real.size if name == "mean" else 1)
        else:
            winners = real[np.argmax(x[b, real], axis=0)]
            expected[b, winners, np.arange(x.shape[2])] = upstream[b]
    assert np.all(np.isfinite(gradient))
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("factory", [*POOLINGS.values(), ConcatPooling])
def test_wrong_rank_raises_a_clear_error(factory):
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, units\).*rank 2"):
        factory()(np.zeros((2, 5), dtype="float32"))


def test_wrong_units_after_build_raises():
    layer = MeanPooling()
    layer(np.zeros((2, 5, 4), dtype="float32"))
    with pytest.raises(ValueError, match=r"built for inputs of shape \(batch, time, 4\)"):
        layer(np.zeros((2, 5, 3), dtype="float32"))


def test_concat_pooling_rejects_unknown_and_repeated_names():
    with pytest.raises(ValueError, match=r"unknown pooling name.*'median'.*expected names among"):
        ConcatPooling(("mean", "median"))
    with pytest.raises(ValueError, match="repeated pooling name"):
        ConcatPooling(("mean", "mean"))
