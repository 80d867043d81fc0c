"""The TensorFlow fast path (`nlpkit.layers.tensorflow_recurrence`) against the reference loop.

The reference is the same layer with the fast path switched off (`reference_loop`), i.e.
`keras.ops.scan` over the cell's `step`, which tests/layers/test_recurrent.py checks against
NumPy. Both must give the same outputs, states and gradients (inputs, initial states, every
weight) to 1e-5: eagerly (the loops without XLA), inside `tf.function` (XLA, the batch split into
parallel chains) and with gradients asked for outside training (the backward pass recomputes the
gates).
"""

import ast
import contextlib

import keras
import numpy as np
import pytest

from nlpkit import layers
from tests import layer_checks

if not layer_checks.backend_is_tensorflow():
    pytest.skip("the fast path exists on the TensorFlow backend only", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from nlpkit.layers import tensorflow_recurrence  # noqa: E402

UNITS = 3
FEATURES = 4
BATCH = 5  # split 2 + 3 when the test asks for two chains
TIME = 6

KINDS = {
    "lstm": (layers.LSTM, {}),
    "peephole_lstm": (layers.PeepholeLSTM, {}),
    "coupled_lstm": (layers.CoupledLSTM, {}),
    "no_forget_gate_lstm": (layers.NoForgetGateLSTM, {}),
    "gru": (layers.GRU, {"reset_after": True}),
    "simple_rnn": (layers.SimpleRNN, {}),
}

# Every feature of the loop, in two combinations per kind to keep the number of compilations low.
SETTINGS = {
    "plain": dict(go_backwards=False, mask=False, dropout=False, initial_state=False,
                  return_sequences=False, zero_output_for_mask=False),
    "everything": dict(go_backwards=True, mask=True, dropout=True, initial_state=True,
                       return_sequences=True, zero_output_for_mask=False),
    "zero_output": dict(go_backwards=False, mask=True, dropout=False, initial_state=False,
                        return_sequences=True, zero_output_for_mask=True),
}


def make_layer(kind, batch_size=None, **kwargs):
    layer_class, kind_kwargs = KINDS[kind]
    layer = layer_class(UNITS, **kind_kwargs, **kwargs)
    layer.build((batch_size, None, FEATURES))
    rng = np.random.default_rng(sorted(KINDS).index(kind))
    layer.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.weights]
    )
    return layer


@contextlib.contextmanager
def reference_loop():
    """The layers run `keras.ops.scan` over `cell.step` inside this block (the layers of a test
    are built before it, and Bidirectional copies them, so this switches every layer at once)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            layers.Recurrent, "fast_path_unavailable_reason", lambda self: "reference_loop()"
        )
        yield


@contextlib.contextmanager
def chains(count):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tensorflow_recurrence, "chain_count", lambda batch_size: count)
        yield


def fix_dropout_masks(layer, rng):
    """Both paths must see the same dropout masks: the cell hands out these two every time."""
    input_mask = (rng.random((BATCH, FEATURES)) > 0.5).astype("float32") * 2.0
    recurrent_mask = (rng.random((BATCH, UNITS)) > 0.5).astype("float32") * 2.0

    def dropout_masks(inputs, training=False):
        if not training:
            return None, None
        return tf.constant(input_mask), tf.constant(recurrent_mask)

    layer.cell.dropout_masks = dropout_masks


def results_and_gradients(layer, inputs, mask, initial_state, training, compiled):
    """The layer's results and the gradients of a random readout of all of them."""
    variables = [w.value for w in layer.trainable_weights]

    def compute(inputs, initial_state):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            tape.watch(initial_state)
            results = layer(
                inputs, mask=mask, initial_state=initial_state or None, training=training
            )
            results = list(results) if isinstance(results, (list, tuple)) else [results]
            loss = 0.0
            for index, result in enumerate(results):
                readout = np.random.default_rng(index).normal(size=result.shape)
                loss += tf.reduce_sum(result * readout.astype("float32"))
        gradients = tape.gradient(loss, [inputs, *initial_state, *variables])
        return results, gradients

    if compiled:
        compute = tf.function(compute)
    results, gradients = compute(tf.constant(inputs), [tf.constant(s) for s in initial_state])
    return [r.numpy() for r in results], [g.numpy() for g in gradients]


