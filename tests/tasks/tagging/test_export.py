"""nlpkit.tasks.tagging.export: a real tagger SavedModel, raw text in, tokens, tags and entity
spans out; pre-split tokens in, tags out. Loaded with TensorFlow and TF Text alone, checked
against TensorFlow Serving 2.20's ops, a PredictRequest and `saved_model_cli`."""

import json
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from seqeval.metrics.sequence_labeling import get_entities

from nlpkit.export import saved_model_op_types, unservable_ops
from nlpkit.tasks.tagging.data import TokenFeatures, tag_names_of, tagged_examples
from nlpkit.tasks.tagging.export import (
    SIGNATURE_KEY,
    TEXT_OUTPUTS,
    TOKENS_SIGNATURE_KEY,
    export_tagger,
)
from nlpkit.tasks.tagging.metrics import entity_scores
from nlpkit.tasks.tagging.model import TaggerOptions, build_tagger, serving_tagger
from tests.export.serving_checks import (
    assert_cli_shows_documented_block,
    predict_through_wire,
)
from tests.layer_checks import run_without_nlpkit

SENTENCES = [["Angela", "Merkel", "visited", "Paris", "."],
             ["Bob", "Smith", "lives", "in", "New", "York"],
             ["Paris", "is", "far", "from", "Bob", "."]]
TAGS = [["B-PER", "I-PER", "O", "B-LOC", "O"],
        ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC"],
        ["B-LOC", "O", "O", "O", "B-PER", "O"]]
TEXTS = [
    "Angela Merkel visited New York.",
    "",
    "   ",
    "Bob Smith lives in Paris " * 4000,  # 100,000 characters
    "😀 Bob 👍🏽 met Ангела in 東京",
    "\xff\xfeBob in Paris",  # stands for invalid UTF-8, see `as_bytes`
]


def as_bytes(text):
    return text.encode("latin-1") if text.startswith("\xff") else text.encode()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    features = TokenFeatures.fit(SENTENCES)
    names = tag_names_of(TAGS)
    options = TaggerOptions(units=8, char_filters=6, embedding_dim=8, dropout=0.0)
    model = build_tagger(features.word_vocabulary_size, features.char_vocabulary_size, names,
                         options)
    model.compile(optimizer=keras.optimizers.Adam(0.05), metrics=entity_scores(names))
    batches = tagged_examples(SENTENCES * 4, TAGS * 4, names, features, gold_tags=True)
    model.fit(batches.padded_batch(12), epochs=30, verbose=0)
    tagger = serving_tagger(model)
    base = tmp_path_factory.mktemp("exports") / "ner"
    path = export_tagger(features, tagger, names, str(base), max_tokens=64,
                         run_config={"epochs": 30})
    return path, names


def test_entities_are_found_and_spans_are_inside_the_input(exported):
    path, names = exported
    serve = tf.saved_model.load(path).signatures[SIGNATURE_KEY]
    texts = [as_bytes(text) for text in TEXTS]
    outputs = {name: value.numpy() for name, value in serve(text=tf.constant(texts)).items()}
    assert set(outputs) == set(TEXT_OUTPUTS)
    assert outputs["tokens"][0][:6].tolist() == [b"Angela", b"Merkel", b"visited", b"New",
                                                 b"York", b"."]
    first = [(outputs["entity_text"][0][k], outputs["entity_type"][0][k])
             for k in range(outputs["num_entities"][0])]
    assert first == [(b"Angela Merkel", b"PER"), (b"New York", b"LOC")]
    assert outputs["lengths"].tolist()[:3] == [6, 0, 0] and outputs["lengths"][3] == 64
    for row, text in enumerate(texts):
        length, count = outputs["lengths"][row], outputs["num_entities"][row]
        tags = [tag.decode() for tag in outputs["tags"][row][:length]]
        assert all(tag in names for tag in tags) and not any(outputs["tags"][row][length:])
        for start, end, token in zip(outputs["token_start"][row][:length],
                                     outputs["token_end"][row][:length],
                                     outputs["tokens"][row][:length]):
            assert 0 <= start < end <= len(text)
            if row != 5:  # (invalid bytes come back as U+FFFD in `tokens`)
                assert text[start:end] == token
        # The entities are the tags' entities (conlleval's chunking, as seqeval reads it).
        expected = [(kind, int(outputs["token_start"][row][first]),
                     int(outputs["token_end"][row][last])) for kind, first, last in
                    get_entities(tags)]
        found = [(outputs["entity_type"][row][k].decode(), outputs["entity_start"][row][k],
                  outputs["entity_end"][row][k]) for k in range(count)]
        assert found == expected
        for kind, start, end in found:
            assert 0 <= start < end <= len(text)
        assert [text[s:e] for _, s, e in found] == list(outputs["entity_text"][row][:count])
        assert not any(outputs["entity_type"][row][count:])


