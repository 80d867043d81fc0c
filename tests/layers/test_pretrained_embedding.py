"""PretrainedEmbedding: rows equal the given vectors, frozen rows stay bit-identical through
fit (Adam with weight decay), `.keras` save/load and export; the static channel and trained
dimensions; masks; config."""

import keras
import numpy as np
import pytest

from nlpkit.layers import MeanPooling, PretrainedEmbedding
from tests.layer_checks import (
    assert_config_round_trip,
    assert_export_runs_without_nlpkit,
    backend_is_tensorflow,
)

VOCAB, DIM = 10, 4
VECTORS = np.random.default_rng(0).normal(size=(VOCAB, DIM)).astype("float32")
VECTORS[0] = 0.0
# Ids 7-9 never occur in the training data, as the words vocabulary expansion adds.
TOKEN_IDS = np.array([[1, 2, 3, 0], [4, 5, 6, 2], [6, 5, 0, 0], [3, 3, 1, 4]], "int32")
LABELS = np.array([0, 1, 1, 0])


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


@pytest.mark.parametrize("kwargs, width", [
    ({}, DIM), ({"trainable_rows": 0}, DIM), ({"trainable_rows": 7}, DIM),
    ({"trainable_rows": 7, "static_channel": True}, 2 * DIM),
    ({"trained_dim": 3}, DIM + 3),
    ({"trainable_rows": 7, "static_channel": True, "trained_dim": 3}, 2 * DIM + 3),
])
def test_rows_are_the_given_vectors_in_every_layout(kwargs, width):
    layer = PretrainedEmbedding(VOCAB, DIM, vectors=VECTORS, **kwargs)
    outputs = numpy(layer(TOKEN_IDS))
    assert outputs.shape == (4, 4, width) and layer.output_dim == width
    np.testing.assert_array_equal(outputs[..., :DIM], VECTORS[TOKEN_IDS])
    if kwargs.get("static_channel"):
        np.testing.assert_array_equal(outputs[..., DIM : 2 * DIM], VECTORS[TOKEN_IDS])
    np.testing.assert_array_equal(numpy(layer.embeddings)[:, :DIM], VECTORS)
    assert layer.compute_output_shape((4, 4)) == (4, 4, width)


def test_weights_split_into_trainable_and_frozen_parts():
    layer = PretrainedEmbedding(VOCAB, DIM, vectors=VECTORS, trainable_rows=7,
                                static_channel=True, trained_dim=3)
    layer.build()
    assert [(w.name, tuple(w.shape)) for w in layer.trainable_weights] == [
        ("tuned_vectors", (7, DIM)), ("trained_embeddings", (VOCAB, 3))]
    assert [(w.name, tuple(w.shape)) for w in layer.non_trainable_weights] == [
        ("frozen_vectors", (3, DIM)), ("static_vectors", (7, DIM))]
    frozen = PretrainedEmbedding(VOCAB, DIM, vectors=VECTORS, trainable_rows=0)
    frozen.build()
    assert not frozen.trainable_weights and len(frozen.non_trainable_weights) == 1


def test_mask_zero_masks_padding_like_keras_embedding():
    layer = PretrainedEmbedding(VOCAB, DIM, vectors=VECTORS, mask_zero=True)
    reference = keras.layers.Embedding(VOCAB, DIM, mask_zero=True)
    np.testing.assert_array_equal(numpy(layer.compute_mask(TOKEN_IDS)),
                                  numpy(reference.compute_mask(TOKEN_IDS)))
    assert PretrainedEmbedding(VOCAB, DIM).compute_mask(TOKEN_IDS) is None


def build_model(**kwargs):
    ids = keras.Input(shape=(None,), dtype="int32")
    embedded = PretrainedEmbedding(VOCAB, DIM, vectors=VECTORS, mask_zero=True,
                                   name="embedding", **kwargs)(ids)
    outputs = keras.layers.Dense(2, activation="softmax")(MeanPooling()(embedded))
    return keras.Model(ids, outputs)


