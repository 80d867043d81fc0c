"""Which loop `Recurrent` runs (fused, reference or the cell's own call); each honours the cell.

The fused path exists on the TensorFlow backend only; on the others every check here that expects
it expects the reference loop instead. Which path ran is read from `layer.last_path`.
"""

import keras
import numpy as np
import pytest
from keras import ops

from nlpkit import layers
from tests import layer_checks
from tests.layers import numpy_cells

ON_TENSORFLOW = layer_checks.backend_is_tensorflow()
# The path a stock cell with default arguments takes.
STOCK_PATH = "fused" if ON_TENSORFLOW else "reference"
UNITS = 3
FEATURES = 4


def random_inputs(batch=3, time=5, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, time, FEATURES)).astype("float32")


def with_random_weights(layer, seed=0):
    """`layer`, built for FEATURES inputs, with weights drawn from `seed` (biases included)."""
    layer.build((None, None, FEATURES))
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.weights]
    )
    return layer


def as_numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def lstm_reference(layer, x, mask=None):
    weights = [np.asarray(w, "float64") for w in layer.get_weights()]
    states = [np.zeros((x.shape[0], UNITS)) for _ in range(2)]
    outputs, _ = numpy_cells.run_sequence(
        numpy_cells.lstm_step, x.astype("float64"), states, weights, mask=mask
    )
    return outputs


class NoUnitForgetBiasLSTMCell(layers.LSTMCell):
    """Changes a default only: the formula, and so the fused program, are LSTMCell's."""

    def __init__(self, units, **kwargs):
        kwargs.setdefault("unit_forget_bias", False)
        super().__init__(units, **kwargs)


class DoubledOutputLSTMCell(layers.LSTMCell):
    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        h, new_states = super().step(projected_inputs, states, recurrent_dropout_mask)
        return 2.0 * h, new_states


