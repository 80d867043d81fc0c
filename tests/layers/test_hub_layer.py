"""HubLayer on tiny modules written here: a TF2 Reusable SavedModel and a TF1 Hub-format module.

tensorflow_hub 0.16 no longer has `hub.Module` or `hub.create_module_spec`, so the TF1 module is
written the way their export wrote it: a TF1 SavedModel whose graph has the empty tag set and a
"default" signature, with a `tfhub_module.pb` beside it (which is how `hub.load` tells the format).
Under another Keras backend only the error is checked (`KERAS_BACKEND=jax pytest tests/layers`).
"""

import json
import os
import shutil

import keras
import numpy as np
import pytest

from nlpkit.layers.hub_layer import HubLayer
from tests.layer_checks import (
    assert_config_round_trip,
    assert_model_saves_and_loads,
    backend_is_tensorflow,
    run_without_nlpkit,
)
from tests.training.tiny_training import run_python

tensorflow_only = pytest.mark.skipif(
    not backend_is_tensorflow(), reason="Hub modules need the TensorFlow backend"
)

WORDS = ["good", "bad", "movie"]  # ids 1, 2, 3; 0 is every other word
DIM = 4
REGULARIZATION = 0.01
SENTENCES = ["good movie", "bad bad movie", "unknown words only", ""]


def embedding_values():
    return np.arange((len(WORDS) + 1) * DIM, dtype="float32").reshape(-1, DIM) / 10.0


def expected_embeddings(sentences, table=None):
    """What the tiny text module computes: the mean of its rows over the words (empty: zeros)."""
    table = embedding_values() if table is None else table
    ids = {word: index + 1 for index, word in enumerate(WORDS)}
    rows = []
    for sentence in sentences:
        tokens = sentence.split()
        rows.append(
            np.mean([table[ids.get(token, 0)] for token in tokens], axis=0)
            if tokens else np.zeros(DIM, "float32")
        )
    return np.stack(rows)


def save_tf2_text_module(path):
    """A Reusable SavedModel: strings -> mean of word rows; twice that with training=True.

    The doubling makes the `training` argument visible in the output; `calls` is a
    non-trainable variable, and `regularization_losses` holds one L2 penalty on the rows.
    """
    import tensorflow as tf

    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(WORDS), tf.range(1, len(WORDS) + 1, dtype=tf.int64)
        ),
        default_value=0,
    )
    rows = tf.Variable(embedding_values(), name="rows")
    calls = tf.Variable(0.0, trainable=False, name="calls")

    def embed(inputs):
        ids = table.lookup(tf.strings.split(inputs))
        vectors = tf.gather(rows, ids)
        count = tf.cast(tf.expand_dims(ids.row_lengths(), 1), tf.float32)
        return tf.reduce_sum(vectors, axis=1) / tf.maximum(count, 1.0) + 0.0 * calls

    @tf.function
    def call(inputs, training=False):
        return embed(inputs) * (2.0 if training else 1.0)

    for training in (True, False):
        call.get_concrete_function(tf.TensorSpec([None], tf.string), training=training)
    root = tf.train.Checkpoint()  # a plain trackable: its attributes become the module's
    root.table = table
    root.__call__ = call
    root.variables = [rows, calls]
    root.trainable_variables = [rows]
    root.regularization_losses = [
        tf.function(lambda: REGULARIZATION * tf.reduce_sum(tf.square(rows)), input_signature=[])
    ]
    serve = tf.function(
        lambda text: {"embedding": embed(text), "length": tf.strings.length(text)},
        input_signature=[tf.TensorSpec([None], tf.string, name="text")],
    )
    single = tf.function(
        lambda text: {"embedding": embed(text)},
        input_signature=[tf.TensorSpec([None], tf.string, name="text")],
    )
    tf.saved_model.save(root, path, signatures={"serving_default": serve, "embed": single})
    return path


