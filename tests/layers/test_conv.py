"""MultiWidthConv1D against a window-by-window NumPy reference and Keras' own Conv1D."""

import keras
import numpy as np
import pytest

from nlpkit.layers.conv import MultiWidthConv1D
from tests.layer_checks import (
    assert_config_round_trip,
    assert_export_runs_without_nlpkit,
    assert_gradients_match_finite_differences,
    assert_model_saves_and_loads,
    backend_is_tensorflow,
)

WIDTHS = (2, 3, 5)
ACTIVATIONS = {"relu": lambda v: np.maximum(v, 0.0), "tanh": np.tanh, None: lambda v: v}


def reference_features(x, mask, kernels, biases, padding, pooling, merge_mode, activation):
    """Each row on its own: cut out its text, pad it as documented, slide every window."""
    activation = ACTIVATIONS[activation]
    rows = []
    for b in range(x.shape[0]):
        real = np.flatnonzero(mask[b])
        per_width = []
        for kernel, bias in zip(kernels, biases, strict=True):
            width, filters = kernel.shape[0], kernel.shape[2]
            if real.size == 0:
                per_width.append(np.zeros(filters))
                continue
            span = slice(real[0], real[-1] + 1)
            text = (x[b, span] * mask[b, span, None]).astype("float64")
            if padding == "valid":
                extra = max(0, width - len(text))
                sequence = np.pad(text, [(0, extra), (0, 0)])
                starts = range(len(sequence) - width + 1)
            else:
                before = (width - 1) // 2
                sequence = np.pad(text, [(before, width - 1 - before), (0, 0)])
                starts = range(len(text))
            windows = [
                activation(np.einsum("id,idf->f", sequence[s : s + width], kernel) + bias)
                for s in starts
            ]
            per_width.append(
                np.max(windows, axis=0) if pooling == "max" else np.mean(windows, axis=0)
            )
        rows.append(
            np.concatenate(per_width) if merge_mode == "concat" else np.sum(per_width, axis=0)
        )
    return np.stack(rows)


def weights_of(layer):
    values = layer.get_weights()
    return values[0::2], values[1::2]  # kernel_w, bias_w per width


