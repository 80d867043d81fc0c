"""nlpkit.tasks.tagging.model: every option builds, masks hold, the CRF decodes within its
scheme, training learns, and the serving tagger survives .keras save/load."""

import dataclasses

import keras
import numpy as np
import pytest

from nlpkit.cli import WordVectorOptions
from nlpkit.tasks.tagging.metrics import entity_scores
from nlpkit.tasks.tagging.model import (
    CharacterEncoder,
    TaggerOptions,
    build_tagger,
    padded_tag_crossentropy,
    serving_tagger,
    uses_crf,
)
from tests.layer_checks import assert_config_round_trip

TAGS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
SMALL = TaggerOptions(units=8, char_filters=6, char_units=3, char_embedding_dim=4,
                      embedding_dim=8, casing_dim=2)


def features(batch=3, time=5, chars=4, seed=0):
    rng = np.random.default_rng(seed)
    word_ids = rng.integers(1, 20, size=(batch, time)).astype("int32")
    word_ids[0, 3:] = 0  # a padded sentence
    char_ids = rng.integers(1, 10, size=(batch, time, chars)).astype("int32")
    char_ids[:, :, 3:] = 0
    char_ids[word_ids == 0] = 0
    casing = np.where(word_ids > 0, rng.integers(1, 8, size=(batch, time)), 0).astype("int32")
    return {"word_ids": word_ids, "char_ids": char_ids, "casing_ids": casing}


@pytest.mark.parametrize("changes", [
    {},
    {"char_encoder": "lstm", "decoder": "softmax"},
    {"char_encoder": "none", "casing": False, "cell": "gru", "num_layers": 2},
    {"cell": "peephole"},
])
def test_options_build_and_padding_changes_nothing(changes):
    options = dataclasses.replace(SMALL, **changes)
    model = build_tagger(20, 10, TAGS, options)
    assert uses_crf(model) == (options.decoder == "crf")
    tagger = serving_tagger(model)
    inputs = {name: value for name, value in features().items() if name in tagger.input}
    tags = np.asarray(tagger(inputs))
    assert tags.shape == (3, 5) and tags.dtype == np.int32
    alone = np.asarray(tagger({name: value[:1, :3] for name, value in inputs.items()}))
    np.testing.assert_array_equal(tags[0, :3], alone[0])


def test_character_encoder_shapes_zero_for_padded_words_and_config():
    for kind, width in (("cnn", 6), ("lstm", 6)):
        encoder = CharacterEncoder(10, kind, embedding_dim=4, filters=6, units=3)
        ids = features()["char_ids"]
        out = np.asarray(encoder(ids))
        assert out.shape == (3, 5, width)
        np.testing.assert_array_equal(out[0, 3:], 0.0)
        assert_config_round_trip(encoder)
    with pytest.raises(ValueError, match="'cnn' or 'lstm'"):
        CharacterEncoder(10, "gru")


def test_crf_decodes_only_what_the_scheme_allows():
    bioes = ["O", "B-PER", "E-PER", "I-PER", "S-PER"]
    for tag_names, scheme in ((TAGS, "iob2"), (bioes, "bioes")):
        model = build_tagger(20, 10, tag_names, SMALL, scheme=scheme)
        # Random emissions: turn the untrained CRF's transitions off and shake the output layer.
        emissions = model.get_layer("emissions")
        kernel, bias = emissions.get_weights()
        emissions.set_weights([np.random.default_rng(1).normal(0, 5, kernel.shape), bias])
        tags = np.asarray(serving_tagger(model)(features(batch=8, seed=2)))
        for row in tags:
            names = [tag_names[i] for i in row]
            for previous, tag in zip(["O"] + names, names):
                if tag.startswith("I-") and scheme == "iob2":
                    assert previous[2:] == tag[2:] and previous[:2] in ("B-", "I-"), names


