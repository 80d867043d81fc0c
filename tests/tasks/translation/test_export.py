"""nlpkit.tasks.translation.export: a real translator SavedModel, text in, translation out with
beam search in the graph; n-best with a beam size and length limit per request. Loaded with
TensorFlow and TF Text alone, checked against TensorFlow Serving 2.20's ops, a PredictRequest
and `saved_model_cli`."""

import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlpkit.data import SentencePairs
from nlpkit.export import saved_model_op_types, unservable_ops
from nlpkit.tasks.translation import (
    MAX_BEAM_SIZE,
    NBEST_SIGNATURE_KEY,
    SIGNATURE_KEY,
    PairTokenizers,
    Translator,
    TranslatorOptions,
    export_translator,
    padded_token_crossentropy,
    translate_texts,
)
from tests.export.serving_checks import (
    assert_cli_shows_documented_block,
    predict_through_wire,
)
from tests.layer_checks import run_without_nlpkit

SOURCES = ["uno dos", "dos tres", "tres uno", "uno tres dos", "dos"]
TARGETS = ["one two", "two three", "three one", "one three two", "two"]
MAX_TARGET_LENGTH = 12
TEXTS = [
    "uno dos",
    "",
    "   ",
    "uno dos tres " * 7700,  # 100,100 characters
    "😀 uno 👍🏽 Ангела 東京",
    "\xff\xfeuno",  # stands for invalid UTF-8, see `as_bytes`
]


def as_bytes(text):
    return text.encode("latin-1") if text.startswith("\xff") else text.encode()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    tokenizers = PairTokenizers.fit(SOURCES, TARGETS, source_vocab_size=40, target_vocab_size=40,
                                    max_source_length=16, max_target_length=MAX_TARGET_LENGTH)
    model = Translator(tokenizers.source.vocabulary_size, tokenizers.target.vocabulary_size,
                       TranslatorOptions(embedding_dim=8, units=16, dropout=0.0,
                                         label_smoothing=0.0))
    model.compile(optimizer=keras.optimizers.Adam(0.03), loss=padded_token_crossentropy())
    examples = tokenizers.examples(SentencePairs(SOURCES * 8, TARGETS * 8))
    model.fit(examples.padded_batch(8), epochs=25, verbose=0)
    base = tmp_path_factory.mktemp("exports") / "translate"
    path = export_translator(tokenizers, model, str(base), beam_size=3,
                             max_target_length=MAX_TARGET_LENGTH, run_config={"epochs": 25})
    return path, tokenizers, model


def test_serving_default_translates_and_answers_every_kind_of_text(exported):
    path, tokenizers, model = exported
    serve = tf.saved_model.load(path).signatures[SIGNATURE_KEY]
    outputs = serve(text=tf.constant([as_bytes(text) for text in TEXTS]))
    translations = outputs["translation"].numpy()
    scores = outputs["score"].numpy()
    assert translations.shape == (len(TEXTS),) and scores.shape == (len(TEXTS),)
    assert translations[0] == b"one two"  # learned
    assert np.all(np.isfinite(scores)) and np.all(scores <= 0)
    for translation in translations:
        # Bounded: at most MAX_TARGET_LENGTH - 1 generated pieces ([BOS] takes one), [EOS]
        # included when there is one; every word here is one piece.
        assert len(translation.split()) <= MAX_TARGET_LENGTH - 1
    # The export's search is the recipe's evaluation search.
    assert translate_texts(tokenizers, model, ["uno dos", "dos tres"], beam_size=3,
                           max_length=MAX_TARGET_LENGTH) == ["one two", "two three"]