def random_batch(rng, batch=6, time=9, dim=4):
    """Embeddings with garbage at padded positions; masks: empty, full, left/right padded, short,
    with a hole."""
    x = rng.normal(size=(batch, time, dim)).astype("float32")
    positions = np.arange(time)
    mask = np.stack(
        [
            np.zeros(time, dtype=bool),
            np.ones(time, dtype=bool),
            positions >= 3,  # left padding
            positions < 2,  # shorter than the widest kernel
            positions < 1,  # a single token
            (positions < 7) & (positions != 3),  # a hole inside the text
        ]
    )
    x[~mask] = 50.0  # would dominate any window that let padding in
    x[2, :3] = np.nan  # and NaN garbage must not leak either
    return x, mask


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
@pytest.mark.parametrize("pooling", ["max", "mean"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_matches_numpy_reference_with_masks(padding, pooling, merge_mode):
    x, mask = random_batch(np.random.default_rng(0))
    layer = MultiWidthConv1D(
        filters=3,
        widths=WIDTHS,
        activation="tanh",
        padding=padding,
        pooling=pooling,
        merge_mode=merge_mode,
        bias_initializer="random_normal",
    )
    actual = keras.ops.convert_to_numpy(layer(x, mask=mask))
    kernels, biases = weights_of(layer)
    expected = reference_features(x, mask, kernels, biases, padding, pooling, merge_mode, "tanh")
    assert actual.shape == (6, 9 if merge_mode == "concat" else 3)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(actual[0], 0.0)  # no real token


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_matches_keras_conv1d_with_copied_weights(padding):
    """Unpadded texts: the layer is Keras' Conv1D per width, a global max, a concatenation."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 9, 4)).astype("float32")
    layer = MultiWidthConv1D(
        filters=3, widths=WIDTHS, padding=padding, bias_initializer="random_normal"
    )
    actual = keras.ops.convert_to_numpy(layer(x))
    kernels, biases = weights_of(layer)
    expected = []
    for kernel, bias in zip(kernels, biases, strict=True):
        conv = keras.layers.Conv1D(3, kernel.shape[0], padding=padding, activation="relu")
        conv.build(x.shape)
        conv.set_weights([kernel, bias])
        expected.append(np.max(keras.ops.convert_to_numpy(conv(x)), axis=1))
    np.testing.assert_allclose(actual, np.concatenate(expected, axis=-1), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("pooling", ["max", "mean"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_padded_with_mask_equals_each_text_alone(padding, pooling, side):
    rng = np.random.default_rng(2)
    lengths, time, dim = [1, 2, 4, 9], 9, 4  # shorter and longer than the widest kernel
    layer = MultiWidthConv1D(
        filters=3, widths=WIDTHS, padding=padding, pooling=pooling, bias_initializer="random_normal"
    )
    texts = [rng.normal(size=(n, dim)).astype("float32") for n in lengths]
    batch = np.full((len(lengths), time, dim), -20.0, dtype="float32")
    mask = np.zeros((len(lengths), time), dtype=bool)
    for row, text in enumerate(texts):
        start = 0 if side == "right" else time - len(text)
        batch[row, start : start + len(text)] = text
        mask[row, start : start + len(text)] = True
    padded = keras.ops.convert_to_numpy(layer(batch, mask=mask))
    for row, text in enumerate(texts):
        alone = keras.ops.convert_to_numpy(layer(text[None]))
        np.testing.assert_allclose(padded[row], alone[0], rtol=1e-5, atol=1e-5)


def test_mask_from_embedding_is_picked_up_in_a_model():
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(30, 4, mask_zero=True, name="embedding")(ids)
    conv = MultiWidthConv1D(filters=3, widths=WIDTHS, name="conv")
    model = keras.Model(ids, conv(vectors))
    token_ids = np.array(
        [[5, 7, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [3, 9, 2, 8, 1, 4]], dtype="int32"
    )
    table = model.get_layer("embedding").get_weights()[0]
    kernels, biases = weights_of(model.get_layer("conv"))
    expected = reference_features(
        table[token_ids], token_ids != 0, kernels, biases, "valid", "max", "concat", "relu"
    )
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(token_ids)), expected, atol=1e-5)
    assert conv.compute_mask(vectors, None) is None


def test_dropout_applies_to_the_merged_features_in_training_only():
    x, mask = random_batch(np.random.default_rng(3))
    layer = MultiWidthConv1D(
        filters=3, widths=WIDTHS, dropout=0.5, seed=7, bias_initializer="ones"
    )  # relu(features) > 0, so zeros are drops
    inference = keras.ops.convert_to_numpy(layer(x, mask=mask, training=False))
    kernels, biases = weights_of(layer)
    expected = reference_features(x, mask, kernels, biases, "valid", "max", "concat", "relu")
    np.testing.assert_allclose(inference, expected, rtol=1e-5, atol=1e-5)
    training = keras.ops.convert_to_numpy(layer(x, mask=mask, training=True))
    kept = training != 0
    assert 0 < kept[1:].mean() < 1
    np.testing.assert_allclose(training[kept], 2.0 * expected[kept], rtol=1e-5)


def test_config_round_trip():
    assert_config_round_trip(
        MultiWidthConv1D(
            filters=6,
            widths=(1, 4),
            activation="tanh",
            padding="same",
            pooling="mean",
            merge_mode="sum",
            dropout=0.25,
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=keras.regularizers.L2(1e-3),
            bias_constraint="non_neg",
            seed=3,
            name="cnn",
        )
    )


def test_model_saves_loads_and_exports(tmp_path):
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(30, 4, mask_zero=True)(ids)
    conv = MultiWidthConv1D(
        filters=3, widths=WIDTHS, dropout=0.5, bias_initializer="random_normal", name="cnn"
    )
    features = conv(vectors)
    model = keras.Model(ids, keras.layers.Dense(2)(features))
    token_ids = np.array(
        [[5, 7, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], [3, 9, 2, 8, 1, 4]], dtype="int32"
    )
    loaded = assert_model_saves_and_loads(model, token_ids, tmp_path)
    assert [w.path for w in loaded.get_layer("cnn").trainable_weights] == [
        f"cnn/{kind}_{width}" for width in WIDTHS for kind in ("kernel", "bias")
    ]
    if backend_is_tensorflow():
        assert_export_runs_without_nlpkit(model, token_ids, tmp_path)


def test_gradients_match_finite_differences():
    if not backend_is_tensorflow():
        pytest.skip("gradient check uses tf.GradientTape")
    import tensorflow as tf

    rng = np.random.default_rng(4)
    x, mask = random_batch(rng, batch=6, time=7, dim=3)
    x = x.astype("float64")
    layer = MultiWidthConv1D(
        filters=2,
        widths=WIDTHS,
        activation="tanh",
        pooling="mean",
        bias_initializer="random_normal",
        dtype="float64",
    )
    upstream = rng.normal(size=(6, 2 * len(WIDTHS)))
    x_var = tf.Variable(x)

    def loss():
        return tf.reduce_sum(layer(x_var, mask=mask) * upstream)

    with tf.GradientTape() as tape:
        value = loss()
    variables = [x_var, *layer.trainable_variables]
    gradients = [g.numpy() for g in tape.gradient(value, variables)]
    assert np.all(gradients[0][~mask] == 0.0)  # padding gets no gradient

    assert_gradients_match_finite_differences(loss, variables, gradients, rng, samples=6)


def test_wrong_rank_raises_a_clear_error():
    with pytest.raises(
        ValueError, match=r"expects inputs of shape \(batch, time, dim\).*got shape \(2, 5\)"
    ):
        MultiWidthConv1D(filters=2)(np.zeros((2, 5), dtype="float32"))


def test_wrong_dim_after_build_raises_a_clear_error():
    layer = MultiWidthConv1D(filters=2)
    layer(np.zeros((1, 6, 4), dtype="float32"))
    with pytest.raises(
        ValueError, match=r"built for inputs of shape \(batch, time, 4\); got shape \(1, 6, 3\)"
    ):
        layer(np.zeros((1, 6, 3), dtype="float32"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0}, "filters must be a positive int"),
        ({"filters": 2, "widths": ()}, "widths must be a non-empty sequence"),
        ({"filters": 2, "widths": (3, 3)}, "widths must be distinct"),
        ({"filters": 2, "padding": "causal"}, "padding must be one of"),
        ({"filters": 2, "pooling": "min"}, "pooling must be one of"),
        ({"filters": 2, "merge_mode": "mul"}, "merge_mode must be one of"),
        ({"filters": 2, "dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MultiWidthConv1D(**kwargs)
