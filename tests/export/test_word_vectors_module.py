"""The word-vectors -> Hub text-embedding module command, on vectors files the tests write (and
on the shared GloVe file cut to its first 2,000 words, when ../shared/datasets is there)."""

import gzip
import json

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_hub as hub

from nlpkit.data import shared_datasets_dir
from nlpkit.export import RUN_CONFIG_PATH, saved_model_op_types, signature_def, unservable_ops
from nlpkit.export.word_vectors_module import (
    export_word_vectors_module,
    main,
    word_vectors_encoder,
)
from nlpkit.layers import HubLayer

# File order is frequency order: "Good" comes before "good", so lower-cased text gets its vector;
# "u.s." is three unicode_script tokens and can never be looked up.
VECTORS = {
    "the": [0.1, 0.2, 0.3],
    ",": [0.0, 0.0, 1.0],
    "Good": [1.0, 0.0, 0.0],
    "good": [0.5, 0.5, 0.5],
    "movie": [0.0, 1.0, 0.0],
    "u.s.": [1.0, 1.0, 1.0],
    "film": [0.0, 0.5, 0.0],
}
KEPT = {"the": VECTORS["the"], ",": VECTORS[","], "good": VECTORS["Good"],
        "movie": VECTORS["movie"], "film": VECTORS["film"]}
UNKNOWN = np.mean(list(KEPT.values()), axis=0)
SENTENCES = ["The good movie!", "GOOD", "", "   ", "zzz qqq", "film , film"]


def write_vectors(path, vectors=VECTORS, compress=False):
    text = "".join(f"{word} {' '.join(map(str, vector))}\n" for word, vector in vectors.items())
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as file:
            file.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def reference(sentence, table=KEPT, unknown=UNKNOWN, lowercase=True):
    """Mean of the words' vectors, [UNK] for unknown words; "!" is a word, like unicode_script
    splits it; zeros without words."""
    tokens = sentence.replace("!", " ! ").split()
    if lowercase:
        tokens = [token.lower() for token in tokens]
    if not tokens:
        return np.zeros(len(unknown), "float32")
    return np.mean([table.get(token, unknown) for token in tokens], axis=0)


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    base = tmp_path_factory.mktemp("word_vectors")
    vectors = write_vectors(base / "vectors.txt.gz", compress=True)
    handle, summary = export_word_vectors_module(vectors, str(base / "glove-tiny"))
    return {"handle": handle, "summary": summary}


def test_the_module_averages_word_vectors_with_an_unknown_row(module):
    embed = hub.load(module["handle"])
    expected = np.stack([reference(sentence) for sentence in SENTENCES])
    np.testing.assert_allclose(embed(tf.constant(SENTENCES)).numpy(), expected, atol=1e-6)
    # One trainable variable, the matrix: [PAD], [UNK], [BOS], [EOS] and the kept words.
    [matrix] = embed.trainable_variables
    assert matrix.shape == (4 + len(KEPT), 3)
    np.testing.assert_allclose(matrix.numpy()[1], UNKNOWN, atol=1e-6)
    assert module["summary"] == {
        "vectors": module["summary"]["vectors"], "dimension": 3, "words_read": len(VECTORS),
        "words_kept": len(KEPT), "words_dropped": 2, "lowercase": True,
        "split": "unicode_script", "max_length": None, "unknown_row": "mean of the kept vectors",
    }
    with open(f"{module['handle']}/{RUN_CONFIG_PATH}", encoding="utf-8") as file:
        assert json.load(file) == module["summary"]


def test_the_module_serves_and_fine_tunes(module):
    assert list(signature_def(module["handle"]).outputs) == ["default"]
    assert unservable_ops(saved_model_op_types(module["handle"])) == {}
    layer = HubLayer(module["handle"], trainable=True)
    assert [weight.shape for weight in layer.trainable_weights] == [(4 + len(KEPT), 3)]
    np.testing.assert_allclose(
        layer(tf.constant(SENTENCES[:2])).numpy(),
        np.stack([reference(sentence) for sentence in SENTENCES[:2]]), atol=1e-6,
    )


