"""Behaviour shared by every nlpkit sequence layer, checked against the NumPy references.

Each layer kind is run through the same checks: formula, gradients, masking, dropout, go_backwards,
Bidirectional, stacking, stateful use, saving, export and bad input. Family-specific checks (copying
weights from Keras' own layers, initial biases) live in the family's test file.
"""

import functools
import zlib

import keras
import numpy as np
import pytest

from nlpkit import layers
from tests import layer_checks
from tests.layers import numpy_cells

KINDS = {
    "simple_rnn": (layers.SimpleRNN, numpy_cells.simple_rnn_step, {}),
    "lstm": (layers.LSTM, numpy_cells.lstm_step, {}),
    "peephole_lstm": (layers.PeepholeLSTM, numpy_cells.peephole_lstm_step, {}),
    "coupled_lstm": (layers.CoupledLSTM, numpy_cells.coupled_lstm_step, {}),
    "no_forget_gate_lstm": (layers.NoForgetGateLSTM, numpy_cells.no_forget_gate_lstm_step, {}),
    "gru_reset_after": (
        layers.GRU,
        functools.partial(numpy_cells.gru_step, reset_after=True),
        {"reset_after": True},
    ),
    "gru_reset_before": (
        layers.GRU,
        functools.partial(numpy_cells.gru_step, reset_after=False),
        {"reset_after": False},
    ),
}
UNITS = 3
FEATURES = 4


def make_layer(kind, dtype="float32", batch_size=None, **kwargs):
    """A built layer of `kind` with random weights (biases and peepholes included)."""
    layer_class, _, kind_kwargs = KINDS[kind]
    layer = layer_class(UNITS, dtype=dtype, **kind_kwargs, **kwargs)
    layer.build((batch_size, None, FEATURES))
    # crc32, not hash(): str hashes change from one process to the next.
    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    layer.set_weights([rng.normal(scale=0.5, size=w.shape).astype(dtype) for w in layer.weights])
    return layer


def reference(kind, layer, x, mask=None, go_backwards=False, input_mask=None, recurrent_mask=None):
    _, step, _ = KINDS[kind]
    weights = [np.asarray(w, dtype="float64") for w in layer.get_weights()]
    n_states = len(layer.cell.state_names)
    states = [np.zeros((x.shape[0], UNITS)) for _ in range(n_states)]
    return numpy_cells.run_sequence(
        step,
        x.astype("float64"),
        states,
        weights,
        mask=mask,
        go_backwards=go_backwards,
        input_mask=input_mask,
        recurrent_mask=recurrent_mask,
    )


def to_numpy(tensors):
    return [keras.ops.convert_to_numpy(t) for t in tensors]