def test_nbest_sorts_clips_and_keeps_the_best_as_serving_default(exported):
    path, _, _ = exported
    loaded = tf.saved_model.load(path)
    texts = tf.constant(["uno dos", "tres uno", ""])
    out = loaded.signatures[NBEST_SIGNATURE_KEY](text=texts, beam_size=tf.constant(4),
                                                 max_length=tf.constant(8))
    translations, scores = out["translations"].numpy(), out["scores"].numpy()
    assert translations.shape == (3, 4) and scores.shape == (3, 4)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)
    best = loaded.signatures[SIGNATURE_KEY](text=texts)
    # The serving default (beam 3) is the best of the n-best list with beam 3.
    three = loaded.signatures[NBEST_SIGNATURE_KEY](text=texts, beam_size=tf.constant(3),
                                                   max_length=tf.constant(MAX_TARGET_LENGTH))
    assert three["translations"].numpy()[:, 0].tolist() == best["translation"].numpy().tolist()
    np.testing.assert_allclose(three["scores"].numpy()[:, 0], best["score"].numpy(), atol=1e-5)
    # Out-of-range requests are clipped, not refused: beam 0 -> 1, beam 10**6 -> MAX_BEAM_SIZE,
    # max_length 10**6 -> the trained maximum.
    one = loaded.signatures[NBEST_SIGNATURE_KEY](text=texts[:1], beam_size=tf.constant(0),
                                                 max_length=tf.constant(10**6))
    assert one["translations"].shape == (1, 1)
    wide = loaded.signatures[NBEST_SIGNATURE_KEY](text=texts[:1], beam_size=tf.constant(10**6),
                                                  max_length=tf.constant(3))
    assert wide["translations"].shape == (1, MAX_BEAM_SIZE)
    assert all(len(t.split()) <= 3 for t in wide["translations"].numpy()[0])


def test_every_op_is_servable_and_the_model_runs_without_nlpkit(exported, tmp_path):
    path, _, _ = exported
    op_types = saved_model_op_types(path)
    assert unservable_ops(op_types) == {}
    assert "While" in op_types or "StatelessWhile" in op_types  # the search is in the graph
    texts = [as_bytes(text) for text in TEXTS]
    expected = tf.saved_model.load(path).signatures[SIGNATURE_KEY](text=tf.constant(texts))
    np.save(tmp_path / "texts.npy", np.array(texts, dtype=object), allow_pickle=True)
    script = f"""
        import json
        import numpy as np
        import tensorflow as tf
        import tensorflow_text  # registers TF Text's ops, as TensorFlow Serving does
        loaded = tf.saved_model.load({path!r})
        texts = np.load("texts.npy", allow_pickle=True).tolist()
        out = loaded.signatures["serving_default"](text=tf.constant(texts))
        json.dump({{"translation": out["translation"].numpy().astype(str).tolist(),
                   "score": out["score"].numpy().tolist()}}, open("out.json", "w"))
        assert "nlpkit" not in sys.modules
    """
    run_without_nlpkit(script, cwd=tmp_path)
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["translation"] == expected["translation"].numpy().astype(str).tolist()
    np.testing.assert_allclose(out["score"], expected["score"].numpy(), atol=1e-5)
    run_config = json.loads((pathlib.Path(path) / "assets.extra" / "run_config.json")
                            .read_text())
    assert run_config == {"epochs": 25}


def test_predict_requests_match_both_signatures(exported):
    path, _, _ = exported
    loaded = tf.saved_model.load(path)
    requests = {
        SIGNATURE_KEY: {"text": tf.make_tensor_proto(["uno dos", ""], dtype=tf.string)},
        NBEST_SIGNATURE_KEY: {
            "text": tf.make_tensor_proto(["uno dos", "tres"], dtype=tf.string),
            "beam_size": tf.make_tensor_proto(2, dtype=tf.int32),
            "max_length": tf.make_tensor_proto(10, dtype=tf.int32)},
    }
    for key, inputs in requests.items():
        outputs = predict_through_wire(loaded, path, key, inputs)
        for name, value in outputs.items():
            assert value.shape[0] == 2


def test_saved_model_cli_lists_both_signatures_as_documented(exported):
    path, _, _ = exported
    assert_cli_shows_documented_block(path, "translate")