def save_tf1_hub_module(path):
    """A TF1 Hub-format module: signature "default" (input "text"; outputs "default", "ids")."""
    import tensorflow as tf

    with tf.Graph().as_default():
        text = tf.compat.v1.placeholder(tf.string, [None], name="text")
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(WORDS), tf.range(1, len(WORDS) + 1, dtype=tf.int64)
            ),
            default_value=0,
        )
        rows = tf.compat.v1.get_variable("rows", initializer=tf.constant(embedding_values()))
        ids = table.lookup(tf.strings.split(text))
        count = tf.cast(tf.expand_dims(ids.row_lengths(), 1), tf.float32)
        default = tf.reduce_sum(tf.gather(rows, ids), axis=1) / tf.maximum(count, 1.0)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            session.run(tf.compat.v1.tables_initializer())
            builder = tf.compat.v1.saved_model.Builder(path)
            signature = tf.compat.v1.saved_model.predict_signature_def(
                {"text": text}, {"default": default, "ids": ids.to_tensor()}
            )
            builder.add_meta_graph_and_variables(
                session, [], signature_def_map={"default": signature},
                main_op=tf.compat.v1.tables_initializer(),
            )
            builder.save()
    # The ModuleDef proto of hub.Module exports: `format: FORMAT_V3` (field 1, varint 3).
    with open(os.path.join(path, "tfhub_module.pb"), "wb") as file:
        file.write(b"\x08\x03")
    return path


def save_tf2_feature_module(path):
    """A Reusable SavedModel on float features `(batch, 3)` -> `(batch, 2)` (a linear map)."""
    import tensorflow as tf

    kernel = tf.Variable(np.ones((3, 2), "float32"), name="kernel")

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    def call(inputs):
        return tf.matmul(inputs, kernel)

    root = tf.train.Checkpoint()
    root.__call__ = call
    root.variables = [kernel]
    root.trainable_variables = [kernel]
    tf.saved_model.save(root, path)
    return path


@pytest.fixture(scope="module")
def modules(tmp_path_factory):
    if not backend_is_tensorflow():
        pytest.skip("Hub modules need the TensorFlow backend")
    base = tmp_path_factory.mktemp("hub_modules")
    return {
        "text": save_tf2_text_module(str(base / "text")),
        "tf1": save_tf1_hub_module(str(base / "tf1")),
        "features": save_tf2_feature_module(str(base / "features")),
    }


def numpy(value):
    return keras.ops.convert_to_numpy(value)


def text_model(layer):
    text = keras.Input(shape=(), dtype="string")
    return keras.Model(text, keras.layers.Dense(1, kernel_initializer="ones")(layer(text)))


@pytest.mark.skipif(backend_is_tensorflow(), reason="checks the error under other backends")
def test_other_backends_get_an_error_naming_the_backend(tmp_path):
    with pytest.raises(ValueError, match=f"TensorFlow backend.*{keras.backend.backend()!r}"):
        HubLayer(str(tmp_path))


@tensorflow_only
def test_a_frozen_module_maps_strings_in_inference_mode_without_losses(modules):
    import tensorflow as tf

    layer = HubLayer(modules["text"])
    expected = expected_embeddings(SENTENCES)
    np.testing.assert_allclose(numpy(layer(tf.constant(SENTENCES))), expected, atol=1e-6)
    # Frozen: training=True does not reach the module, and no weight is trainable.
    np.testing.assert_allclose(
        numpy(layer(tf.constant(SENTENCES), training=True)), expected, atol=1e-6
    )
    assert layer.trainable_weights == []
    assert sorted(weight.name for weight in layer.non_trainable_weights) == ["calls", "rows"]
    assert layer.losses == []
    # Unfrozen later, as Keras layers are.
    layer.trainable = True
    assert [weight.name for weight in layer.trainable_weights] == ["rows"]
    layer.trainable = False
    assert layer.trainable_weights == []
    # Inside a functional model, from a string Input.
    text = keras.Input(shape=(), dtype="string")
    model = keras.Model(text, layer(text))
    assert model.output.shape == (None, DIM)
    np.testing.assert_allclose(
        numpy(model.predict(np.array(SENTENCES, dtype=object), verbose=0)), expected, atol=1e-6
    )


