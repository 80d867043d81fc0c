"""export_text_encoder: a tiny trained encoder out as a Hub module, back in through hub.load,
nlpkit's HubLayer and tf_keras' hub.KerasLayer, fine-tuned, and checked against the serving
contract."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub

from nlpkit.export import (
    RUN_CONFIG_PATH,
    saved_model_op_types,
    signature_def,
    unservable_ops,
)
from nlpkit.export.text_encoder import INPUT_NAME, OUTPUT_NAME, export_text_encoder
from nlpkit.layers import HubLayer, MeanPooling
from nlpkit.text import WordTokenizer
from tests.layer_checks import run_without_nlpkit

TRAIN = ["a good movie", "a bad movie", "good acting", "bad plot , bad acting", "fine"]
SENTENCES = ["A good plot", "unheard-of words", "", "bad bad bad movie"]
DIM = 6
L2 = 0.01


def build_encoder():
    """Tokenizer, and ids -> [batch, DIM]: regularized embedding (frozen), dropout, dense, mean."""
    keras.utils.set_random_seed(1)
    tokenizer = WordTokenizer(lowercase=True, max_length=16)
    tokenizer.adapt(TRAIN)
    ids = keras.Input(shape=(None,), dtype="int32")
    embedding = keras.layers.Embedding(
        tokenizer.vocabulary_size, 5, mask_zero=True,
        embeddings_regularizer=keras.regularizers.L2(L2), name="embedding",
    )
    vectors = keras.layers.Dropout(0.5)(embedding(ids))
    states = keras.layers.Dense(
        DIM, activation="tanh", kernel_regularizer=keras.regularizers.L2(L2), name="dense"
    )(vectors)
    encoder = keras.Model(ids, MeanPooling()(states))
    # Trained a little, as part of a classifier.
    text = keras.Input(shape=(), dtype="string")
    classifier = keras.Model(text, keras.layers.Dense(1)(encoder(tokenizer(text))))
    classifier.compile("adam", "mse")
    classifier.fit(np.array(TRAIN, dtype=object), np.arange(len(TRAIN), dtype="float32"),
                   epochs=2, verbose=0)
    return tokenizer, encoder


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tokenizer, encoder = build_encoder()
    base = tmp_path_factory.mktemp("encoders") / "sentiment-encoder"
    handle = export_text_encoder(tokenizer, encoder, str(base), run_config={"recipe": "test"})
    expected = keras.ops.convert_to_numpy(encoder(tokenizer(tf.constant(SENTENCES))))
    return {"handle": handle, "base": str(base), "tokenizer": tokenizer, "encoder": encoder,
            "expected": expected}


def test_hub_load_gives_the_reusable_savedmodel_interface(exported):
    module = hub.load(exported["handle"])
    assert exported["handle"].endswith("/1")
    np.testing.assert_allclose(module(tf.constant(SENTENCES)).numpy(), exported["expected"],
                               atol=1e-5)
    np.testing.assert_allclose(
        module(tf.constant(SENTENCES), training=False).numpy(), exported["expected"], atol=1e-5
    )
    # training=True runs the dropout.
    assert not np.allclose(module(tf.constant(SENTENCES), training=True).numpy(),
                           exported["expected"], atol=1e-5)
    encoder = exported["encoder"]
    assert ({v.name for v in module.trainable_variables}
            == {v.path + ":0" for v in encoder.trainable_weights})
    assert len(module.variables) >= len(encoder.weights)
    losses = sorted(float(loss()) for loss in module.regularization_losses)
    np.testing.assert_allclose(
        losses, sorted(float(loss) for loss in encoder.losses), rtol=1e-5
    )
    assert len(losses) == 2
    # The version directory holds the run config, like every nlpkit export.
    with open(f"{exported['handle']}/{RUN_CONFIG_PATH}", encoding="utf-8") as file:
        assert json.load(file) == {"recipe": "test"}


def test_frozen_layers_stay_out_of_trainable_variables(tmp_path, exported):
    embedding = exported["encoder"].get_layer("embedding")
    embedding.trainable = False
    try:
        handle = export_text_encoder(exported["tokenizer"], exported["encoder"],
                                     str(tmp_path / "frozen"))
    finally:
        embedding.trainable = True
    module = hub.load(handle)
    assert [v.name for v in module.trainable_variables] == ["dense/kernel:0", "dense/bias:0"]
    assert "embedding/embeddings:0" in [v.name for v in module.variables]
    # Only the trainable weights' regularizers count (as in Keras' own `model.losses`).
    assert len(module.regularization_losses) == 1


def test_serving_signature_and_ops(exported):
    signature = signature_def(exported["handle"])
    assert list(signature.inputs) == [INPUT_NAME]
    assert list(signature.outputs) == [OUTPUT_NAME]
    assert signature.outputs[OUTPUT_NAME].tensor_shape.dim[-1].size == DIM
    assert unservable_ops(saved_model_op_types(exported["handle"])) == {}
    serve = tf.saved_model.load(exported["handle"]).signatures["serving_default"]
    np.testing.assert_allclose(
        serve(text=tf.constant(SENTENCES))[OUTPUT_NAME].numpy(), exported["expected"], atol=1e-5
    )


def test_hub_layer_loads_it_and_fine_tuning_changes_its_variables(exported):
    x = np.array(SENTENCES, dtype=object)
    for trainable in (True, False):
        layer = HubLayer(exported["handle"], trainable=trainable)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(tf.constant(SENTENCES))),
                                   exported["expected"], atol=1e-5)
        # One loss: the sum of the module's regularization losses, while trainable.
        expected_losses = [sum(float(loss) for loss in exported["encoder"].losses)]
        np.testing.assert_allclose([float(loss) for loss in layer.losses],
                                   expected_losses if trainable else [], rtol=1e-5)
        text = keras.Input(shape=(), dtype="string")
        model = keras.Model(text, keras.layers.Dense(1)(layer(text)))
        model.compile(keras.optimizers.SGD(0.5), "mse")
        before = [v.numpy().copy() for v in layer.module.trainable_variables]
        model.fit(x, np.full(len(SENTENCES), 3.0, "float32"), epochs=2, verbose=0)
        after = [v.numpy() for v in layer.module.trainable_variables]
        changed = any(not np.allclose(a, b) for a, b in zip(before, after))
        assert changed == trainable


def test_a_string_encoder_given_as_a_list_of_layers_is_the_next_version(exported):
    tokenizer, encoder = exported["tokenizer"], exported["encoder"]
    handle = export_text_encoder(None, [tokenizer, encoder], exported["base"])
    assert handle.endswith("/2")  # the next free version; version 1 is untouched
    np.testing.assert_allclose(hub.load(handle)(tf.constant(SENTENCES)).numpy(),
                               exported["expected"], atol=1e-5)


def test_an_encoder_that_does_not_pool_is_refused_before_writing(tmp_path, exported):
    ids = keras.Input(shape=(None,), dtype="int32")
    sequence = keras.Model(ids, keras.layers.Embedding(50, 4)(ids))
    with pytest.raises(ValueError, match=r"\[batch, dim\] floats; this one gives float32 of "
                                         r"shape \(2, \d+, 4\)"):
        export_text_encoder(exported["tokenizer"], sequence, str(tmp_path / "bad"))
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_tf_keras_hub_keras_layer_loads_and_fine_tunes_it(exported, tmp_path):
    np.save(str(tmp_path / "expected.npy"), exported["expected"])
    script = f"""
        import json, os
        os.environ["TF_USE_LEGACY_KERAS"] = "1"  # tf.keras is tf_keras (Keras 2), as hub wants
        import numpy as np
        import tensorflow as tf
        import tensorflow_hub as hub
        import tensorflow_text  # registers the tokenizer's ops
        import tf_keras

        layer = hub.KerasLayer({exported["handle"]!r}, trainable=True)
        model = tf_keras.Sequential([
            tf_keras.layers.InputLayer(input_shape=(), dtype=tf.string), layer,
            tf_keras.layers.Dense(1)])
        outputs = layer(tf.constant({SENTENCES!r})).numpy()
        np.testing.assert_allclose(outputs, np.load("expected.npy"), atol=1e-5)
        before = [v.numpy().copy() for v in layer.trainable_weights]
        model.compile(tf_keras.optimizers.SGD(0.5), "mse")
        model.fit(tf.constant({SENTENCES!r}), np.full({len(SENTENCES)}, 3.0), epochs=2,
                  verbose=0)
        print(json.dumps({{
            "losses": len(model.losses),
            "changed": any(not np.allclose(a, b.numpy())
                           for a, b in zip(before, layer.trainable_weights)),
        }}))
    """
    result = json.loads(run_without_nlpkit(script, cwd=tmp_path).strip().splitlines()[-1])
    assert result["changed"]
    assert result["losses"] == 2  # hub.KerasLayer adds the module's regularization losses
