"""nlpkit.tasks.generation.export: a real language-model SavedModel (a character model trained
without state, a word model trained with TBPTT): `step` driven unit by unit with TensorFlow alone
gives the probabilities `score` and the Keras model give; seeded sampling, greedy at a tiny
temperature, length limits, odd prompts and refused parameters; servable ops, PredictRequests
and `saved_model_cli`."""

import collections
import json
import pathlib
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlpkit.export import saved_model_op_types, unservable_ops
from nlpkit.tasks.generation import (
    INITIAL_STATE_SIGNATURE_KEY,
    MAX_GENERATED_UNITS,
    SCORE_SIGNATURE_KEY,
    SIGNATURE_KEY,
    START_UNITS,
    STEP_SIGNATURE_KEY,
    CarriedStateResets,
    LanguageModelOptions,
    UnitVocabulary,
    build_language_model,
    decode_units,
    evaluate_carried,
    export_language_model,
    language_model_archive,
    language_model_loss,
    reset_carried_states,
    start_id,
    stateful_copy,
    stream_examples,
    unit_cross_entropies,
)
from tests.export.serving_checks import (
    assert_cli_shows_documented_block,
    predict_through_wire,
)
from tests.layer_checks import run_without_nlpkit

TEXT = "the cat sat on the mat\nthe dog sat on the log\n" * 12
# Scored and stepped: unseen units ("ä", "zebra") included.
SCORED = {"char": "the cät sat on the mat\nthe dog", "word": "the cat sat on the zebra\nthe dog"}
PROMPTS = {"char": "the dog s", "word": "the dog sat"}
ODD_PROMPTS = ["", "é unseen ☃", "😀👍🏽", "\xff\xfe the", "the cat " * 300]

Exported = collections.namedtuple("Exported", "path vocabulary model loaded")


def as_bytes(text):
    return text.encode("latin-1") if text.startswith("\xff") else text.encode()


def python_text(text):
    """What the graph reads for `as_bytes(text)`: invalid bytes as U+FFFD."""
    return as_bytes(text).decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def char_export(tmp_path_factory):
    """A 2-layer LSTM over one-hot characters, trained without state on independent windows."""
    keras.utils.set_random_seed(0)
    vocabulary = UnitVocabulary.fit(TEXT, "char")
    ids = vocabulary.encode(TEXT)
    model = build_language_model(len(vocabulary), LanguageModelOptions(
        one_hot=True, num_layers=2, units=16, dropout=0.1))
    model.compile(optimizer=keras.optimizers.Adam(0.03), loss=language_model_loss())
    window = 24
    count = (len(ids) - 1) // window
    model.fit(ids[:count * window].reshape(count, window),
              ids[1:count * window + 1].reshape(count, window), batch_size=4, epochs=20,
              verbose=0)
    base = tmp_path_factory.mktemp("exports") / "generate"
    path = export_language_model(vocabulary, model, str(base), run_config={"unit": "char"})
    return Exported(path, vocabulary, model, tf.saved_model.load(path))


@pytest.fixture(scope="module")
def word_export(tmp_path_factory):
    """A GRU over tied word embeddings (with a projection), trained statefully (TBPTT)."""
    keras.utils.set_random_seed(1)
    vocabulary = UnitVocabulary.fit(TEXT, "word")
    ids = vocabulary.encode(TEXT)
    model = build_language_model(len(vocabulary), LanguageModelOptions(
        cell="gru", num_layers=1, units=16, embedding_dim=8, tie_embeddings=True, dropout=0.1),
        batch_size=4, stateful=True)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=language_model_loss())
    model.fit(stream_examples(ids, 4, 5).batch(4), epochs=30, verbose=0, shuffle=False,
              callbacks=[CarriedStateResets()])
    base = tmp_path_factory.mktemp("exports") / "words"
    path = export_language_model(vocabulary, model, str(base))
    return Exported(path, vocabulary, model, tf.saved_model.load(path))


@pytest.fixture(params=["char", "word"])
def exported(request):
    return request.getfixturevalue(f"{request.param}_export")


