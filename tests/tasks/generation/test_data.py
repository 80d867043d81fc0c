"""nlpkit.tasks.generation.data: unit vocabularies round-trip, the graph encodes as Python does,
and the stream of windows batches into exactly `nlpkit.data.stateful_batches`."""

import json

import numpy as np
import pytest
import tensorflow as tf

from nlpkit.data import DataFormatError, stateful_batches
from nlpkit.tasks.generation.data import (
    END_OF_LINE,
    UNKNOWN_CHARACTER,
    UnitVocabulary,
    require_one_window_per_stream,
    stream_examples,
    text_words,
    train_validation_text,
)
from nlpkit.text import EOS_ID, OOV_ID

CHAR_TRAINING = "Grüße, 世界! 😀 naïve\nsecond line\n"
WORD_TRAINING = "the cat sat\nthe dog sat\n\nthe end\n"


def test_characters_are_code_points_and_unseen_ones_are_unknown():
    vocab = UnitVocabulary.fit(CHAR_TRAINING, unit="char")
    assert len(vocab) == 4 + len(set(CHAR_TRAINING))
    ids = vocab.encode(CHAR_TRAINING)
    assert ids.dtype == np.int32 and len(ids) == len(CHAR_TRAINING)
    assert vocab.decode(ids) == CHAR_TRAINING
    # Unseen: another emoji, Greek, a skin-tone modifier (its own code point).
    ids = vocab.encode("ü😀🙂Ω👍🏽\n")
    assert ids.tolist()[:2] == vocab.encode("ü😀").tolist()
    assert ids.tolist()[2:] == [OOV_ID, OOV_ID, OOV_ID, OOV_ID, vocab.encode("\n")[0]]
    assert vocab.decode(ids) == "ü😀" + UNKNOWN_CHARACTER * 4 + "\n"


def test_character_min_count_and_max_size():
    vocab = UnitVocabulary.fit("aaabbc", unit="char", min_count=2)
    assert vocab.units[4:] == ["a", "b"]
    assert vocab.encode("abc").tolist() == [4, 5, OOV_ID]
    assert UnitVocabulary.fit("aaabbc", unit="char", max_size=5).units[4:] == ["a"]


def test_words_end_every_line_with_eos_and_rare_words_are_unk():
    vocab = UnitVocabulary.fit(WORD_TRAINING, unit="word", min_count=2)
    assert vocab.units == ["[PAD]", "<unk>", "[BOS]", "<eos>", "the", "sat"]
    ids = vocab.encode(WORD_TRAINING)
    the, sat, unk = 4, 5, OOV_ID
    assert ids.tolist() == [the, unk, sat, EOS_ID, the, unk, sat, EOS_ID, EOS_ID,
                            the, unk, EOS_ID]
    assert vocab.decode(ids) == "the <unk> sat\nthe <unk> sat\n\nthe <unk>\n"
    # Runs of whitespace, \r\n and a missing final newline; a literal <unk> or <eos> is that id.
    assert vocab.encode("  the\tsat \r\nthe <unk> <eos>").tolist() == [
        the, sat, EOS_ID, the, unk, EOS_ID, EOS_ID]
    assert text_words("") == [] and text_words("\n") == [END_OF_LINE]
    assert text_words("a\n\nb") == ["a", END_OF_LINE, END_OF_LINE, "b", END_OF_LINE]
    # The literal markers are never vocabulary entries, however often they occur.
    assert UnitVocabulary.fit("<unk> <unk> x\n", unit="word").units[4:] == ["x"]


def test_config_is_json_ready_and_rebuilds_the_same_vocabulary():
    for unit, text in (("char", CHAR_TRAINING), ("word", WORD_TRAINING)):
        vocab = UnitVocabulary.fit(text, unit=unit)
        again = UnitVocabulary.from_config(json.loads(json.dumps(vocab.get_config())))
        assert again.unit == unit and again.units == vocab.units
        assert again.encode(text).tolist() == vocab.encode(text).tolist()


@pytest.mark.parametrize("unit", ["char", "word"])
def test_encode_tensor_equals_encode(unit):
    vocab = UnitVocabulary.fit(CHAR_TRAINING + WORD_TRAINING, unit=unit)
    texts = ["", "\n", "the cat", "Grüße 😀 the\n\nend\n",
             "unseen Ωμέγα 中文 🙂👍🏽 words",
             "  the\tcat \r\nsat\u00a0the \x0bdog\f\n\n\n", "<unk> <eos> [UNK] [PAD]\n",
             CHAR_TRAINING]
    encoded = vocab.encode_tensor(tf.constant(texts)).to_list()
    assert encoded == [vocab.encode(text).tolist() for text in texts]
    # In a tf.function too (what an export traces), with one table.
    graph = tf.function(vocab.encode_tensor)(tf.constant(texts[3:5])).to_list()
    assert graph == encoded[3:5]
    assert any(OOV_ID in row for row in encoded)


def test_train_validation_text_is_a_contiguous_split():
    text = "".join(chr(ord("a") + i % 26) for i in range(100))
    train, validation = train_validation_text(text, 0.1)
    assert train == text[:90] and validation == text[90:]
    with pytest.raises(ValueError, match="val_fraction"):
        train_validation_text(text, 1.0)


@pytest.mark.parametrize("batch_size, bptt", [(3, 5), (4, 1), (1, 7)])
def test_stream_examples_batched_without_shuffle_are_stateful_batches(batch_size, bptt):
    ids = np.arange(10, 10 + 103)
    batches = list(stream_examples(ids, batch_size, bptt).batch(batch_size).as_numpy_iterator())
    inputs, targets = stateful_batches(ids, batch_size, bptt)
    assert len(batches) == len(inputs) > 1
    for (batch_inputs, batch_targets), expected_inputs, expected_targets in zip(
            batches, inputs, targets):
        assert batch_inputs.dtype == np.int32 and batch_inputs.shape == (batch_size, bptt)
        np.testing.assert_array_equal(batch_inputs, expected_inputs)
        np.testing.assert_array_equal(batch_targets, expected_targets)
    # Row r of batch k+1 continues row r of batch k.
    np.testing.assert_array_equal(batches[1][0][:, 0], batches[0][0][:, -1] + 1)


def test_a_text_shorter_than_one_window_per_stream_is_a_clear_error():
    with pytest.raises(ValueError, match=r"11 units .* 4 streams .* 2-unit .* at least 12"):
        stream_examples(np.arange(11), 4, 2)
    assert len(list(stream_examples(np.arange(12), 4, 2))) == 4


def test_require_one_window_per_stream_names_the_file_the_part_and_the_numbers():
    require_one_window_per_stream(
        "t.txt", {"training text": np.zeros(12), "validation text": np.zeros(12)}, 3, 3, "char")
    with pytest.raises(DataFormatError) as raised:
        require_one_window_per_stream(
            "t.txt", {"training text": np.zeros(12), "validation text": np.zeros(11)}, 3, 3,
            "word")
    message = str(raised.value)
    assert "t.txt" in message and "at least 12 words in the validation text" in message
    assert "11" in message