def test_tag_tokens_tags_pre_split_text_as_serving_default(exported):
    path, _ = exported
    loaded = tf.saved_model.load(path)
    served = loaded.signatures[SIGNATURE_KEY](text=tf.constant(["Bob Smith visited Paris .",
                                                                "Merkel"]))
    tokens = tf.constant([["Bob", "Smith", "visited", "Paris", "."],
                          ["Merkel", "", "", "", ""]])
    tagged = loaded.signatures[TOKENS_SIGNATURE_KEY](tokens=tokens, lengths=tf.constant([5, 1]))
    np.testing.assert_array_equal(tagged["tags"].numpy(), served["tags"].numpy())
    # lengths beyond the row are clipped; an empty batch row is all padding
    odd = loaded.signatures[TOKENS_SIGNATURE_KEY](
        tokens=tf.constant([["Bob"], [""]]), lengths=tf.constant([9, 0]))
    assert odd["tags"].shape == (2, 1) and odd["tags"].numpy()[1, 0] == b""


def test_every_op_is_servable_and_the_model_runs_without_nlpkit(exported, tmp_path):
    path, _ = exported
    op_types = saved_model_op_types(path)
    assert unservable_ops(op_types) == {}
    assert "RegexSplitWithOffsets" in op_types  # the splitting is in the graph
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
        tagged = loaded.signatures["tag_tokens"](tokens=tf.constant([["Bob", "Smith"]]),
                                                 lengths=tf.constant([2]))
        json.dump({{"tags": out["tags"].numpy().astype(str).tolist(),
                   "entity_end": out["entity_end"].numpy().tolist(),
                   "tag_tokens": tagged["tags"].numpy().astype(str).tolist()}},
                  open("out.json", "w"))
        assert "nlpkit" not in sys.modules
    """
    run_without_nlpkit(script, cwd=tmp_path)
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["tags"] == expected["tags"].numpy().astype(str).tolist()
    assert out["entity_end"] == expected["entity_end"].numpy().tolist()
    assert len(out["tag_tokens"][0]) == 2
    run_config = json.loads((pathlib.Path(path) / "assets.extra" / "run_config.json")
                            .read_text())
    assert run_config == {"epochs": 30}


def test_predict_requests_match_both_signatures(exported):
    path, _ = exported
    loaded = tf.saved_model.load(path)
    requests = {
        SIGNATURE_KEY: {"text": tf.make_tensor_proto(["Bob in Paris", ""], dtype=tf.string)},
        TOKENS_SIGNATURE_KEY: {
            "tokens": tf.make_tensor_proto([["Bob", "in"], ["Paris", ""]], dtype=tf.string),
            "lengths": tf.make_tensor_proto([2, 1], dtype=tf.int32)},
    }
    for key, inputs in requests.items():
        outputs = predict_through_wire(loaded, path, key, inputs)
        for name, value in outputs.items():
            assert value.shape[0] == 2


def test_saved_model_cli_lists_both_signatures_as_documented(exported):
    path, _ = exported
    assert_cli_shows_documented_block(path, "ner")