def generate(exported, prompts, *, length=20, temperature=1.0, top_k=0, top_p=1.0, seed=0):
    out = exported.loaded.signatures[SIGNATURE_KEY](
        prompt=tf.constant([as_bytes(p) if isinstance(p, str) else p for p in prompts]),
        length=tf.constant(length, tf.int32), temperature=tf.constant(temperature, tf.float32),
        top_k=tf.constant(top_k, tf.int32), top_p=tf.constant(top_p, tf.float32),
        seed=tf.constant(seed, tf.int64))
    return [text.decode() for text in out["text"].numpy()]


def generated_units(vocabulary, text):
    return len(text) if vocabulary.unit == "char" else len(re.findall(r"\n|[^ \n]+", text))


def read_ids(vocabulary, text, *, prompt):
    """The start unit, then the text's units (a word prompt without a final line break
    continues its last line: no `<eos>`)."""
    ids = vocabulary.encode(text).tolist()
    if prompt and vocabulary.unit == "word" and ids and not text.endswith("\n"):
        ids = ids[:-1]
    return [start_id(vocabulary)] + ids


def keras_greedy(model, ids, steps):
    """Argmax decoding with the Keras model itself, reading with carried state."""
    copy = stateful_copy(model, 1)
    reset_carried_states(copy)
    logits = np.asarray(copy(np.asarray([ids], "int32"), training=False))
    chosen = []
    for _ in range(steps):
        chosen.append(int(np.argmax(logits[0, -1])))
        logits = np.asarray(copy(np.asarray([[chosen[-1]]], "int32"), training=False))
    return chosen


def keras_nats(model, ids):
    """The Keras model's mean cross-entropy of ids[1:] given what precedes each."""
    if any(getattr(layer, "stateful", False) for layer in model.layers):
        return evaluate_carried(model, ids, batch_size=1, bptt=len(ids))["nats_per_unit"]
    logits = np.asarray(model(np.asarray([ids[:-1]], "int32"), training=False))
    return float(unit_cross_entropies(np.asarray(ids[1:]), logits[0]).mean())


def test_stepping_with_tensorflow_alone_gives_the_probabilities_of_score_and_the_model(
        char_export, word_export, tmp_path):
    jobs = [{"path": e.path, "unit": e.vocabulary.unit, "text": SCORED[e.vocabulary.unit],
             "prompt": PROMPTS[e.vocabulary.unit]} for e in (char_export, word_export)]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    # A streaming client: the units of the text as the docs define them, the start unit first,
    # one `step` call per unit, the states carried by the client.
    script = """
        import json, re, sys
        import numpy as np
        import tensorflow as tf
        results = []
        for job in json.load(open("jobs.json")):
            loaded = tf.saved_model.load(job["path"])
            text = job["text"]
            if job["unit"] == "char":
                start, units = "\\n", list(text)
            else:
                start, units = "<eos>", []
                lines = text.split("\\n")
                for line in lines[:-1] if lines[-1] == "" else lines:
                    units += [w for w in re.split(r"[ \\t\\r\\v\\f]+", line) if w] + ["<eos>"]
            first = loaded.signatures["initial_state"](batch_size=tf.constant(1))
            vocab = [u.decode() for u in first.pop("units").numpy()]
            unknown = vocab.index("[UNK]" if job["unit"] == "char" else "<unk>")
            states = first
            nats = []
            for fed, target in zip([start] + units[:-1], units):
                out = loaded.signatures["step"](tokens=tf.constant([fed]), **states)
                probabilities = out.pop("probabilities").numpy()[0]
                assert abs(probabilities.sum() - 1) < 1e-5
                nats.append(-np.log(probabilities[vocab.index(target) if target in vocab
                                                  else unknown]))
                states = out
            score = loaded.signatures["score"](text=tf.constant([text]))
            sample = loaded.signatures["serving_default"](
                prompt=tf.constant([job["prompt"]]), length=tf.constant(15),
                temperature=tf.constant(0.8), top_k=tf.constant(5), top_p=tf.constant(0.9),
                seed=tf.constant(11, tf.int64))
            results.append({"step_nats": float(np.mean(nats)), "steps": len(nats),
                            "score_nats": float(score["nats_per_unit"].numpy()[0]),
                            "score_units": int(score["units"].numpy()[0]),
                            "sample": sample["text"].numpy()[0].decode()})
        json.dump(results, open("out.json", "w"))
        assert "nlpkit" not in sys.modules
    """
    run_without_nlpkit(script, cwd=tmp_path)
    results = json.loads((tmp_path / "out.json").read_text())
    for exported, result in zip((char_export, word_export), results):
        vocabulary = exported.vocabulary
        text = SCORED[vocabulary.unit]
        ids = read_ids(vocabulary, text, prompt=False)
        assert result["steps"] == result["score_units"] == len(ids) - 1
        assert abs(result["step_nats"] - result["score_nats"]) < 1e-5
        assert abs(result["score_nats"] - keras_nats(exported.model, ids)) < 1e-5
        # The same sample as here, with nlpkit loaded.
        assert result["sample"] == generate(exported, [PROMPTS[vocabulary.unit]], length=15,
                                            temperature=0.8, top_k=5, top_p=0.9, seed=11)[0]


