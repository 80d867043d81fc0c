"""BagOfWords and BagOfEmbeddings against token-by-token NumPy references."""

import keras
import numpy as np
import pytest

from nlpkit.layers.bag_of_words import BagOfEmbeddings, BagOfWords
from tests.layer_checks import (
    assert_config_round_trip,
    assert_export_runs_without_nlpkit,
    assert_model_saves_and_loads,
    backend_is_tensorflow,
)

VOCAB = 12


def random_ids(rng, batch=6, time=8):
    """Padded id rows: one all padding, one left padded, one with unknown ids (-3, VOCAB, 99)."""
    ids = rng.integers(1, VOCAB, size=(batch, time)).astype("int32")
    ids[rng.random((batch, time)) < 0.3] = 0
    ids[0] = 0
    ids[1, :5] = 0
    ids[2, :3] = [-3, VOCAB, 99]
    return ids


def reference_counts(ids):
    counts = np.zeros((ids.shape[0], VOCAB))
    for b, row in enumerate(ids):
        for token in row:
            if 1 <= token < VOCAB:
                counts[b, token] += 1
    return counts


def reference_idf(documents):
    """idf[v] = log(1 + N / (1 + number of documents containing v)); 0 for padding."""
    idf = np.zeros(VOCAB)
    for v in range(1, VOCAB):
        containing = sum(1 for doc in documents if v in set(doc.tolist()))
        idf[v] = np.log(1.0 + len(documents) / (1.0 + containing))
    return idf


@pytest.mark.parametrize("mode", ["multi_hot", "count", "tf_idf"])
def test_bag_of_words_matches_numpy_reference(mode):
    rng = np.random.default_rng(0)
    ids = random_ids(rng)
    idf = rng.uniform(0.5, 3.0, size=VOCAB)
    layer = BagOfWords(VOCAB, mode=mode, idf_weights=idf if mode == "tf_idf" else None)
    actual = keras.ops.convert_to_numpy(layer(ids))
    counts = reference_counts(ids)
    expected = {"multi_hot": (counts > 0).astype(float), "count": counts, "tf_idf": counts * idf}[
        mode
    ]
    assert actual.shape == (6, VOCAB)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(actual[0], 0.0)  # all padding
    np.testing.assert_array_equal(actual[:, 0], 0.0)  # the padding column


def test_adapt_computes_idf_from_an_array_and_from_batches():
    rng = np.random.default_rng(1)
    documents = random_ids(rng, batch=10, time=6).clip(0, VOCAB - 1)
    from_array = BagOfWords(VOCAB, mode="tf_idf")
    from_array.adapt(documents)
    from_batches = BagOfWords(VOCAB, mode="tf_idf")
    from_batches.build((None, 6))  # built before adapt: adapt must update the weight in place
    from_batches.adapt(iter([documents[:4], documents[4:], np.zeros((3, 6), "int32")]), steps=2)
    expected_idf = reference_idf(list(documents))
    for layer in (from_array, from_batches):
        actual = keras.ops.convert_to_numpy(layer(documents))
        np.testing.assert_allclose(actual, reference_counts(documents) * expected_idf, rtol=1e-5)
    np.testing.assert_allclose(from_batches.get_weights()[0], expected_idf, rtol=1e-6)


def test_adapt_reads_a_tf_data_dataset():
    tf = pytest.importorskip("tensorflow")
    documents = random_ids(np.random.default_rng(2), batch=9, time=5).clip(0, VOCAB - 1)
    layer = BagOfWords(VOCAB, mode="tf_idf")
    layer.adapt(tf.data.Dataset.from_tensor_slices(documents).batch(4))
    layer.build((None, 5))
    np.testing.assert_allclose(layer.get_weights()[0], reference_idf(list(documents)), rtol=1e-6)


def test_tf_idf_without_idf_weights_refuses_to_run():
    with pytest.raises(
        ValueError, match=r"no idf weights yet: pass idf_weights=\.\.\. or call adapt"
    ):
        BagOfWords(VOCAB, mode="tf_idf")(np.ones((1, 3), "int32"))


def test_adapt_rejects_bad_data_and_modes():
    with pytest.raises(ValueError, match="used only by mode='tf_idf'"):
        BagOfWords(VOCAB, mode="count").adapt(np.ones((2, 3), "int32"))
    with pytest.raises(ValueError, match=r"ids must be in \[0, 12\); batch 0 has ids in \[0, 40\]"):
        BagOfWords(VOCAB, mode="tf_idf").adapt(np.array([[1, 40, 0]]))
    with pytest.raises(ValueError, match=r"shape \(docs, time\); batch 0 has shape \(3,\)"):
        BagOfWords(VOCAB, mode="tf_idf").adapt([np.array([1, 2, 0])])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"vocab_size": 1}, "vocab_size must be an int >= 2"),
        ({"vocab_size": VOCAB, "mode": "binary"}, "mode must be one of"),
        (
            {"vocab_size": VOCAB, "mode": "count", "idf_weights": [1.0] * VOCAB},
            "only used by mode='tf_idf'",
        ),
        (
            {"vocab_size": VOCAB, "mode": "tf_idf", "idf_weights": [1.0, 2.0]},
            "must have vocab_size=12 values; got 2",
        ),
    ],
)
def test_bag_of_words_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BagOfWords(**kwargs)