def test_case_split_and_size_options(tmp_path):
    path = write_vectors(tmp_path / "vectors.txt")

    def embed(sentences, **options):
        tokenizer, encoder, summary = word_vectors_encoder(path, **options)
        return encoder(tokenizer(tf.constant(sentences))).numpy(), summary

    # Cased: "Good" and "good" are two words, and "GOOD" is unknown.
    cased = {word: vector for word, vector in VECTORS.items() if word != "u.s."}
    unknown = np.mean(list(cased.values()), axis=0)
    actual, summary = embed(["Good good GOOD"], lowercase=False)
    np.testing.assert_allclose(actual[0], np.mean([cased["Good"], cased["good"], unknown], axis=0),
                               atol=1e-6)
    assert summary["words_kept"] == len(cased)
    # Whitespace split: "u.s." is a word, and "movie!" is unknown.
    actual, summary = embed(["u.s. movie!"], split="whitespace")
    whitespace = dict(KEPT, **{"u.s.": VECTORS["u.s."]})
    unknown = np.mean(list(whitespace.values()), axis=0)
    np.testing.assert_allclose(actual[0], np.mean([VECTORS["u.s."], unknown], axis=0), atol=1e-6)
    # The first 3 words only; at most 2 words of a string.
    actual, summary = embed(["the , movie"], max_words=3, max_length=2)
    assert (summary["words_read"], summary["words_kept"]) == (3, 3)
    np.testing.assert_allclose(actual[0], np.mean([VECTORS["the"], VECTORS[","]], axis=0),
                               atol=1e-6)
    with pytest.raises(ValueError, match="split must be one of"):
        word_vectors_encoder(path, split="bpe")


def test_the_command_writes_versions_and_refuses_bad_files(tmp_path, capsys):
    path = write_vectors(tmp_path / "vectors.txt", {"good": [1.0, 2.0], "bad": [3.0, 4.0]})
    base = str(tmp_path / "module")
    assert main([path, base, "--max-words", "1"]) == 0
    assert "module/1: 1 words of 1 (2 dimensions)" in capsys.readouterr().out
    embed = hub.load(f"{base}/1")
    np.testing.assert_allclose(embed(tf.constant(["good bad"])).numpy(), [[1.0, 2.0]], atol=1e-6)

    (tmp_path / "ragged.txt").write_text("good 1 2\nbad 3\n", encoding="utf-8")
    for argv, message in [
        ([str(tmp_path / "ragged.txt"), base], "ragged.txt, line 2: expected"),
        ([str(tmp_path / "missing.txt"), base], "missing.txt"),
        ([path, base, "--version", "1"], "already exists"),
        ([str(tmp_path / "vectors.txt"), base, "--max-words", "0"], "must be at least 1"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err


GLOVE = None if shared_datasets_dir() is None else (
    shared_datasets_dir() / "embeddings" / "glove.6B.50d" / "vectors.txt.gz"
)


@pytest.mark.datasets
@pytest.mark.skipif(GLOVE is None or not GLOVE.exists(), reason="the shared GloVe file is absent")
def test_glove_cut_to_its_first_2000_words(tmp_path):
    handle, summary = export_word_vectors_module(str(GLOVE), str(tmp_path / "glove"),
                                                 max_words=2000)
    assert summary["dimension"] == 50 and 1900 <= summary["words_kept"] <= 2000
    embed = hub.load(handle)
    [vectors] = embed(tf.constant(["the"])).numpy()
    matrix = embed.trainable_variables[0].numpy()
    np.testing.assert_allclose(vectors, matrix[4], atol=1e-6)  # "the" is GloVe's first word
    similar = embed(tf.constant(["good film", "great movie", "the government said"])).numpy()
    cosine = similar @ similar.T / np.outer(*(2 * [np.linalg.norm(similar, axis=1)]))
    assert cosine[0, 1] > cosine[0, 2]