def test_score_reads_each_row_alone_and_counts_units(exported):
    score = exported.loaded.signatures[SCORE_SIGNATURE_KEY]
    texts = [SCORED[exported.vocabulary.unit], "", "the dog sat on the log\n", *ODD_PROMPTS]
    together = score(text=tf.constant([as_bytes(text) for text in texts]))
    nats, units = together["nats_per_unit"].numpy(), together["units"].numpy()
    assert np.all(np.isfinite(nats))
    assert units.tolist() == [len(exported.vocabulary.encode(python_text(t))) for t in texts]
    assert nats[1] == 0 and units[1] == 0
    assert nats[2] < 1.0  # trained: a line of the training text is far likelier than uniform
    for index in (0, 2, 4):
        alone = score(text=tf.constant([as_bytes(texts[index])]))
        np.testing.assert_allclose(alone["nats_per_unit"].numpy()[0], nats[index], atol=1e-5)


def test_sampling_is_seeded_greedy_at_a_tiny_temperature_and_bounded(exported):
    vocabulary, model = exported.vocabulary, exported.model
    prompts = [PROMPTS[vocabulary.unit], "", "the"]
    first = generate(exported, prompts, length=30, seed=5)
    assert generate(exported, prompts, length=30, seed=5) == first
    assert generate(exported, prompts, length=30, seed=6) != first
    assert all(generated_units(vocabulary, text) == 30 for text in first)
    # Temperature 1e-4 is the argmax of the Keras model at every step, whatever the seed.
    for prompt in prompts:
        greedy = keras_greedy(model, read_ids(vocabulary, prompt, prompt=True), 25)
        expected = vocabulary.decode(greedy)
        assert generate(exported, [prompt], length=25, temperature=1e-4, seed=9) == [expected]
    assert generate(exported, prompts, length=0) == ["", "", ""]
    assert generate(exported, prompts, length=-3) == ["", "", ""]
    capped = generate(exported, prompts[:1], length=10**6)[0]
    assert generated_units(vocabulary, capped) == MAX_GENERATED_UNITS


def test_odd_prompts_get_answers_and_bad_parameters_are_refused(exported):
    texts = generate(exported, ODD_PROMPTS + [b"\xc3"], length=12, top_k=3, top_p=0.8)
    assert all(generated_units(exported.vocabulary, text) == 12 for text in texts)
    for bad in ({"temperature": 0.0}, {"temperature": -1.0}, {"top_p": 0.0}, {"top_p": 1.5},
                {"top_k": -1}, {"temperature": 0.0, "length": 0}):
        with pytest.raises(tf.errors.InvalidArgumentError):
            generate(exported, ["the"], **{"length": 5, **bad})


