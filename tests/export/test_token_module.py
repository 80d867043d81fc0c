"""Per-token Hub modules (export_text_encoder(per_token=True) and nlpkit.layers.token_module):
the interface on strings and on tokens, loaded by TensorFlow alone, and the checks that refuse a
handle that is not such a module."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlpkit.export import signature_def
from nlpkit.layers import token_module
from nlpkit.layers.token_module import TokenModuleError, describe_token_module
from tests.export.tiny_token_module import DIM, export_tiny_token_module
from tests.layer_checks import run_without_nlpkit

SENTENCES = ["the cat sat on the mat .", "Anna visited Paris", ""]


@pytest.fixture(scope="module")
def handle(tmp_path_factory):
    return export_tiny_token_module(tmp_path_factory.mktemp("modules") / "tiny")


def test_loads_with_tensorflow_alone_and_answers_every_layer(handle, tmp_path):
    script = f"""
        import numpy as np
        import tensorflow as tf
        module = tf.saved_model.load({handle!r})
        out = module(tf.constant({SENTENCES!r}))
        np.savez({str(tmp_path / "out.npz")!r}, **{{k: v.numpy() for k, v in out.items()}})
        print(len(module.trainable_variables))
        assert "nlpkit" not in sys.modules
    """
    trainable = int(run_without_nlpkit(script, cwd=tmp_path).split()[-1])
    out = np.load(tmp_path / "out.npz")
    assert sorted(out) == ["default", "lstm_outputs1", "mask", "sequence_len", "word_emb"]
    for name in ("word_emb", "lstm_outputs1", "default"):
        assert out[name].shape == (3, 7, DIM)
    np.testing.assert_array_equal(out["sequence_len"], [7, 3, 0])
    np.testing.assert_array_equal(out["mask"].sum(axis=1), [7, 3, 0])
    assert np.all(out["lstm_outputs1"][~out["mask"]] == 0.0)
    np.testing.assert_allclose(out["default"], (out["word_emb"] + out["lstm_outputs1"]) / 2,
                               atol=1e-6)
    assert trainable > 0


def test_tokens_equal_strings_and_padding_changes_nothing(handle):
    module = tf.saved_model.load(handle)
    on_text = module(tf.constant(SENTENCES[:2]))
    tokens = [["the", "cat", "sat", "on", "the", "mat", ".", "", ""],
              ["Anna", "visited", "Paris", "junk", "junk", "junk", "junk", "junk", "junk"]]
    on_tokens = module({"tokens": tf.constant(tokens), "sequence_len": tf.constant([7, 3])})
    for name in ("word_emb", "lstm_outputs1", "default"):
        np.testing.assert_allclose(on_tokens[name][:, :7].numpy(), on_text[name].numpy(),
                                   atol=1e-6)
        assert np.all(on_tokens[name][1, 3:].numpy() == 0.0)
    alone = module(tf.constant(SENTENCES[1:2]))
    np.testing.assert_allclose(alone["lstm_outputs1"].numpy(),
                               on_text["lstm_outputs1"][1:, :3].numpy(), atol=1e-6)
    signature = module.signatures["tokens"]
    served = signature(tokens=tf.constant(tokens), sequence_len=tf.constant([7, 3]))
    np.testing.assert_allclose(served["default"].numpy(), on_tokens["default"].numpy(), atol=1e-6)
    assert "text" in str(signature_def(handle, "serving_default"))


def test_describe_finds_the_layers_and_mix_puts_them_in_a_model(handle):
    info = describe_token_module(handle)
    assert info.layers == ("word_emb", "lstm_outputs1") and info.dim == DIM
    text = keras.Input(shape=(), dtype="string")
    mixed = token_module.mix_token_module(text, handle, info)
    assert mixed._keras_mask is not None
    model = keras.Model(text, keras.layers.GlobalAveragePooling1D()(mixed))
    out = model(tf.constant(SENTENCES[:2])).numpy()
    assert out.shape == (2, DIM) and np.all(np.isfinite(out))
    # only the mix is trainable: the module is frozen by default
    assert {w.name for w in model.trainable_weights} == {"layer_weights", "gamma"}


def test_bad_handles_are_refused_naming_the_handle(tmp_path, handle):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(TokenModuleError, match="nowhere: no such file"):
        describe_token_module(missing)
    not_a_module = tmp_path / "junk"
    not_a_module.mkdir()
    (not_a_module / "saved_model.pb").write_bytes(b"\x00not a protobuf")
    with pytest.raises(TokenModuleError, match=f"{not_a_module}: not a TF Hub module"):
        describe_token_module(str(not_a_module))


def test_a_sentence_module_is_refused_as_per_token(tmp_path):
    """A module answering one vector per sentence has the wrong shapes for a per-token use."""
    from nlpkit.export.text_encoder import export_text_encoder
    from nlpkit.layers import MeanPooling
    from nlpkit.text import WordTokenizer

    tokenizer = WordTokenizer()
    tokenizer.adapt(["a b c"])
    ids = keras.Input(shape=(None,), dtype="int32")
    pooled = MeanPooling()(keras.layers.Embedding(10, 4, mask_zero=True)(ids))
    sentence_handle = export_text_encoder(tokenizer, keras.Model(ids, pooled),
                                          str(tmp_path / "sentence"))
    with pytest.raises(TokenModuleError, match=f"{os.path.basename(os.path.dirname(sentence_handle))}"
                       r".*not a per-token module"):
        describe_token_module(sentence_handle)
