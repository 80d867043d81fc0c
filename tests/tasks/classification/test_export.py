"""nlpkit.tasks.classification.export: a real SavedModel with raw text in and named predictions out."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlpkit.export import RUN_CONFIG_PATH
from nlpkit.tasks.classification.export import LabelLookup, check_labels, export_classifier
from tests.export.tiny_classifier import (
    LABELS,
    SEQUENCE_LENGTH,
    VOCABULARY,
    WhitespaceTokenIds,
    build_classifier,
    predict_in_process,
)
from tests.layer_checks import run_without_nlpkit

# Empty, case, emoji, other scripts, a 100,000-character sentence.
SENTENCES = [
    "good good",
    "BAD",
    "",
    "bad good good",
    "🙂 ünïcödé 好 ☃",
    "Очень good",
    "good " * 20_000,
]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = tmp_path_factory.mktemp("exports") / "sentiment"
    preprocessor = WhitespaceTokenIds(VOCABULARY, SEQUENCE_LENGTH)
    model = build_classifier()
    path = export_classifier(preprocessor, model, LABELS, str(base), run_config={"epochs": 1})
    return path, preprocessor, model


def test_export_layout_with_labels_asset_and_run_config(exported, tmp_path):
    path, preprocessor, model = exported
    assert os.path.basename(path) == "1"
    assert (
        open(os.path.join(path, "assets", "labels.txt"), encoding="utf-8").read()
        == "negative\npositive\n"
    )
    assert json.load(open(os.path.join(path, RUN_CONFIG_PATH))) == {"epochs": 1}
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    second = export_classifier(preprocessor, model, LABELS, os.path.dirname(path))
    assert os.path.basename(second) == "2"
    assert not os.path.exists(os.path.join(second, RUN_CONFIG_PATH))


def test_signature_runs_with_only_tensorflow_and_tf_text(exported, tmp_path):
    path, preprocessor, model = exported
    expected_probabilities, expected_labels, expected_scores = predict_in_process(
        preprocessor, model, SENTENCES
    )
    # The hand-set weights give known answers; the empty sentence is a tie (first class wins).
    assert expected_labels[:4] == ["positive", "negative", "negative", "positive"]
    assert expected_labels[-1] == "positive"
    (tmp_path / "sentences.json").write_text(json.dumps(SENTENCES))
    script = f"""
        import json
        import numpy as np
        import tensorflow as tf
        import tensorflow_text  # registers TF Text's ops, as TensorFlow Serving does
        serve = tf.saved_model.load({path!r}).signatures["serving_default"]
        sentences = json.load(open("sentences.json"))
        outputs = serve(text=tf.constant(sentences))
        np.save("probabilities.npy", outputs["probabilities"].numpy())
        np.save("scores.npy", outputs["score"].numpy())
        json.dump([label.decode() for label in outputs["label"].numpy()], open("labels.json", "w"))
        print(sorted(outputs), outputs["probabilities"].dtype.name, outputs["score"].dtype.name)
        assert "nlpkit" not in sys.modules
    """
    stdout = run_without_nlpkit(script, cwd=tmp_path)
    assert stdout.split("\n")[-2] == "['label', 'probabilities', 'score'] float32 float32"
    probabilities = np.load(tmp_path / "probabilities.npy")
    assert probabilities.shape == (len(SENTENCES), len(LABELS))
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities, expected_probabilities, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "scores.npy"), expected_scores, atol=1e-6)
    assert json.loads((tmp_path / "labels.json").read_text()) == expected_labels


def test_wrong_label_count_fails_during_export_and_leaves_earlier_versions(tmp_path):
    base = tmp_path / "sentiment"
    preprocessor, model = WhitespaceTokenIds(VOCABULARY, SEQUENCE_LENGTH), build_classifier()
    export_classifier(preprocessor, model, LABELS, str(base))
    with pytest.raises(ValueError, match=r"expected \[batch, 3\]"):
        export_classifier(preprocessor, model, LABELS + ["neutral"], str(base))
    assert sorted(os.listdir(base)) == ["1"]


def test_logits_are_turned_into_probabilities(tmp_path):
    preprocessor = WhitespaceTokenIds(VOCABULARY, SEQUENCE_LENGTH)
    model = build_classifier()
    model.layers[-1].activation = keras.activations.linear  # the same model, giving logits
    logits = keras.ops.convert_to_numpy(model(preprocessor(tf.constant(["good", "bad bad"]))))
    path = export_classifier(preprocessor, model, LABELS, str(tmp_path), from_logits=True)
    outputs = tf.saved_model.load(path).signatures["serving_default"](
        text=tf.constant(["good", "bad bad"])
    )
    expected = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-6)
    assert [label.decode() for label in outputs["label"].numpy()] == ["positive", "negative"]


def test_label_lookup_reads_utf8_names_by_line_number(tmp_path):
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("très négatif\nneutre\n好\n", encoding="utf-8")
    lookup = LabelLookup(str(labels_file))
    names = lookup.table.lookup(tf.constant([2, 0, 1, 7], tf.int64)).numpy()
    assert [name.decode("utf-8") for name in names] == ["好", "très négatif", "neutre", ""]


@pytest.mark.parametrize(
    "labels, message",
    [
        ([], "at least one label"),
        (["pos", ""], "label 1"),
        (["pos", "neg\nx"], "line breaks"),
        (["pos", "neg", "pos"], "repeated"),
        (["pos", 3], "label 1"),
    ],
)
def test_bad_labels_are_refused_before_anything_is_written(labels, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        check_labels(labels)
    with pytest.raises(ValueError, match=message):
        export_classifier(None, build_classifier(), labels, str(tmp_path / "m"))
    assert not (tmp_path / "m").exists()


# A model that starts at text (a TF Hub encoder) is exported without a preprocessor.

@pytest.fixture(scope="module")
def hub_classifier(tmp_path_factory):
    from nlpkit.tasks.classification.model import ClassifierOptions, build_classifier
    from tests.layers.test_hub_layer import save_tf2_text_module

    handle = save_tf2_text_module(str(tmp_path_factory.mktemp("hub") / "text"))
    keras.utils.set_random_seed(1)
    return build_classifier(None, len(LABELS), ClassifierOptions(
        encoder="hub", hub_encoder=handle, hub_trainable=True))


def test_a_hub_classifier_serves_text_with_the_same_signature(hub_classifier, tmp_path):
    from nlpkit.export import saved_model_op_types, signature_def, unservable_ops

    path = export_classifier(None, hub_classifier, LABELS, str(tmp_path / "hub"))
    problems = unservable_ops(saved_model_op_types(path))
    assert problems == {}, problems
    signature = signature_def(path)
    assert list(signature.inputs) == ["text"] and sorted(signature.outputs) == [
        "label", "probabilities", "score"]
    sentences = ["good movie", "bad bad movie", "", "Очень good 🙂"]
    outputs = tf.saved_model.load(path).signatures["serving_default"](
        text=tf.constant(sentences))
    expected = keras.ops.convert_to_numpy(hub_classifier(tf.constant(sentences)))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(outputs["score"].numpy(), expected.max(axis=1), atol=1e-6)
    assert [label.decode() for label in outputs["label"].numpy()] == [
        LABELS[index] for index in expected.argmax(axis=1)]


def test_a_model_on_token_ids_needs_its_preprocessor(tmp_path):
    with pytest.raises(ValueError, match="without a preprocessor the model must take the raw"):
        export_classifier(None, build_classifier(), LABELS, str(tmp_path / "m"))
    assert not (tmp_path / "m").exists()