def assert_paths_agree(layer, inputs, mask=None, initial_state=(), training=False, compiled=False,
                       chain_count=2):
    with chains(chain_count):
        fast = results_and_gradients(layer, inputs, mask, list(initial_state), training, compiled)
    with reference_loop():
        reference = results_and_gradients(layer, inputs, mask, list(initial_state), training, False)
    pairs = (("result", fast[0], reference[0]), ("gradient", fast[1], reference[1]))
    for name, actual, expected in pairs:
        assert len(actual) == len(expected)
        for index, (a, e) in enumerate(zip(actual, expected)):
            np.testing.assert_allclose(a, e, atol=1e-5, err_msg=f"{name} {index}")
    return fast


def case(kind, setting_name):
    setting = SETTINGS[setting_name]
    rng = np.random.default_rng(11)
    layer = make_layer(
        kind,
        return_sequences=setting["return_sequences"],
        return_state=True,
        go_backwards=setting["go_backwards"],
        zero_output_for_mask=setting["zero_output_for_mask"],
        dropout=0.5 if setting["dropout"] else 0.0,
        recurrent_dropout=0.5 if setting["dropout"] else 0.0,
    )
    if setting["dropout"]:
        fix_dropout_masks(layer, rng)
    inputs = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    mask = None
    if setting["mask"]:
        # Right- and left-padded rows, one row with every step masked.
        mask = np.ones((BATCH, TIME), bool)
        mask[1, 4:] = mask[2, :2] = mask[3, :] = False
        mask[4, 1::2] = False
    initial_state = []
    if setting["initial_state"]:
        initial_state = [
            rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in layer.cell.state_names
        ]
    return layer, inputs, mask, initial_state, setting["dropout"]


@pytest.mark.parametrize(
    "kind, setting_name",
    [(kind, name) for kind in KINDS for name in ("plain", "everything")]
    + [("lstm", "zero_output"), ("gru", "zero_output")],
)
def test_fast_path_equals_reference_eagerly(kind, setting_name):
    layer, inputs, mask, initial_state, training = case(kind, setting_name)
    assert layer.fast_path_unavailable_reason() is None
    with chains(2):
        results_and_gradients(layer, inputs, mask, list(initial_state), training, False)
    assert layer.last_path == "fused"
    assert_paths_agree(layer, inputs, mask, initial_state, training=training)
    assert layer.last_path == "reference"


@pytest.mark.parametrize(
    "kind, setting_name",
    [(kind, "everything") for kind in KINDS] + [("lstm", "plain"), ("gru", "plain")],
)
def test_fast_path_equals_reference_under_xla_in_two_chains(kind, setting_name):
    layer, inputs, mask, initial_state, training = case(kind, setting_name)
    assert_paths_agree(layer, inputs, mask, initial_state, training=training, compiled=True)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gradients_outside_training_recompute_the_gates(kind):
    """training=False keeps nothing for the backward pass; asking for gradients still works."""
    layer, inputs, mask, initial_state, _ = case(kind, "everything")
    assert_paths_agree(layer, inputs, mask, initial_state, training=False, compiled=True)


@pytest.mark.parametrize("chain_count", [1, 3])
def test_any_number_of_chains_even_with_empty_ones(chain_count):
    layer = make_layer("lstm", return_sequences=True)
    inputs = np.random.default_rng(0).normal(size=(2, TIME, FEATURES)).astype("float32")
    # Two rows in three chains: one chain has no rows at all.
    assert_paths_agree(layer, inputs, compiled=True, chain_count=chain_count)


def test_unknown_batch_size_is_split_at_run_time():
    layer = make_layer("gru", return_sequences=True)
    with chains(2):
        call = tf.function(
            lambda x: layer(x), input_signature=[tf.TensorSpec((None, None, FEATURES))]
        )
        fast = [call(np.ones((size, 3, FEATURES), "float32")).numpy() for size in (1, 4)]
    with reference_loop():
        expected = [layer(np.ones((size, 3, FEATURES), "float32")).numpy() for size in (1, 4)]
    for actual, wanted in zip(fast, expected):
        np.testing.assert_allclose(actual, wanted, atol=1e-5)