def test_bag_of_embeddings_matches_numpy_reference():
    ids = random_ids(np.random.default_rng(3))
    layer = BagOfEmbeddings(VOCAB, 5, embeddings_initializer="random_normal")
    actual = keras.ops.convert_to_numpy(layer(ids))
    table = layer.get_weights()[0]
    expected = np.zeros((ids.shape[0], 5))
    for b, row in enumerate(ids):
        known = [t for t in row if 1 <= t < VOCAB]
        if known:
            expected[b] = table[known].mean(axis=0)
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(actual[0], 0.0)


@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_equals_each_text_alone(side):
    rng = np.random.default_rng(4)
    texts = [rng.integers(1, VOCAB, size=n).astype("int32") for n in (1, 3, 7)]
    batch = np.zeros((len(texts), 7), dtype="int32")
    for row, text in enumerate(texts):
        if side == "right":
            batch[row, : len(text)] = text
        else:
            batch[row, 7 - len(text) :] = text
    layers = [
        BagOfWords(VOCAB, mode="count"),
        BagOfWords(VOCAB, mode="tf_idf", idf_weights=rng.uniform(size=VOCAB)),
        BagOfEmbeddings(VOCAB, 4),
    ]
    for layer in layers:
        padded = keras.ops.convert_to_numpy(layer(batch))
        for row, text in enumerate(texts):
            alone = keras.ops.convert_to_numpy(layer(text[None]))
            np.testing.assert_allclose(padded[row], alone[0], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "layer",
    [
        BagOfWords(VOCAB, mode="tf_idf", idf_weights=np.linspace(0, 2, VOCAB), name="bow"),
        BagOfWords(VOCAB, mode="multi_hot"),
        BagOfEmbeddings(
            VOCAB,
            3,
            embeddings_initializer="he_normal",
            embeddings_regularizer=keras.regularizers.L2(1e-4),
            embeddings_constraint="non_neg",
        ),
    ],
    ids=["tf_idf", "multi_hot", "embeddings"],
)
def test_config_round_trip(layer):
    assert_config_round_trip(layer)


def test_model_saves_adapted_idf_loads_and_exports(tmp_path):
    documents = random_ids(np.random.default_rng(5), batch=8, time=6).clip(0, VOCAB - 1)
    tf_idf = BagOfWords(VOCAB, mode="tf_idf", name="tf_idf")
    tf_idf.adapt(documents)
    ids = keras.Input(shape=(None,), dtype="int32")
    features = keras.layers.Concatenate()(
        [tf_idf(ids), BagOfWords(VOCAB, mode="count")(ids), BagOfEmbeddings(VOCAB, 3)(ids)]
    )
    model = keras.Model(ids, keras.layers.Dense(2)(features))
    loaded = assert_model_saves_and_loads(model, documents, tmp_path)
    # The adapted idf is not in the config: it came back as the saved weight.
    assert loaded.get_layer("tf_idf").get_config()["idf_weights"] is None
    np.testing.assert_allclose(
        loaded.get_layer("tf_idf").get_weights()[0], reference_idf(list(documents)), rtol=1e-6
    )
    if backend_is_tensorflow():
        assert_export_runs_without_nlpkit(model, documents, tmp_path)


def test_bag_of_embeddings_gradient():
    if not backend_is_tensorflow():
        pytest.skip("gradient check uses tf.GradientTape")
    import tensorflow as tf

    ids = random_ids(np.random.default_rng(6))
    layer = BagOfEmbeddings(VOCAB, 4)
    upstream = np.random.default_rng(7).normal(size=(ids.shape[0], 4)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(ids) * upstream)
    gradient = tf.convert_to_tensor(tape.gradient(loss, layer.trainable_variables[0])).numpy()
    # d loss / d E[v] = sum_b upstream[b] * (occurrences of v in row b) / (known tokens in row b)
    counts = reference_counts(ids)
    expected = (counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)).T @ upstream
    np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(gradient[0], 0.0)  # the padding row of the table never learns


@pytest.mark.parametrize(
    "layer", [BagOfWords(VOCAB), BagOfEmbeddings(VOCAB, 3)], ids=["bow", "boe"]
)
def test_wrong_rank_raises_a_clear_error(layer):
    with pytest.raises(
        ValueError,
        match=r"expects token ids of shape \(batch, time\) \(rank 2\); got shape \(2, 3, 1\)",
    ):
        layer(np.ones((2, 3, 1), dtype="int32"))
