"""build_classifier: every encoder builds, trains a step, masks padding, and saves."""

import keras
import numpy as np
import pytest

from nlpkit.classifier import CELLS, POOLINGS, adapt_classifier, build_classifier
from tests import layer_checks

TOKEN_IDS = np.array([[5, 6, 7, 8, 2, 0, 0, 0], [9, 3, 4, 1, 5, 6, 7, 2]], "int32")


def small(encoder, **kwargs):
    return build_classifier(
        vocab_size=12, num_classes=3, encoder=encoder, embedding_dim=6, units=4, filters=3,
        dropout=0.0, **kwargs
    )


CONFIGURATIONS = (
    [("bow", {"bow_mode": mode}) for mode in ("multi_hot", "count", "tf_idf")]
    + [("boe", {}), ("cnn", {})]
    + [("rnn", {"cell": cell}) for cell in CELLS]
    + [("rnn", {"cell": "gru", "pooling": pooling}) for pooling in POOLINGS]
    + [("rnn", {"cell": "lstm", "bidirectional": False, "num_layers": 2, "pooling": "mean"})]
)


@pytest.mark.parametrize("encoder, kwargs", CONFIGURATIONS)
def test_probabilities_ignore_padding(encoder, kwargs):
    model = small(encoder, **kwargs)
    adapt_classifier(model, TOKEN_IDS)
    probabilities = keras.ops.convert_to_numpy(model(TOKEN_IDS))
    assert probabilities.shape == (2, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # the first text alone, without its padding, gets the same probabilities
    alone = keras.ops.convert_to_numpy(model(TOKEN_IDS[:1, :5]))
    np.testing.assert_allclose(probabilities[0], alone[0], atol=1e-5)


@pytest.mark.parametrize("encoder, kwargs", [("cnn", {}), ("rnn", {"cell": "gru"})])
def test_a_few_steps_of_training_lower_the_loss(encoder, kwargs):
    model = small(encoder, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    labels = np.array([0, 2])
    first = model.evaluate(TOKEN_IDS, labels, verbose=0)
    model.fit(TOKEN_IDS, labels, epochs=10, verbose=0)
    assert model.evaluate(TOKEN_IDS, labels, verbose=0) < first


def test_rnn_classifier_saves_and_loads(tmp_path):
    model = small("rnn", cell="peephole", pooling="mean_max")
    layer_checks.assert_model_saves_and_loads(model, TOKEN_IDS, tmp_path)


def test_unknown_choices_are_clear_errors():
    with pytest.raises(ValueError, match="encoder must be one of"):
        small("transformer")
    with pytest.raises(ValueError, match="cell must be one of"):
        small("rnn", cell="mgu")
    with pytest.raises(ValueError, match="pooling must be one of"):
        small("rnn", pooling="attention")
