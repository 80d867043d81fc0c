"""nlpkit.tasks.generation.model: carried state equals one pass, gradients stop at window borders,
carried evaluation equals the cross-entropy over the text, resets, and TBPTT through `train`."""

import argparse
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlpkit.cli import options_from_args
from nlpkit.tasks.generation import (
    CarriedStateResets,
    LanguageModelOptions,
    UnitVocabulary,
    add_language_model_flags,
    build_language_model,
    evaluate_carried,
    language_model_loss,
    reset_carried_states,
    stateful_layers,
    stream_examples,
    train_validation_text,
)
from nlpkit.training import TrainingConfig, train
from tests.training.tiny_training import run_python

VOCAB = 17
BATCH, WINDOW, CHUNKS = 3, 5, 4


def tiny(**changes):
    return LanguageModelOptions(**{"embedding_dim": 6, "units": 8, "num_layers": 2,
                                   "dropout": 0.0, **changes})


def unit_ids(shape, seed=0, low=4, high=VOCAB):
    return np.random.default_rng(seed).integers(low, high, size=shape).astype("int32")


def carried_state_values(model):
    return [np.asarray(state) for layer in stateful_layers(model) for state in layer.states]


def summed_cross_entropy(ids, logits):
    """Independent of the module's helpers: Keras' sparse cross-entropy, summed."""
    return float(np.sum(keras.losses.sparse_categorical_crossentropy(
        ids, np.asarray(logits, "float64"), from_logits=True)))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_carrying_state_over_chunks_gives_the_outputs_of_one_pass(cell):
    whole = build_language_model(VOCAB, tiny(cell=cell))
    carried = build_language_model(VOCAB, tiny(cell=cell), batch_size=BATCH, stateful=True)
    carried.set_weights(whole.get_weights())
    ids = unit_ids((BATCH, CHUNKS * WINDOW))
    expected = np.asarray(whole(ids))
    chunks = [np.asarray(carried(ids[:, k * WINDOW:(k + 1) * WINDOW]))
              for k in range(CHUNKS)]
    np.testing.assert_allclose(np.concatenate(chunks, axis=1), expected, atol=1e-5)
    # A reset starts the text again; without it the first window would read on from the last.
    continued = np.asarray(carried(ids[:, :WINDOW]))
    assert np.abs(continued - expected[:, :WINDOW]).max() > 1e-3
    reset_carried_states(carried)
    np.testing.assert_allclose(carried(ids[:, :WINDOW]), expected[:, :WINDOW], atol=1e-5)


def test_gradients_stop_at_chunk_borders():
    options = tiny(cell="lstm")
    carried = build_language_model(VOCAB, options, batch_size=BATCH, stateful=True)
    free = build_language_model(VOCAB, options)
    free.set_weights(carried.get_weights())
    loss = language_model_loss()
    # Chunk 1 reads units 4..9 only, chunk 2 units 10..16: their embedding rows are disjoint.
    first = unit_ids((BATCH, WINDOW), seed=1, low=4, high=10)
    second = unit_ids((BATCH, WINDOW), seed=2, low=10, high=VOCAB)
    targets = unit_ids((BATCH, WINDOW), seed=3)

    with tf.GradientTape() as tape:
        carried(first)
        states_after_first = carried_state_values(carried)
        truncated_loss = loss(targets, carried(second))
    truncated = tape.gradient(truncated_loss, carried.trainable_variables)

    # The same loss from the carried states taken as constants: what TBPTT must compute.
    with tf.GradientTape() as tape:
        states = free.get_layer("embedding")(second)
        for index in range(options.num_layers):
            initial = [tf.constant(value) for value in states_after_first[2 * index:2 * index + 2]]
            states = free.get_layer(f"lstm_{index}")(states, initial_state=initial)
        constant_start_loss = loss(targets, free.get_layer("logits")(states))
    constant_start = tape.gradient(constant_start_loss, free.trainable_variables)
    np.testing.assert_allclose(float(truncated_loss), float(constant_start_loss), atol=1e-6)
    for ours, reference in zip(truncated, constant_start, strict=True):
        np.testing.assert_allclose(tf.convert_to_tensor(ours), tf.convert_to_tensor(reference),
                                   atol=1e-5)
    # Chunk 2's loss does not reach the inputs (embedding rows) of chunk 1 ...
    embedding_gradient = tf.convert_to_tensor(truncated[0]).numpy()
    assert not embedding_gradient[4:10].any() and embedding_gradient[10:].any()

    # ... which full backpropagation through both chunks does: the test can tell them apart.
    with tf.GradientTape() as tape:
        full_loss = loss(targets, free(np.concatenate([first, second], 1))[:, WINDOW:])
    full = tape.gradient(full_loss, free.trainable_variables)
    np.testing.assert_allclose(float(full_loss), float(truncated_loss), atol=1e-5)
    assert np.abs(tf.convert_to_tensor(full[0]).numpy()[4:10]).max() > 1e-6