def test_a_stateful_copy_exports_the_same_scores(char_export, tmp_path):
    # A stateful copy nests the model and carries states of batch 3: the export ignores both.
    archive = language_model_archive(char_export.vocabulary, stateful_copy(char_export.model, 3))
    archive.write_out(str(tmp_path / "copy"), verbose=False)
    texts = tf.constant(["the cat", "", "the dog sat on the log\n", "x", "ab"])
    expected = char_export.loaded.signatures[SCORE_SIGNATURE_KEY](text=texts)
    actual = tf.saved_model.load(str(tmp_path / "copy")).signatures[SCORE_SIGNATURE_KEY](
        text=texts)
    np.testing.assert_allclose(actual["nats_per_unit"].numpy(),
                               expected["nats_per_unit"].numpy(), atol=1e-6)


def test_decode_units_matches_unit_vocabulary_decode(char_export, word_export):
    rng = np.random.default_rng(0)
    for vocabulary in (char_export.vocabulary, word_export.vocabulary):
        rows = [rng.integers(0, len(vocabulary), size=n).tolist() for n in (0, 1, 7, 30, 30)]
        rows.append([3, 3, 4, 5, 3, 0, 2, 6, 3])  # line breaks, [PAD], [BOS] among units
        decoded = decode_units(vocabulary, tf.ragged.constant(rows, dtype=tf.int32))
        assert [text.decode() for text in decoded.numpy()] == [vocabulary.decode(row)
                                                               for row in rows]
    assert word_export.vocabulary.decode([3, 3, 4, 5, 3, 6]).count("\n") == 3


def test_every_op_is_servable_and_the_states_are_documented(char_export, word_export):
    for exported, states in ((char_export, 4), (word_export, 1)):
        op_types = saved_model_op_types(exported.path)
        assert unservable_ops(op_types) == {}
        assert "While" in op_types or "StatelessWhile" in op_types
        first = exported.loaded.signatures[INITIAL_STATE_SIGNATURE_KEY](
            batch_size=tf.constant(3))
        assert [u.decode() for u in first.pop("units").numpy()] == exported.vocabulary.units
        assert sorted(first) == [f"state_{index}" for index in range(states)]
        assert all(value.shape == (3, 16) and not np.any(value.numpy())
                   for value in first.values())
    run_config = json.loads((pathlib.Path(char_export.path) / "assets.extra" /
                             "run_config.json").read_text())
    assert run_config == {"unit": "char"}
    assert START_UNITS == {"char": "\n", "word": "<eos>"}


def test_predict_requests_match_every_signature(char_export):
    zeros = np.zeros((2, 16), np.float32)
    requests = {
        SIGNATURE_KEY: {
            "prompt": tf.make_tensor_proto(["the ", ""], dtype=tf.string),
            "length": tf.make_tensor_proto(8, dtype=tf.int32),
            "temperature": tf.make_tensor_proto(0.7, dtype=tf.float32),
            "top_k": tf.make_tensor_proto(0, dtype=tf.int32),
            "top_p": tf.make_tensor_proto(0.95, dtype=tf.float32),
            "seed": tf.make_tensor_proto(42, dtype=tf.int64)},
        INITIAL_STATE_SIGNATURE_KEY: {"batch_size": tf.make_tensor_proto(2, dtype=tf.int32)},
        STEP_SIGNATURE_KEY: {"tokens": tf.make_tensor_proto(["t", "\n"], dtype=tf.string),
                             **{f"state_{i}": tf.make_tensor_proto(zeros) for i in range(4)}},
        SCORE_SIGNATURE_KEY: {"text": tf.make_tensor_proto(["the cat", ""], dtype=tf.string)},
    }
    for key, inputs in requests.items():
        outputs = predict_through_wire(char_export.loaded, char_export.path, key, inputs)
        for name, value in outputs.items():
            vocabulary = key == INITIAL_STATE_SIGNATURE_KEY and name == "units"
            assert value.shape[0] == (len(char_export.vocabulary) if vocabulary else 2)


def test_saved_model_cli_lists_the_signatures_as_documented(char_export):
    assert_cli_shows_documented_block(char_export.path, "generate")