def test_bidirectional_with_mask():
    layer = make_layer("lstm", return_sequences=True)
    bidirectional = keras.layers.Bidirectional(layer)
    inputs = np.random.default_rng(2).normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    lengths = np.array([6, 2, 5, 3, 1])
    mask = np.arange(TIME)[None, :] < lengths[:, None]
    bidirectional(inputs)
    outputs, _ = assert_paths_agree(bidirectional, inputs, mask=mask, compiled=True)
    # Padded positions output zeros (Bidirectional sets zero_output_for_mask).
    np.testing.assert_array_equal(outputs[0][~mask], 0.0)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_stateful_layer_carries_its_states_like_the_reference(kind):
    rng = np.random.default_rng(4)
    inputs = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    outputs = {}
    for path in ("fast", "reference"):
        layer = make_layer(kind, batch_size=BATCH, return_sequences=True, stateful=True)
        call = tf.function(lambda x: layer(x))
        context = chains(2) if path == "fast" else reference_loop()
        with context:
            outputs[path] = [call(inputs[:, :3]).numpy(), call(inputs[:, 3:]).numpy()]
            outputs[path].append([s.numpy() for s in layer.states])
    for actual, expected in zip(outputs["fast"][:2], outputs["reference"][:2]):
        np.testing.assert_allclose(actual, expected, atol=1e-5)
    for actual, expected in zip(outputs["fast"][2], outputs["reference"][2]):
        np.testing.assert_allclose(actual, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_stateful_layer_traced_with_an_unknown_batch_size(kind):
    """A `tf.data` pipeline batched without `drop_remainder` traces with batch size None; a
    stateful layer's states have a fixed one. Both paths run, and agree."""
    rng = np.random.default_rng(7)
    inputs = rng.normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    lengths = np.array([6, 2, 5, 3, 1])
    mask = np.arange(TIME)[None, :] < lengths[:, None]
    outputs = {}
    for path in ("fast", "reference"):
        layer = make_layer(kind, batch_size=BATCH, return_sequences=True, stateful=True)
        call = tf.function(lambda x, m: layer(x, mask=m), input_signature=[
            tf.TensorSpec((None, None, FEATURES)), tf.TensorSpec((None, None), tf.bool)])
        context = chains(2) if path == "fast" else reference_loop()
        with context:
            outputs[path] = [call(inputs[:, :3], mask[:, :3]).numpy(),
                             call(inputs[:, 3:], mask[:, 3:]).numpy()]
    for actual, expected in zip(outputs["fast"], outputs["reference"]):
        assert actual.shape[0] == BATCH
        np.testing.assert_allclose(actual, expected, atol=1e-5)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)):
        call(inputs[:2, :3], mask[:2, :3])


def test_float64_matches_reference_closely():
    layer = make_layer("lstm", dtype="float64", return_sequences=True)
    inputs = np.random.default_rng(5).normal(size=(BATCH, TIME, FEATURES))
    with chains(1):
        fast = layer(inputs).numpy()
    with reference_loop():
        expected = layer(inputs).numpy()
    np.testing.assert_allclose(fast, expected, atol=1e-12)


