"""Tokenizers travel inside a SavedModel and run where nlpkit cannot be imported."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlpkit.export.serving_contract import saved_model_op_types, unservable_ops
from nlpkit.text import CharacterTokenizer, WordPieceTokenizer, WordTokenizer
from tests.layer_checks import run_without_nlpkit

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="SavedModel export is TensorFlow only"
)

CORPUS = ["the cat sat on the mat", "a dog ran", "unaffable affable unable"] * 3
INPUTS = [
    "the cat sat",
    "",
    "   ",
    "Unaffable 👍🏽 東京",
    "ﬁne",
    "the " * 50,
]
# Bytes that are not UTF-8 (what a careless client may send) go in as raw bytes.
INPUTS_BYTES = [text.encode("utf-8") for text in INPUTS] + [b"bad\xff\xfe bytes", b"\xc3"]


def _tokenizers():
    word = WordTokenizer(lowercase=True, max_length=8, add_bos=True, add_eos=True)
    word.adapt(CORPUS)
    chars = CharacterTokenizer(unit="grapheme", max_length=12, pad_to_max_length=True)
    chars.adapt(CORPUS)
    pieces = WordPieceTokenizer(max_length=10)
    pieces.adapt(CORPUS, vocab_size=40)
    spans = WordTokenizer(split="whitespace", return_offsets=True)
    spans.adapt(CORPUS)
    return {"word": word, "chars": chars, "pieces": pieces, "spans": spans}


def _model(tokenizer):
    text = keras.Input(shape=(), dtype="string", name="text")
    outputs = tokenizer(text)
    if isinstance(outputs, tuple):
        ids, starts, ends = outputs
        named = {"ids": ids, "starts": starts, "ends": ends}
    else:
        ids = outputs
        named = {"ids": ids}
    embedded = keras.layers.Embedding(tokenizer.vocabulary_size, 4)(ids)
    named["score"] = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling1D()(embedded))
    return keras.Model(text, named)


def test_exported_tokenizers_run_without_nlpkit_and_only_use_serving_ops(tmp_path):
    expected = {}
    for name, tokenizer in _tokenizers().items():
        model = _model(tokenizer)
        expected[name] = {
            key: keras.ops.convert_to_numpy(value)
            for key, value in model(tf.constant(INPUTS_BYTES)).items()
        }
        export_dir = tmp_path / name
        model.export(str(export_dir), verbose=False)
        problems = unservable_ops(saved_model_op_types(export_dir))
        assert not problems, problems

    # TensorFlow Serving links TF Text in; a Python process registers its ops by importing it.
    script = f"""
        import sys
        import numpy as np
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the TF Text ops)
        inputs = tf.constant({INPUTS_BYTES!r})
        for name in {sorted(expected)!r}:
            loaded = tf.saved_model.load(str({str(tmp_path)!r}) + "/" + name)
            outputs = loaded.serve(inputs)
            np.savez(str({str(tmp_path)!r}) + "/" + name + ".npz",
                     **{{key: value.numpy() for key, value in outputs.items()}})
        assert "nlpkit" not in sys.modules
    """
    run_without_nlpkit(script, cwd=tmp_path)
    for name, outputs in expected.items():
        served = np.load(os.path.join(str(tmp_path), name + ".npz"))
        assert sorted(served.files) == sorted(outputs)
        for key, value in outputs.items():
            if key == "score":
                np.testing.assert_allclose(served[key], value, atol=1e-6)
            else:
                np.testing.assert_array_equal(served[key], value)
    # the exported graph really tokenized: fixed width where asked, the end marker, offsets
    assert expected["chars"]["ids"].shape == (len(INPUTS_BYTES), 12)
    assert expected["word"]["ids"].shape[1] == 8
    assert (expected["word"]["ids"] == 3).sum(axis=1).tolist() == [1] * len(INPUTS_BYTES)
    assert expected["spans"]["ends"][0, :3].tolist() == [3, 7, 11]