def test_evaluate_carried_is_the_mean_cross_entropy_over_the_whole_text():
    free = build_language_model(VOCAB, tiny(cell="gru"))
    ids = unit_ids(50, seed=4)
    # One stream: the whole text in one pass.
    result = evaluate_carried(free, ids, batch_size=1, bptt=7)
    one_pass = summed_cross_entropy(ids[None, 1:], free(ids[None, :-1])) / 49
    assert result["units"] == 49
    assert result["nats_per_unit"] == pytest.approx(one_pass, abs=1e-5)
    assert result["bits_per_unit"] == pytest.approx(one_pass / math.log(2), abs=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(one_pass), rel=1e-5)
    # Three streams of ceil(49 / 3) = 17 predictions, the last one shorter: each read in one
    # pass from zero states; every prediction counted once.
    total = 0.0
    for start in range(0, 49, 17):
        stream = ids[start:min(start + 17, 49) + 1]
        total += summed_cross_entropy(stream[None, 1:], free(stream[None, :-1]))
    streams = evaluate_carried(free, ids, batch_size=3, bptt=4)
    assert streams["nats_per_unit"] == pytest.approx(total / 49, abs=1e-5)
    # A stateful model of that batch size is used itself, from zero states, left at zero.
    carried = build_language_model(VOCAB, tiny(cell="gru"), batch_size=3, stateful=True)
    carried.set_weights(free.get_weights())
    carried(unit_ids((3, 4)))
    again = evaluate_carried(carried, ids, batch_size=3, bptt=4)
    assert again["nats_per_unit"] == pytest.approx(streams["nats_per_unit"], abs=1e-6)
    assert not any(value.any() for value in carried_state_values(carried))


def test_the_reset_callback_zeroes_the_carried_states():
    model = build_language_model(VOCAB, tiny(), batch_size=BATCH, stateful=True)
    callback = CarriedStateResets()
    callback.set_model(model)
    for hook in (callback.on_epoch_begin, callback.on_test_begin, callback.on_test_end):
        model(unit_ids((BATCH, WINDOW)))
        assert all(value.any() for value in carried_state_values(model))
        hook(0) if hook == callback.on_epoch_begin else hook()
        assert not any(value.any() for value in carried_state_values(model))


class StateProbe(keras.callbacks.Callback):
    """Records, before each training batch, whether the carried states are all zero."""

    def __init__(self):
        super().__init__()
        self.zero_at = []

    def on_train_batch_begin(self, batch, logs=None):
        self.zero_at.append((batch, not any(np.asarray(s).any() for layer in stateful_layers(
            self.model) for s in layer.states)))