class CandidateGatedLSTMCell(layers.LSTMCell):
    """An LSTM whose candidate passes one more gate, written in `call` (Keras' cell interface):

        g_t = sigmoid(x_t V)
        C_t = f_t * C_{t-1} + i_t * g_t * C~_t
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.gate_kernel = self.add_weight(
            shape=(input_shape[-1], self.units), name="gate_kernel", initializer="glorot_uniform"
        )

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states
        z = ops.matmul(inputs, self.kernel) + self.bias + ops.matmul(h_prev, self.recurrent_kernel)
        z_i, z_f, z_c, z_o = self.split_gates(z)
        g = ops.sigmoid(ops.matmul(inputs, self.gate_kernel))
        c = ops.sigmoid(z_f) * c_prev + ops.sigmoid(z_i) * g * ops.tanh(z_c)
        h = ops.sigmoid(z_o) * ops.tanh(c)
        return h, [h, c]


def candidate_gated_lstm_step(x, states, weights, recurrent_mask=None):
    W, U, b, V = weights
    h, c = states
    n = h.shape[-1]
    z = x @ W + h @ U + b
    i, f, o = (numpy_cells.sigmoid(z[:, k * n : (k + 1) * n]) for k in (0, 1, 3))
    c_candidate = np.tanh(z[:, 2 * n : 3 * n])
    g = numpy_cells.sigmoid(x @ V)
    c = f * c + i * g * c_candidate
    h = o * np.tanh(c)
    return h, [h, c]


def test_patching_the_stock_step_changes_the_output(monkeypatch):
    """The fused program stands in for LSTMCell.step only while LSTMCell.step is the original."""
    layer = with_random_weights(layers.LSTM(UNITS, return_sequences=True))
    x = random_inputs()
    stock = as_numpy(layer(x))
    assert layer.last_path == STOCK_PATH
    assert np.abs(stock).max() > 0.1

    def zero_step(self, projected_inputs, states, recurrent_dropout_mask=None):
        zeros = ops.zeros_like(states[0])
        return zeros, [zeros, zeros]

    monkeypatch.setattr(layers.LSTMCell, "step", zero_step)
    np.testing.assert_array_equal(as_numpy(layer(x)), 0.0)
    assert layer.last_path == "reference"
    if ON_TENSORFLOW:
        assert "LSTMCell.step was replaced by" in layer.fast_path_unavailable_reason()

    monkeypatch.undo()
    np.testing.assert_allclose(as_numpy(layer(x)), stock, atol=1e-6)
    assert layer.last_path == STOCK_PATH


def test_a_cell_overriding_call_runs_its_call_at_every_step():
    """As in keras.layers.RNN: the override is honoured, the new gate included."""
    cell = CandidateGatedLSTMCell(UNITS)
    layer = with_random_weights(layers.Recurrent(cell=cell, return_sequences=True), seed=1)
    x = random_inputs()
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], bool)
    weights = [np.asarray(cell.kernel), np.asarray(cell.recurrent_kernel), np.asarray(cell.bias),
               np.asarray(cell.gate_kernel)]
    states = [np.zeros((x.shape[0], UNITS)) for _ in range(2)]
    expected, _ = numpy_cells.run_sequence(
        candidate_gated_lstm_step,
        x.astype("float64"),
        states,
        [w.astype("float64") for w in weights],
        mask=mask,
    )
    np.testing.assert_allclose(as_numpy(layer(x, mask=mask)), expected, atol=1e-5)
    assert layer.last_path == "cell_call"
    keras_rnn = keras.layers.RNN(cell, return_sequences=True)
    np.testing.assert_allclose(as_numpy(keras_rnn(x, mask=mask)), expected, atol=1e-5)


def test_a_subclass_changing_only_a_default_keeps_the_fast_path():
    cell = NoUnitForgetBiasLSTMCell(UNITS)
    layer = with_random_weights(layers.Recurrent(cell=cell, return_sequences=True))
    assert not cell.unit_forget_bias
    x = random_inputs()
    np.testing.assert_allclose(as_numpy(layer(x)), lstm_reference(layer, x), atol=1e-5)
    assert layer.last_path == STOCK_PATH
    if ON_TENSORFLOW:
        assert layer.fast_path_unavailable_reason() is None


def test_a_subclass_overriding_step_runs_its_step():
    stock = with_random_weights(layers.Recurrent(cell=layers.LSTMCell(UNITS)))
    doubled = with_random_weights(layers.Recurrent(cell=DoubledOutputLSTMCell(UNITS)))
    x = random_inputs()
    np.testing.assert_allclose(as_numpy(doubled(x)), 2.0 * as_numpy(stock(x)), atol=1e-5)
    assert (stock.last_path, doubled.last_path) == (STOCK_PATH, "reference")


def test_use_fast_path_false_runs_the_reference_loop():
    auto = with_random_weights(layers.GRU(UNITS, return_sequences=True))
    reference = with_random_weights(layers.GRU(UNITS, return_sequences=True, use_fast_path=False))
    x = random_inputs()
    np.testing.assert_allclose(as_numpy(reference(x)), as_numpy(auto(x)), atol=1e-5)
    assert (auto.last_path, reference.last_path) == (STOCK_PATH, "reference")
    assert reference.fast_path_unavailable_reason() == "use_fast_path=False"


class PlainCell(layers.RecurrentCell):
    """A cell with no fused program: h_t = tanh(x_t W + h_{t-1} U + b)."""

    gate_names = ("h",)

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        h = ops.tanh(projected_inputs + ops.matmul(states[0], self.recurrent_kernel))
        return h, [h]


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda: layers.LSTM(UNITS, activation="relu", use_fast_path=True), "activation='relu'"),
        (
            lambda: layers.LSTM(UNITS, recurrent_activation="hard_sigmoid", use_fast_path=True),
            "recurrent_activation='hard_sigmoid'",
        ),
        (lambda: layers.GRU(UNITS, reset_after=False, use_fast_path=True), "reset_after=False"),
        (lambda: layers.LSTM(UNITS, unroll=True, use_fast_path=True), "unroll=True"),
        (lambda: layers.LSTM(UNITS, dtype="mixed_float16", use_fast_path=True), "float16"),
        (
            lambda: layers.Recurrent(cell=DoubledOutputLSTMCell(UNITS), use_fast_path=True),
            "DoubledOutputLSTMCell overrides `step`; LSTMCell's fused program stands in for "
            "LSTMCell.step",
        ),
        (
            lambda: layers.Recurrent(cell=CandidateGatedLSTMCell(UNITS), use_fast_path=True),
            "CandidateGatedLSTMCell overrides `call`",
        ),
        (
            lambda: layers.Recurrent(cell=PlainCell(UNITS), use_fast_path=True),
            "PlainCell declares no fused program",
        ),
    ],
    ids=["activation", "recurrent_activation", "gru_reset_before", "unroll", "mixed_float16",
         "overridden_step", "overridden_call", "no_program"],
)
def test_use_fast_path_true_says_why_it_cannot(make, reason):
    if not ON_TENSORFLOW:
        reason = f"the Keras backend is '{keras.backend.backend()}'"
    expected = "use_fast_path=True, but the fused path cannot run"
    with pytest.raises(ValueError, match=expected) as error:
        make()
    assert reason in str(error.value)


def test_use_fast_path_true_checks_again_at_call_time(monkeypatch):
    if not ON_TENSORFLOW:
        pytest.skip("use_fast_path=True is refused at construction off TensorFlow")
    layer = with_random_weights(layers.LSTM(UNITS, use_fast_path=True))
    layer(random_inputs())
    assert layer.last_path == "fused"
    monkeypatch.setattr(layers.LSTMCell, "project_inputs", lambda self, inputs: inputs)
    with pytest.raises(ValueError, match="LSTMCell.project_inputs was replaced by"):
        layer(random_inputs())


def test_use_fast_path_takes_three_values():
    with pytest.raises(ValueError, match='must be "auto", True or False'):
        layers.LSTM(UNITS, use_fast_path="yes")


@pytest.mark.parametrize("use_fast_path", ["auto", False])
def test_unroll_is_honoured_by_the_reference_loop(use_fast_path):
    layer = with_random_weights(
        layers.LSTM(UNITS, return_sequences=True, unroll=True, use_fast_path=use_fast_path)
    )
    x = random_inputs()
    np.testing.assert_allclose(as_numpy(layer(x)), lstm_reference(layer, x), atol=1e-5)
    assert layer.last_path == "reference"
    if use_fast_path == "auto" and ON_TENSORFLOW:
        assert "unroll=True" in layer.fast_path_unavailable_reason()


def test_unroll_leaves_no_loop_in_the_graph():
    if not ON_TENSORFLOW:
        pytest.skip("reads a TensorFlow graph")
    import tensorflow as tf

    def loop_ops(layer):
        graph = tf.function(layer).get_concrete_function(tf.TensorSpec((2, 5, FEATURES))).graph
        graph_def = graph.as_graph_def()
        nodes = list(graph_def.node)
        for function in graph_def.library.function:
            nodes.extend(function.node_def)
        return [node.op for node in nodes if "While" in node.op]

    unrolled = with_random_weights(layers.LSTM(UNITS, unroll=True))
    rolled = with_random_weights(layers.LSTM(UNITS, use_fast_path=False))
    assert loop_ops(unrolled) == []
    assert loop_ops(rolled) != []


def test_unroll_needs_a_known_number_of_steps():
    if not ON_TENSORFLOW:
        pytest.skip("traces with an unknown time dimension, which JAX does not have")
    import tensorflow as tf

    layer = with_random_weights(layers.LSTM(UNITS, unroll=True))
    with pytest.raises(ValueError, match="unroll"):
        tf.function(layer).get_concrete_function(tf.TensorSpec((2, None, FEATURES)))


def test_cell_instance_form_round_trips_through_its_config():
    layer = layers.Recurrent(
        cell=layers.GRUCell(UNITS, dropout=0.25, reset_after=True),
        return_sequences=True,
        go_backwards=True,
        use_fast_path=False,
    )
    layer_checks.assert_config_round_trip(layer)
    clone = layers.Recurrent.from_config(layer.get_config())
    assert isinstance(clone.cell, layers.GRUCell) and clone.cell.dropout == 0.25
    assert clone.use_fast_path is False and clone.go_backwards


def test_flat_config_keeps_its_form_and_stores_use_fast_path():
    layer = layers.LSTM(UNITS, dropout=0.5, use_fast_path=False)
    config = layer.get_config()
    assert "cell" not in config and config["dropout"] == 0.5
    assert config["use_fast_path"] is False
    layer_checks.assert_config_round_trip(layer)


def test_cell_instance_form_saves_and_loads(tmp_path):
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(20, FEATURES, mask_zero=True)(inputs)
    sequence = layers.Recurrent(cell=layers.LSTMCell(UNITS), return_sequences=True)(embedded)
    both_ways = keras.layers.Bidirectional(layers.Recurrent(cell=layers.PeepholeLSTMCell(UNITS)))
    model = keras.Model(inputs, both_ways(sequence))
    token_ids = np.array([[3, 5, 7, 0, 0], [1, 2, 3, 4, 5]], "int32")
    loaded = layer_checks.assert_model_saves_and_loads(model, token_ids, tmp_path)
    recurrent = [layer for layer in loaded.layers if isinstance(layer, layers.Recurrent)]
    assert isinstance(recurrent[0].cell, layers.LSTMCell)


def test_cell_instance_form_matches_the_subclass_form():
    by_class = with_random_weights(layers.LSTM(UNITS, return_sequences=True))
    by_instance = with_random_weights(
        layers.Recurrent(cell=layers.LSTMCell(UNITS), return_sequences=True)
    )
    by_instance.set_weights(by_class.get_weights())
    x = random_inputs()
    np.testing.assert_allclose(as_numpy(by_instance(x)), as_numpy(by_class(x)), atol=1e-6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: layers.Recurrent(), "needs a cell"),
        (lambda: layers.LSTM(cell=layers.LSTMCell(UNITS)), "makes its own LSTMCell"),
        (lambda: layers.Recurrent(UNITS, cell=layers.LSTMCell(UNITS)), "takes its units"),
        (lambda: layers.Recurrent(cell=keras.layers.LSTMCell(UNITS)), "Use keras.layers.RNN"),
    ],
    ids=["no_cell", "cell_and_cell_class", "cell_and_units", "keras_cell"],
)
def test_cell_instance_form_refuses_mixed_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()