@pytest.mark.parametrize("decoder", ["crf", "softmax"])
def test_training_learns_a_toy_task(decoder):
    options = dataclasses.replace(SMALL, decoder=decoder, dropout=0.0)
    model = build_tagger(20, 10, TAGS, options)
    x = features(batch=16, seed=3)
    # Word id w is a person's first name when w < 8, else outside.
    gold = np.where(x["word_ids"] < 8, 3, 0)
    labels = np.where(x["word_ids"] > 0, gold + 1, 0)
    if decoder == "crf":
        x["gold_tags"] = gold
    model.compile(optimizer=keras.optimizers.Adam(0.1),
                  loss=None if decoder == "crf" else padded_tag_crossentropy,
                  metrics=entity_scores(TAGS))
    history = model.fit(x, labels, epochs=8, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["f1"][-1] > 0.9


def test_serving_tagger_saves_and_loads(tmp_path):
    model = build_tagger(20, 10, TAGS, SMALL)
    path = str(tmp_path / "tagger.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    x = features()
    np.testing.assert_array_equal(np.asarray(serving_tagger(loaded)(x)),
                                  np.asarray(serving_tagger(model)(x)))


def test_pretrained_vectors_and_bad_options():
    from nlpkit.text import EmbeddingMatrix

    matrix = np.random.default_rng(0).normal(size=(20, 6)).astype("float32")
    vectors = EmbeddingMatrix(matrix=matrix, found=np.ones(20, bool), coverage=None,
                              path="v.txt", dimension=6, init_std=1.0, frozen_from=None)
    options = dataclasses.replace(SMALL, embedding_dim=None)
    model = build_tagger(20, 10, TAGS, options, vectors=vectors,
                         vector_options=WordVectorOptions(path="v.txt", trainable=False))
    assert model.get_layer("word_embedding").output_dim == 6
    with pytest.raises(ValueError, match="differs from the width"):
        build_tagger(20, 10, TAGS, SMALL, vectors=vectors)
    with pytest.raises(ValueError, match="decoder must be one of"):
        TaggerOptions(decoder="hmm")
    with pytest.raises(ValueError, match="num_layers"):
        TaggerOptions(num_layers=0)


@pytest.fixture(scope="module")
def token_module_handle(tmp_path_factory):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("Hub modules need the TensorFlow backend")
    from tests.export.tiny_token_module import export_tiny_token_module

    return export_tiny_token_module(tmp_path_factory.mktemp("hub") / "tiny")


@pytest.mark.parametrize("combine", ["concat", "replace"])
def test_a_per_token_module_goes_next_to_or_instead_of_the_word_embedding(token_module_handle,
                                                                         combine):
    from tests.export.tiny_token_module import WORDS

    options = dataclasses.replace(SMALL, char_encoder="none", casing=False,
                                  hub_encoder=token_module_handle, hub_combine=combine)
    model = build_tagger(20, 10, TAGS, options)
    inputs = {name: value for name, value in model.input.items() if name != "gold_tags"}
    emissions = keras.Model(inputs, model.get_layer("emissions").output)
    given = features()
    given = {"word_ids": given["word_ids"],
             "tokens": np.where(given["word_ids"] > 0,
                                np.array(WORDS, dtype=object)[given["word_ids"] % len(WORDS)],
                                "").astype(object)}
    scores = np.asarray(emissions(given))
    # Other word ids change the scores only where the word embedding is still used.
    other_ids = np.where(given["word_ids"] > 0, 20 - given["word_ids"], 0).astype("int32")
    changed = np.abs(np.asarray(emissions({**given, "word_ids": other_ids})) - scores).max()
    assert (changed > 1e-4) == (combine == "concat")
    # The module reads the words: other words, other scores in both modes.
    shifted = np.where(given["word_ids"] > 0, np.roll(given["tokens"], 1, axis=1), "")
    assert np.abs(np.asarray(emissions({**given, "tokens": shifted.astype(object)}))
                  - scores).max() > 1e-4
    # Padding changes nothing: the padded sentence's first three words alone.
    alone = np.asarray(emissions({name: value[:1, :3] for name, value in given.items()}))
    np.testing.assert_allclose(scores[0, :3], alone[0], atol=1e-5)
