"""The pretraining task: character ids, a tiny bidirectional LM trained a few steps, its export
as a per-token Hub module (loaded by TensorFlow alone, strings equal tokens, padding changes
nothing, loads in HubLayer and passes describe_token_module), and the recipe's bad inputs."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlpkit.export import saved_model_op_types, unservable_ops
from nlpkit.layers import HubLayer
from nlpkit.layers.token_module import describe_token_module
from nlpkit.tasks import generation, pretraining
from tests.layer_checks import run_without_nlpkit
from tests.recipes.recipe_checks import recipe_module

TEXT = "\n".join(f"the cat sat on the mat near Anna {i % 7} ." for i in range(120))
OPTIONS = pretraining.BiLMOptions(max_characters=8, char_embedding_dim=4, char_filters=4,
                                  projection_dim=6, units=8, num_layers=2, dropout=0.0)


def test_character_ids_mark_words_and_leave_padding_zero():
    ids = pretraining.character_ids(tf.constant([["ab", "", "abcdefghijk"]]), 4).numpy()[0]
    np.testing.assert_array_equal(ids[0], [257, ord("a") + 1, ord("b") + 1, 258, 0, 0])
    np.testing.assert_array_equal(ids[1], 0)
    np.testing.assert_array_equal(ids[2], [257, 98, 99, 100, 101, 258])  # cut to 4 bytes


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    vocabulary = generation.UnitVocabulary.fit(TEXT, unit="word", max_size=50)
    ids = vocabulary.encode(TEXT)
    words = list(vocabulary.units)
    model, forward, backward = pretraining.build_bidirectional_lm(words, OPTIONS, batch_size=4,
                                                                  stateful=True)
    model.compile("adam", generation.language_model_loss())
    before = model.evaluate(pretraining.bidirectional_examples(ids, 4, 6).batch(4), verbose=0)
    model.fit(pretraining.bidirectional_examples(ids, 4, 6).batch(4), epochs=2, verbose=0,
              shuffle=False)
    after = model.evaluate(pretraining.bidirectional_examples(ids, 4, 6).batch(4), verbose=0)
    base = tmp_path_factory.mktemp("bilm") / "module"
    handle = pretraining.export_bilm(model, words, OPTIONS, str(base))
    return {"handle": handle, "losses": (before, after), "forward": forward, "ids": ids}


def test_training_lowers_the_loss_of_both_directions(exported):
    before, after = exported["losses"]
    assert after < before - 0.2
    score = generation.evaluate_carried(exported["forward"], exported["ids"], 4, 6)
    assert score["perplexity"] < 50  # below the 50-word uniform guess


def test_module_loads_with_tensorflow_alone_and_has_the_documented_shapes(exported, tmp_path):
    script = f"""
        import numpy as np
        import tensorflow as tf
        module = tf.saved_model.load({exported["handle"]!r})
        out = module(tf.constant(["the cat sat", "Anna unseenword", ""]))
        np.savez({str(tmp_path / "out.npz")!r}, **{{k: v.numpy() for k, v in out.items()}})
        print(len(module.trainable_variables))
    """
    assert int(run_without_nlpkit(script, cwd=tmp_path).split()[-1]) > 0
    out = np.load(tmp_path / "out.npz")
    assert sorted(out) == ["default", "lstm_outputs1", "lstm_outputs2", "mask", "sequence_len",
                           "word_emb"]
    for name in ("word_emb", "lstm_outputs1", "lstm_outputs2", "default"):
        assert out[name].shape == (3, 3, 2 * OPTIONS.projection_dim), name
    np.testing.assert_array_equal(out["sequence_len"], [3, 2, 0])
    assert np.abs(out["word_emb"][1, 1]).sum() > 0  # an unseen word still has a vector


def test_module_uses_only_tensorflow_serving_2_20_ops(exported):
    assert unservable_ops(saved_model_op_types(exported["handle"])) == {}


def test_strings_equal_tokens_and_padding_does_not_change_real_tokens(exported):
    module = tf.saved_model.load(exported["handle"])
    on_text = module(tf.constant(["the cat sat on the mat", "Anna sat"]))
    on_tokens = module({"tokens": tf.constant([["the", "cat", "sat", "on", "the", "mat", ""],
                                               ["Anna", "sat", "x", "x", "x", "x", "x"]]),
                        "sequence_len": tf.constant([6, 2])})
    alone = module(tf.constant(["Anna sat"]))
    for name in ("word_emb", "lstm_outputs1", "lstm_outputs2"):
        np.testing.assert_allclose(on_tokens[name][:, :6].numpy(), on_text[name].numpy(),
                                   atol=1e-5)
        np.testing.assert_allclose(alone[name].numpy(), on_text[name][1:, :2].numpy(),
                                   atol=1e-5)


def test_module_loads_in_hub_layer_and_passes_the_per_token_check(exported):
    info = describe_token_module(exported["handle"])
    assert info.layers == ("word_emb", "lstm_outputs1", "lstm_outputs2")
    layer = HubLayer(exported["handle"], trainable=True)
    assert len(layer.trainable_weights) > 0
    assert layer(tf.constant(["the cat"]))["default"].shape == (1, 2, 12)


@pytest.mark.parametrize("content, message", [
    (b"", "empty"), (b"   \n\t\n", "only whitespace"), (b"text\x00\x01binary", "NUL byte"),
    (b"\xff\xfe\x00bad", "undecodable"),
    (b"far too short for one window", "at least")])
def test_bad_text_exits_with_2_naming_the_file(tmp_path, capsys, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(SystemExit) as raised:
        recipe_module("pretrain").main(["--data", str(path), "--run-dir", str(tmp_path / "r")])
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert str(path) in error and message in error and "Traceback" not in error


def test_metrics_json_of_a_tiny_recipe_run_has_both_directions(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT)
    status = recipe_module("pretrain").main([
        "--data", str(path), "--epochs", "1", "--batch-size", "4", "--bptt", "6", "--units", "8",
        "--projection-dim", "6", "--char-filters", "4", "--layers", "1",
        "--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "export")])
    assert status == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["forward"]["perplexity"] > 1 and metrics["backward"]["perplexity"] > 1
    assert (tmp_path / "export" / "1" / "saved_model.pb").exists()
