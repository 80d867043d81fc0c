"""nlpkit.tasks.translation.model: the teacher-forced pass equals the decoding steps, masks,
the loss and the metric against their formulas."""

import numpy as np
import pytest
import tensorflow as tf

from nlpkit.tasks.translation.model import (
    SOURCE_IDS,
    TARGET_INPUTS,
    TokenAccuracy,
    Translator,
    TranslatorOptions,
    padded_token_crossentropy,
)
from nlpkit.text import BOS_ID, EOS_ID

SOURCE_VOCAB, TARGET_VOCAB = 13, 11


def tiny(**changes):
    options = TranslatorOptions(**{"embedding_dim": 6, "units": 8, "dropout": 0.0, **changes})
    model = Translator(SOURCE_VOCAB, TARGET_VOCAB, options)
    model.build()
    return model


def batch(seed=0):
    rng = np.random.default_rng(seed)
    source = rng.integers(4, SOURCE_VOCAB, size=(3, 5)).astype("int32")
    source[1, 3:] = 0  # a shorter source, padded
    target = rng.integers(4, TARGET_VOCAB, size=(3, 4)).astype("int32")
    target[:, 0] = BOS_ID
    return source, target


@pytest.mark.parametrize("changes", [
    dict(attention="luong"),
    dict(attention="luong", luong_score="dot", input_feeding=False, cell="gru"),
    dict(attention="bahdanau", bidirectional=False, encoder_layers=2),
    dict(attention="none", cell="gru", encoder_layers=2),
    dict(attention="bahdanau", tie_embeddings=True, cell="peephole"),
])
def test_teacher_forcing_equals_the_decoding_steps(changes):
    model = tiny(**changes)
    source, target = batch()
    logits = model({SOURCE_IDS: source, TARGET_INPUTS: target}).numpy()
    state = model.decoder_state(tf.constant(source))
    for t in range(target.shape[1]):
        log_probs, state = model.decode_step(tf.constant(target[:, t]), state, t)
        expected = tf.nn.log_softmax(logits[:, t]).numpy()
        # The step forbids [PAD] and [BOS]; every other word has the teacher-forced score
        # renormalised, i.e. the same differences between words.
        allowed = [i for i in range(TARGET_VOCAB) if i not in (0, BOS_ID)]
        step = log_probs.numpy()[:, allowed]
        forced = expected[:, allowed]
        np.testing.assert_allclose(step - step[:, :1], forced - forced[:, :1], atol=1e-5)
        assert np.all(log_probs.numpy()[:, [0, BOS_ID]] < -1e8)


@pytest.mark.parametrize("attention", ["luong", "bahdanau", "none"])
def test_padded_source_steps_change_nothing(attention):
    model = tiny(attention=attention)
    source, target = batch(1)
    padded = np.concatenate([source, np.zeros((3, 4), "int32")], axis=1)
    short = model({SOURCE_IDS: source, TARGET_INPUTS: target}).numpy()
    long = model({SOURCE_IDS: padded, TARGET_INPUTS: target}).numpy()
    np.testing.assert_allclose(short, long, atol=1e-5)
    # Row 1 is 3 words long: alone and unpadded, it gives the same logits as in the batch.
    alone = model({SOURCE_IDS: source[1:2, :3], TARGET_INPUTS: target[1:2]}).numpy()
    np.testing.assert_allclose(alone[0], short[1], atol=1e-5)


def test_translate_stops_at_eos_and_respects_limits():
    model = tiny()
    source, _ = batch()
    result = model.translate(tf.constant(source), beam_size=3, max_length=6,
                             length_penalty=0.0)
    ids, lengths = result.ids.numpy(), result.lengths.numpy()
    assert ids.shape[:2] == (3, 3) and ids.shape[2] <= 6
    for row in range(3):
        for beam in range(3):
            length = lengths[row, beam]
            assert 1 <= length <= 6
            words = ids[row, beam, :length]
            assert BOS_ID not in words and 0 not in words
            assert EOS_ID not in words[:-1]
            assert np.all(ids[row, beam, length:] == 0)
    scores = result.scores.numpy()
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    # The limit relative to the source: at most 1 * length + 1 pieces.
    short = model.translate(tf.constant(source), beam_size=2, max_length_ratio=1.0,
                            max_length_extra=1)
    source_lengths = (source > 0).sum(axis=1)
    assert np.all(short.lengths.numpy() <= (source_lengths + 1)[:, None])


def test_tied_output_reads_the_target_embedding():
    model = tiny(tie_embeddings=True, embedding_dim=5)
    names = [v.path for v in model.trainable_variables]
    assert not any("output/kernel" in name for name in names)
    source, target = batch()
    with tf.GradientTape() as tape:
        logits = model({SOURCE_IDS: source, TARGET_INPUTS: target})
        loss = padded_token_crossentropy()(tf.constant(target), logits)
    embedding = model.target_embedding.embeddings
    gradient = tape.gradient(loss, embedding)
    # The embedding learns through the output layer too: rows of words never read as inputs
    # get gradients.
    unread = [i for i in range(TARGET_VOCAB) if i not in target]
    assert np.abs(tf.convert_to_tensor(gradient).numpy()[unread]).sum() > 0


def test_loss_is_the_mean_over_real_tokens_with_label_smoothing():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 5)).astype("float32")
    labels = np.array([[1, 4, 0], [2, 0, 0]], "int32")
    smoothing = 0.2
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    total, count = 0.0, 0
    for i in range(2):
        for t in range(3):
            if labels[i, t]:
                target = np.full(5, smoothing / 5)
                target[labels[i, t]] += 1 - smoothing
                total -= (target * log_p[i, t]).sum()
                count += 1
    loss = padded_token_crossentropy(smoothing)(labels, logits)
    np.testing.assert_allclose(float(loss), total / count, rtol=1e-5)


def test_token_accuracy_ignores_padding():
    metric = TokenAccuracy()
    logits = np.zeros((1, 4, 5), "float32")
    logits[0, [0, 1, 2, 3], [1, 2, 0, 0]] = 1.0  # predicts 1, 2, 0, 0
    metric.update_state(np.array([[1, 3, 0, 0]]), logits)
    assert float(metric.result()) == pytest.approx(0.5)


def test_weights_round_trip_through_config_and_file(tmp_path):
    model = tiny(attention="bahdanau", cell="gru")
    source, target = batch()
    inputs = {SOURCE_IDS: source, TARGET_INPUTS: target}
    path = str(tmp_path / "translator.weights.h5")
    model.save_weights(path)
    again = Translator.from_config(model.get_config())
    again.build()
    again.load_weights(path)
    np.testing.assert_array_equal(model(inputs).numpy(), again(inputs).numpy())