def random_inputs(batch=4, time=6, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, time, FEATURES)).astype("float32")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_layer_matches_numpy_formula(kind, go_backwards):
    layer = make_layer(kind, return_sequences=True, return_state=True, go_backwards=go_backwards)
    x = random_inputs()
    outputs, *states = to_numpy(layer(x))
    expected_outputs, expected_states = reference(kind, layer, x, go_backwards=go_backwards)
    np.testing.assert_allclose(outputs, expected_outputs, atol=1e-5)
    for state, expected in zip(states, expected_states):
        np.testing.assert_allclose(state, expected, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_cell_in_keras_rnn_matches_numpy_formula(kind):
    """The cell alone, stepped by Keras' own loop, obeys the same formula."""
    layer = make_layer(kind)
    keras_rnn = keras.layers.RNN(layer.cell, return_sequences=True)
    x = random_inputs()
    expected_outputs, _ = reference(kind, layer, x)
    np.testing.assert_allclose(to_numpy([keras_rnn(x)])[0], expected_outputs, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_masked_steps_follow_keras_semantics(kind):
    layer = make_layer(kind, return_sequences=True, return_state=True)
    x = random_inputs()
    mask = np.array(
        [[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], bool
    )
    outputs, *states = to_numpy(layer(x, mask=mask))
    expected_outputs, expected_states = reference(kind, layer, x, mask=mask)
    np.testing.assert_allclose(outputs, expected_outputs, atol=1e-5)
    for state, expected in zip(states, expected_states):
        np.testing.assert_allclose(state, expected, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("go_backwards", [False, True])
def test_padded_batch_with_mask_equals_each_sequence_alone(kind, go_backwards):
    layer = make_layer(kind, return_state=True, go_backwards=go_backwards)
    x = random_inputs()
    lengths = [6, 4, 1, 3]
    mask = np.arange(6)[None, :] < np.array(lengths)[:, None]
    padded = np.where(mask[..., None], x, 99.0).astype("float32")  # padding must not matter
    last, *states = to_numpy(layer(padded, mask=mask))
    for row, length in enumerate(lengths):
        alone_last, *alone_states = to_numpy(layer(x[row : row + 1, :length]))
        np.testing.assert_allclose(last[row], alone_last[0], atol=1e-5)
        for state, alone in zip(states, alone_states):
            np.testing.assert_allclose(state[row], alone[0], atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_bidirectional_reverses_only_the_real_tokens(kind):
    layer = make_layer(kind, return_sequences=True)
    bidirectional = keras.layers.Bidirectional(layer)
    x = random_inputs()
    lengths = [6, 2, 5, 3]
    mask = np.arange(6)[None, :] < np.array(lengths)[:, None]
    padded = np.where(mask[..., None], x, -7.0).astype("float32")
    outputs = to_numpy([bidirectional(padded, mask=mask)])[0]
    for row, length in enumerate(lengths):
        alone = to_numpy([bidirectional(x[row : row + 1, :length])])[0]
        np.testing.assert_allclose(outputs[row, :length], alone[0], atol=1e-5)
        # Padded positions output zeros in Bidirectional (zero_output_for_mask).
        np.testing.assert_allclose(outputs[row, length:], 0.0, atol=1e-7)
    # The backward half at position 0 has read the whole real sequence, last token first.
    backward = bidirectional.backward_layer
    _, _, kind_kwargs = KINDS[kind]
    np.testing.assert_allclose(
        outputs[1, 0, UNITS:],
        reference(kind, backward, x[1:2, :2], go_backwards=True)[0][0, -1],
        atol=1e-5,
    )


@pytest.mark.parametrize("kind", KINDS)
def test_dropout_uses_one_mask_per_sequence(kind):
    """With dropout on, `inner_loop` draws the masks once and applies them at every step."""
    layer = make_layer(kind, return_sequences=True, dropout=0.5, recurrent_dropout=0.5, seed=3)
    x = random_inputs()
    drawn = []
    draw = layer.cell.dropout_masks

    def recording_draw(inputs, training=False):
        masks = draw(inputs, training=training)
        drawn.append(to_numpy(masks))
        return masks

    layer.cell.dropout_masks = recording_draw
    outputs = to_numpy([layer(x, training=True)])[0]
    assert len(drawn) == 1
    input_mask, recurrent_mask = drawn[0]
    assert set(np.unique(input_mask)) == {0.0, 2.0}  # inverted dropout at rate 0.5
    assert set(np.unique(recurrent_mask)) == {0.0, 2.0}
    expected, _ = reference(kind, layer, x, input_mask=input_mask, recurrent_mask=recurrent_mask)
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    # Outside training, dropout is off.
    np.testing.assert_allclose(
        to_numpy([layer(x, training=False)])[0], reference(kind, layer, x)[0], atol=1e-5
    )


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_layer_carries_state_across_batches(kind):
    layer = make_layer(kind, return_sequences=True)
    x = random_inputs(batch=2)
    stateful = make_layer(kind, batch_size=2, return_sequences=True, stateful=True)
    stateful.set_weights(layer.get_weights())
    whole = to_numpy([layer(x)])[0]
    first = to_numpy([stateful(x[:, :3])])[0]
    second = to_numpy([stateful(x[:, 3:])])[0]
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, atol=1e-5)
    stateful.reset_state()
    np.testing.assert_allclose(to_numpy([stateful(x[:, :3])])[0], first, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_initial_state_continues_a_sequence(kind):
    layer = make_layer(kind, return_sequences=True, return_state=True)
    x = random_inputs()
    whole, *_ = to_numpy(layer(x))
    _, *states = layer(x[:, :2])
    rest, *_ = to_numpy(layer(x[:, 2:], initial_state=list(states)))
    np.testing.assert_allclose(rest, whole[:, 2:], atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_stacked_layers_equal_their_composition(kind):
    lower = make_layer(kind, return_sequences=True)
    upper_class, _, kind_kwargs = KINDS[kind]
    upper = upper_class(UNITS, **kind_kwargs)
    model = keras.Sequential([keras.Input((None, FEATURES)), lower, upper])
    x = random_inputs()
    lower_outputs = to_numpy([lower(x)])[0]
    weights = [np.asarray(w, "float64") for w in upper.get_weights()]
    _, step, _ = KINDS[kind]
    states = [np.zeros((x.shape[0], UNITS)) for _ in upper.cell.state_names]
    expected, _ = numpy_cells.run_sequence(step, lower_outputs.astype("float64"), states, weights)
    np.testing.assert_allclose(to_numpy([model(x)])[0], expected[:, -1], atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_finite_differences_of_the_formula(kind):
    """Autodiff through the layer equals central differences of the NumPy reference."""
    if not layer_checks.backend_is_tensorflow():
        pytest.skip("gradient tape check uses the TensorFlow backend")
    import tensorflow as tf

    layer = make_layer(kind, dtype="float64", return_sequences=True)
    x = random_inputs(batch=2, time=4).astype("float64")
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
    readout = np.random.default_rng(1).normal(size=(2, 4, UNITS))

    def numpy_loss(weights, inputs):
        _, step, _ = KINDS[kind]
        states = [np.zeros((2, UNITS)) for _ in layer.cell.state_names]
        outputs, _ = numpy_cells.run_sequence(step, inputs, states, weights, mask=mask)
        return float(np.sum(outputs * readout))

    x_var = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x_var, mask=mask) * readout)
    grads = tape.gradient(loss, [x_var] + [w.value for w in layer.weights])

    weights = [np.asarray(w, "float64") for w in layer.get_weights()]
    eps = 1e-6
    for index, analytic in enumerate(grads):
        numeric = np.zeros_like(analytic.numpy())
        for position in np.ndindex(numeric.shape):
            if index == 0:
                plus, minus = x.copy(), x.copy()
                plus[position] += eps
                minus[position] -= eps
                numeric[position] = (numpy_loss(weights, plus) - numpy_loss(weights, minus)) / (2 * eps)
            else:
                plus = [w.copy() for w in weights]
                minus = [w.copy() for w in weights]
                plus[index - 1][position] += eps
                minus[index - 1][position] -= eps
                numeric[position] = (numpy_loss(plus, x) - numpy_loss(minus, x)) / (2 * eps)
        np.testing.assert_allclose(analytic.numpy(), numeric, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_config_round_trip(kind):
    layer_class, _, kind_kwargs = KINDS[kind]
    layer = layer_class(
        UNITS,
        **kind_kwargs,
        return_sequences=True,
        go_backwards=True,
        dropout=0.25,
        recurrent_dropout=0.125,
        kernel_regularizer="l2",
        seed=7,
    )
    layer_checks.assert_config_round_trip(layer)
    config = layer.get_config()
    assert config["units"] == UNITS and config["dropout"] == 0.25 and config["go_backwards"]
    layer_checks.assert_config_round_trip(layer.cell)


def test_every_layer_survives_save_load_and_export(tmp_path):
    """One model with every layer kind (and a Bidirectional) saved, loaded and exported."""
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(20, FEATURES, mask_zero=True)(inputs)
    branches = []
    for kind in KINDS:
        layer_class, _, kind_kwargs = KINDS[kind]
        branches.append(layer_class(UNITS, **kind_kwargs, name=kind)(embedded))
    branches.append(keras.layers.Bidirectional(layers.LSTM(UNITS))(embedded))
    model = keras.Model(inputs, keras.layers.Concatenate()(branches))
    token_ids = np.array([[3, 5, 7, 0, 0], [1, 2, 3, 4, 5]], "int32")
    layer_checks.assert_model_saves_and_loads(model, token_ids, tmp_path)
    if layer_checks.backend_is_tensorflow():
        layer_checks.assert_export_runs_without_nlpkit(model, token_ids, tmp_path)


@pytest.mark.parametrize("kind", ["lstm", "gru_reset_after"])
def test_wrong_input_rank_is_a_clear_error(kind):
    layer_class, _, kind_kwargs = KINDS[kind]
    with pytest.raises(ValueError, match=r"expects inputs of shape \(batch, time, features\)"):
        layer_class(UNITS, **kind_kwargs)(np.zeros((2, FEATURES), "float32"))


def test_wrong_feature_count_is_a_clear_error():
    layer = make_layer("lstm")
    with pytest.raises(ValueError, match=f"built for {FEATURES} input features"):
        layer(np.zeros((2, 3, FEATURES + 1), "float32"))


def test_cell_rejects_bad_arguments():
    with pytest.raises(ValueError, match="positive integer"):
        layers.LSTMCell(0)
    with pytest.raises(ValueError, match=r"dropout.*\[0, 1\)"):
        layers.GRUCell(4, dropout=1.0)