def test_tbptt_through_train_lowers_the_validation_nats(tmp_path):
    text = "the quick brown fox jumps over the lazy dog\n" * 20
    vocab = UnitVocabulary.fit(text, unit="char")
    train_text, validation_text = train_validation_text(text, 0.1)
    batch_size, bptt = 2, 10
    options = LanguageModelOptions(embedding_dim=8, units=32, num_layers=1, dropout=0.0)

    def build():
        return build_language_model(len(vocab), options, batch_size=batch_size, stateful=True)

    validation_ids = vocab.encode(validation_text)
    before = evaluate_carried(build(), validation_ids, batch_size, bptt)["nats_per_unit"]
    probe = StateProbe()
    config = TrainingConfig(epochs=3, batch_size=batch_size, learning_rate=0.02, shuffle=False,
                            seed=0, run_dir=str(tmp_path / "run"), monitor="val_loss",
                            verbose=0)
    result = train(build, stream_examples(vocab.encode(train_text), batch_size, bptt), config,
                   loss=language_model_loss(),
                   dev_data=stream_examples(validation_ids, batch_size, bptt),
                   callbacks=[CarriedStateResets(), probe])
    after = evaluate_carried(result.model, validation_ids, batch_size, bptt)["nats_per_unit"]
    assert after < before - 1.0, (before, after)
    assert result.history["val_loss"][-1] < result.history["val_loss"][0]
    # Every epoch starts from zero states and carries them from its first batch on.
    assert [zero for batch, zero in probe.zero_at if batch == 0] == [True] * 3
    assert not any(zero for batch, zero in probe.zero_at if batch == 1)


def test_a_stateful_model_needs_a_batch_size_and_one_replica():
    with pytest.raises(ValueError, match="batch_size"):
        build_language_model(VOCAB, tiny(), stateful=True)
    output = run_python("""
import tensorflow as tf
from nlpkit.training import configure_cpu_devices
configure_cpu_devices(2)
from nlpkit.tasks.generation import LanguageModelOptions, build_language_model
options = LanguageModelOptions(embedding_dim=4, units=4, num_layers=1)
with tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope():
    build_language_model(9, options)  # without state, any number of replicas
    try:
        build_language_model(9, options, batch_size=4, stateful=True)
    except ValueError as error:
        print("refused:", error)
""")
    assert "refused: TBPTT with a stateful model cannot run on 2 replicas" in output


def test_tied_embeddings_project_onto_the_embedding_matrix():
    model = build_language_model(VOCAB, tiny(tie_embeddings=True, embedding_dim=8))
    ids = unit_ids((2, 3))
    embeddings = model.get_layer("embedding").embeddings.numpy()
    states = keras.Model(model.input, model.get_layer("dropout_1").output)(ids)
    np.testing.assert_allclose(model(ids), np.asarray(states) @ embeddings.T, atol=1e-5)
    projected = build_language_model(VOCAB, tiny(tie_embeddings=True, embedding_dim=6))
    assert projected.get_layer("projection").kernel.shape == (8, 6)
    with pytest.raises(ValueError, match="one_hot"):
        LanguageModelOptions(one_hot=True, tie_embeddings=True)


def test_one_hot_inputs_are_a_fixed_identity():
    model = build_language_model(VOCAB, tiny(one_hot=True))
    one_hot = model.get_layer("one_hot")
    np.testing.assert_array_equal(one_hot.embeddings.numpy(), np.eye(VOCAB))
    assert not one_hot.trainable
    assert all(v is not one_hot.embeddings for v in model.trainable_variables)


def test_flags_are_generated_from_the_options():
    parser = argparse.ArgumentParser()
    add_language_model_flags(parser)
    assert options_from_args(LanguageModelOptions, parser.parse_args([])) == LanguageModelOptions()
    args = parser.parse_args(["--layers", "3", "--cell", "gru", "--tie-embeddings",
                              "--units", "64"])
    options = options_from_args(LanguageModelOptions, args)
    assert (options.num_layers, options.cell, options.tie_embeddings, options.units) == (
        3, "gru", True, 64)