def fit(model, epochs=5):
    model.compile(optimizer=keras.optimizers.Adam(0.1, weight_decay=0.5),
                  loss="sparse_categorical_crossentropy")
    model.fit(TOKEN_IDS, LABELS, epochs=epochs, batch_size=2, verbose=0)
    return model


def test_frozen_rows_stay_bit_identical_through_fit_and_save(tmp_path):
    keras.utils.set_random_seed(1)
    model = fit(build_model(trainable_rows=7, static_channel=True, trained_dim=3))
    table = numpy(model.get_layer("embedding").embeddings)
    # The rows from id 7 on (frozen) and the static channel keep their exact values ...
    np.testing.assert_array_equal(table[7:, :DIM], VECTORS[7:])
    np.testing.assert_array_equal(table[:, DIM : 2 * DIM], VECTORS)
    # ... while the tuned rows of the ids seen, and the trained dimensions, moved.
    assert not np.allclose(table[1:7, :DIM], VECTORS[1:7], atol=1e-3)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(numpy(loaded.get_layer("embedding").embeddings), table)
    np.testing.assert_array_equal(numpy(loaded(TOKEN_IDS)), numpy(model(TOKEN_IDS)))
    # Training the loaded model on goes on leaving the frozen rows alone.
    fit(loaded, epochs=2)
    np.testing.assert_array_equal(numpy(loaded.get_layer("embedding").embeddings)[7:, :DIM],
                                  VECTORS[7:])


def test_all_frozen_vectors_stay_bit_identical_and_the_rest_trains():
    keras.utils.set_random_seed(2)
    model = build_model(trainable_rows=0)
    dense_before = numpy(model.layers[-1].kernel).copy()
    fit(model)
    np.testing.assert_array_equal(numpy(model.get_layer("embedding").embeddings), VECTORS)
    assert not np.allclose(numpy(model.layers[-1].kernel), dense_before)


def test_layer_trainable_false_freezes_everything():
    layer = PretrainedEmbedding(VOCAB, DIM, vectors=VECTORS, trained_dim=2, trainable=False)
    layer.build()
    assert not layer.trainable_weights and len(layer.non_trainable_weights) == 2


def test_without_vectors_the_initializer_fills_both_channels_alike():
    layer = PretrainedEmbedding(VOCAB, DIM, static_channel=True, trainable_rows=6,
                                embeddings_initializer="random_normal")
    layer.build()
    table = numpy(layer.embeddings)
    np.testing.assert_array_equal(table[:, :DIM], table[:, DIM:])
    assert np.std(table) > 0


def test_config_round_trip_leaves_the_vectors_to_the_weights():
    layer = PretrainedEmbedding(VOCAB, DIM, vectors=VECTORS, trainable_rows=7,
                                static_channel=True, trained_dim=3, mask_zero=True)
    assert_config_round_trip(layer)
    config = layer.get_config()
    assert "vectors" not in config and config["trainable_rows"] == 7


@pytest.mark.parametrize("kwargs, message", [
    ({"vectors": np.zeros((3, DIM))}, "vectors must have shape"),
    ({"trainable_rows": VOCAB + 1}, "trainable_rows must be None or an int"),
    ({"trainable_rows": 0, "static_channel": True}, "static_channel=True"),
    ({"trained_dim": -1}, "trained_dim must be an int >= 0"),
])
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PretrainedEmbedding(VOCAB, DIM, **kwargs)


@pytest.mark.skipif(not backend_is_tensorflow(), reason="SavedModel export is TensorFlow-only")
def test_export_runs_without_nlpkit_and_keeps_the_vectors(tmp_path):
    keras.utils.set_random_seed(3)
    model = fit(build_model(trainable_rows=7, static_channel=True), epochs=2)
    assert_export_runs_without_nlpkit(model, TOKEN_IDS, tmp_path, atol=0)