@tensorflow_only
def test_a_trainable_module_gets_training_its_variables_and_its_losses(modules):
    import tensorflow as tf

    layer = HubLayer(modules["text"], trainable=True)
    expected = expected_embeddings(SENTENCES)
    np.testing.assert_allclose(
        numpy(layer(tf.constant(SENTENCES), training=True)), 2 * expected, atol=1e-6
    )
    np.testing.assert_allclose(
        numpy(layer(tf.constant(SENTENCES), training=False)), expected, atol=1e-6
    )
    np.testing.assert_allclose(numpy(layer(tf.constant(SENTENCES))), expected, atol=1e-6)
    assert [weight.name for weight in layer.trainable_weights] == ["rows"]
    assert [weight.name for weight in layer.non_trainable_weights] == ["calls"]
    # The weight is the module's own variable, not a copy.
    rows = layer.trainable_weights[0]
    assert rows.value is layer.module.trainable_variables[0]
    [loss] = layer.losses
    np.testing.assert_allclose(
        float(loss), REGULARIZATION * np.sum(embedding_values() ** 2), rtol=1e-6
    )


@tensorflow_only
def test_fit_fine_tunes_a_trainable_module_and_leaves_a_frozen_one(modules):
    x = np.array(SENTENCES, dtype=object)
    y = np.array([1.0, -1.0, 0.5, 0.0], "float32")
    for trainable in (True, False):
        layer = HubLayer(modules["text"], trainable=trainable)
        model = text_model(layer)
        model.compile(keras.optimizers.SGD(0.1), "mse")
        model.fit(x, y, epochs=2, batch_size=4, verbose=0)
        rows = layer.module.variables[0].numpy()
        assert (not np.allclose(rows, embedding_values())) == trainable


@tensorflow_only
def test_keras_files_save_the_handle_and_the_fine_tuned_values(modules, tmp_path):
    layer = HubLayer(modules["text"], trainable=True, name="encoder")
    assert_config_round_trip(layer)
    config = layer.get_config()
    assert {key: config[key] for key in ("handle", "trainable", "signature", "output_key",
                                         "arguments")} == {
        "handle": modules["text"], "trainable": True, "signature": None, "output_key": None,
        "arguments": {},
    }
    model = text_model(layer)
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x = np.array(SENTENCES, dtype=object)
    model.fit(x, np.ones(len(SENTENCES), "float32"), epochs=1, verbose=0)
    loaded = assert_model_saves_and_loads(model, x, tmp_path)
    # The module on disk still holds the original rows: the trained ones came from the file.
    reloaded_rows = loaded.get_layer("encoder").module.variables[0].numpy()
    np.testing.assert_allclose(reloaded_rows, layer.module.variables[0].numpy())
    assert not np.allclose(reloaded_rows, embedding_values())


@tensorflow_only
def test_tf1_hub_format_is_called_through_its_default_signature(modules):
    import tensorflow as tf

    layer = HubLayer(modules["tf1"])
    assert layer.is_tf1_hub_format
    assert (layer.signature, layer.output_key) == ("default", "default")
    np.testing.assert_allclose(
        numpy(layer(tf.constant(SENTENCES))), expected_embeddings(SENTENCES), atol=1e-6
    )
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 1
    ids = HubLayer(modules["tf1"], output_key="ids")(tf.constant(["good bad", "movie"]))
    np.testing.assert_array_equal(numpy(ids), [[1, 2], [3, 0]])
    # In a functional model, saved and reloaded by handle.
    model = text_model(HubLayer(modules["tf1"]))
    assert model.output.shape == (None, 1)
    assert_config_round_trip(layer)


@tensorflow_only
def test_signatures_name_their_output_and_refuse_fine_tuning(modules):
    import tensorflow as tf

    with pytest.raises(ValueError, match="TF1 Hub-format.*cannot be trainable|cannot be trainable"):
        HubLayer(modules["tf1"], trainable=True)
    with pytest.raises(ValueError, match="cannot be trainable"):
        HubLayer(modules["text"], signature="serving_default", output_key="embedding",
                 trainable=True)
    with pytest.raises(ValueError, match=r"no signature 'nope'; it has \['embed', 'serving"):
        HubLayer(modules["text"], signature="nope")
    with pytest.raises(ValueError, match=r"outputs \['embedding', 'length'\]; pick one"):
        HubLayer(modules["text"], signature="serving_default")
    with pytest.raises(ValueError, match="no output 'nope'"):
        HubLayer(modules["tf1"], output_key="nope")
    expected = expected_embeddings(SENTENCES)
    for layer in (HubLayer(modules["text"], signature="serving_default", output_key="embedding"),
                  HubLayer(modules["text"], signature="embed")):  # the only output
        np.testing.assert_allclose(numpy(layer(tf.constant(SENTENCES))), expected, atol=1e-6)
        # Through a signature nothing is fine-tuned, even if the model is made trainable later.
        layer.trainable = True
        assert layer.trainable_weights == []