def test_training_with_fit_decreases_the_loss_like_the_reference():
    """A whole Keras training loop (train_function in tf.function) on each path, same result."""
    rng = np.random.default_rng(6)
    inputs = rng.normal(size=(32, TIME, FEATURES)).astype("float32")
    targets = rng.normal(size=(32, 1)).astype("float32")
    weights, histories = {}, {}
    for path in ("fast", "reference"):
        keras.utils.set_random_seed(1)
        model = keras.Sequential(
            [keras.Input((TIME, FEATURES)), layers.LSTM(UNITS), keras.layers.Dense(1)]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        context = chains(2) if path == "fast" else reference_loop()
        with context:
            histories[path] = model.fit(inputs, targets, batch_size=16, epochs=2, verbose=0)
        weights[path] = model.get_weights()
    assert histories["fast"].history["loss"][-1] < histories["fast"].history["loss"][0]
    np.testing.assert_allclose(
        histories["fast"].history["loss"], histories["reference"].history["loss"], rtol=1e-5
    )
    for actual, expected in zip(weights["fast"], weights["reference"]):
        np.testing.assert_allclose(actual, expected, atol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.GRU(UNITS, reset_after=False),
        lambda: layers.LSTM(UNITS, activation="relu"),
        lambda: layers.LSTM(UNITS, recurrent_activation="hard_sigmoid"),
        lambda: layers.SimpleRNN(UNITS, activation="relu"),
        lambda: layers.LSTM(UNITS, dtype="mixed_float16"),
    ],
    ids=["gru_reset_before", "relu_lstm", "hard_sigmoid_lstm", "relu_simple_rnn", "mixed_float16"],
)
def test_cells_without_a_program_use_the_reference_loop(make):
    layer = make()
    layer(np.zeros((2, 3, FEATURES), "float32"))
    assert layer.cell.fused_recurrence() is None
    assert layer.fast_path_unavailable_reason() is not None
    assert layer.last_path == "reference"


def test_a_subclass_overriding_step_uses_the_reference_loop():
    """The stock program computes LSTMCell.step, not the subclass's."""

    class DoubledLSTMCell(layers.LSTMCell):
        def step(self, projected_inputs, states, recurrent_dropout_mask=None):
            h, new_states = super().step(projected_inputs, states, recurrent_dropout_mask)
            return 2.0 * h, new_states

    stock = layers.Recurrent(cell=layers.LSTMCell(UNITS))
    doubled = layers.Recurrent(cell=DoubledLSTMCell(UNITS))
    inputs = np.random.default_rng(3).normal(size=(2, 3, FEATURES)).astype("float32")
    stock(inputs), doubled(inputs)
    doubled.set_weights(stock.get_weights())
    np.testing.assert_allclose(doubled(inputs).numpy(), 2.0 * stock(inputs).numpy(), atol=1e-6)
    assert (stock.last_path, doubled.last_path) == ("fused", "reference")
    assert "DoubledLSTMCell overrides `step`" in doubled.fast_path_unavailable_reason()


def test_the_fused_loop_knows_no_cells():
    """The programs are keyed by plain names and the module imports nothing from the cells."""
    tree = ast.parse(open(tensorflow_recurrence.__file__).read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not [name for name in imported if name.startswith("nlpkit")]
    assert set(tensorflow_recurrence.PROGRAMS) == {
        "lstm", "coupled_lstm", "no_forget_gate_lstm", "peephole_lstm", "gru_reset_after",
        "simple_rnn",
    }
    with pytest.raises(ValueError, match="No fused program named 'lstm2'"):
        tensorflow_recurrence.run(
            "lstm2", tf.zeros((1, 2, 3)), [tf.zeros((1, 4))], input_kernel=tf.zeros((3, 16)),
            input_bias=None, recurrent_kernel=tf.zeros((4, 16)),
        )


def test_exported_saved_model_has_no_xla_functions(tmp_path):
    """TensorFlow Serving runs XLA functions only behind a flag: exports trace the plain loop."""
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(20, FEATURES, mask_zero=True)(inputs)
    outputs = keras.layers.Bidirectional(layers.LSTM(UNITS))(embedded)
    model = keras.Model(inputs, layers.GRU(UNITS)(keras.layers.RepeatVector(2)(outputs)))
    token_ids = np.array([[3, 5, 7, 0, 0], [1, 2, 3, 4, 5]], "int32")
    # The check below can fail: a traced call does compile the loop with XLA.
    graph = tf.function(lambda x: model(x)).get_concrete_function(tf.constant(token_ids)).graph
    library = graph.as_graph_def().library.function
    assert any(f.attr["_XlaMustCompile"].b for f in library)

    layer_checks.assert_export_runs_without_nlpkit(model, token_ids, tmp_path)
    saved_model = (tmp_path / "export" / "saved_model.pb").read_bytes()
    assert b"_XlaMustCompile" not in saved_model