@tensorflow_only
def test_a_model_with_a_hub_layer_exports_and_runs_without_hub_or_nlpkit(modules, tmp_path):
    import tensorflow as tf

    from nlpkit.export import saved_model_op_types, unservable_ops
    from nlpkit.tasks.classification.export import export_classifier

    # A copy of the module, removed before the export is loaded: the export must hold it all.
    handle = shutil.copytree(modules["text"], str(tmp_path / "module"))
    text = keras.Input(shape=(), dtype="string")
    model = keras.Model(
        text, keras.layers.Dense(2, activation="softmax")(HubLayer(handle, trainable=True)(text))
    )
    expected = numpy(model(tf.constant(SENTENCES)))
    version_dir = export_classifier(None, model, ["negative", "positive"], str(tmp_path / "m"))
    shutil.rmtree(handle)
    assert unservable_ops(saved_model_op_types(version_dir)) == {}
    output = run_without_nlpkit(
        f"""
        import json, sys
        sys.modules["tensorflow_hub"] = None  # import tensorflow_hub fails here
        import tensorflow as tf
        serve = tf.saved_model.load({version_dir!r}).signatures["serving_default"]
        outputs = serve(text=tf.constant({SENTENCES!r}))
        print(json.dumps(outputs["probabilities"].numpy().tolist()))
        """,
        cwd=tmp_path,
    )
    np.testing.assert_allclose(json.loads(output.strip().splitlines()[-1]), expected, atol=1e-6)


@tensorflow_only
def test_fine_tuning_under_mirrored_strategy_on_two_logical_cpus(modules):
    # model.fit on a features module; on strings, Keras' own train function, as nlpkit's training
    # loop runs it: Keras 3.15's model.fit averages the first batch over the replicas before its
    # first step (`_maybe_symbolic_build`), which fails on any string input, Hub or not.
    script = f"""
import json
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from nlpkit.layers import HubLayer
from nlpkit.training.steps import KerasStep, build_training_state

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    features = HubLayer({modules["features"]!r}, trainable=True)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, features(inputs))
    model.compile(keras.optimizers.SGD(0.05), "mse")
x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
model.fit(x, np.zeros((8, 2), "float32"), batch_size=8, epochs=2, verbose=0)
kernel = features.module.variables[0]

with strategy.scope():
    text_layer = HubLayer({modules["text"]!r}, trainable=True)
    text = keras.Input(shape=(), dtype="string")
    text_model = keras.Model(text, keras.layers.Dense(1)(text_layer(text)))
    text_model.compile(keras.optimizers.SGD(0.1), "mse")
data = tf.data.Dataset.from_tensor_slices(
    ({SENTENCES!r}, np.ones({len(SENTENCES)}, "float32"))).batch({len(SENTENCES)})
data = strategy.experimental_distribute_dataset(data)
build_training_state(text_model, strategy, next(iter(data)))
step = KerasStep(text_model)
for _ in range(2):
    step.train(iter(data))
rows = text_layer.module.variables[0]
print(json.dumps({{
    "kernel_type": type(kernel).__name__,
    "kernel": [replica.numpy().tolist() for replica in kernel.values],
    "rows": [replica.numpy().tolist() for replica in rows.values],
}}))
"""
    result = json.loads(run_python(script).strip().splitlines()[-1])
    assert result["kernel_type"] == "MirroredVariable"
    first, second = (np.array(replica) for replica in result["kernel"])
    np.testing.assert_array_equal(first, second)  # the replicas stay in sync
    assert not np.allclose(first, 1.0)
    first, second = (np.array(replica) for replica in result["rows"])
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, embedding_values())
