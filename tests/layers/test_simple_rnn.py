"""SimpleRNNCell / SimpleRNN: weights copy from Keras' own SimpleRNN; no gate arguments."""

import keras
import numpy as np

from nlpkit.layers import SimpleRNN, SimpleRNNCell


def test_weights_copy_from_keras_simple_rnn():
    theirs = keras.layers.SimpleRNN(5, return_sequences=True, return_state=True)
    ours = SimpleRNN(5, return_sequences=True, return_state=True)
    x = np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")
    theirs(x), ours(x)
    ours.set_weights(theirs.get_weights())
    mask = np.arange(6)[None, :] < np.array([[6], [3], [1]])
    for expected, actual in zip(theirs(x, mask=mask), ours(x, mask=mask)):
        np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=1e-5)


def test_simple_rnn_has_no_recurrent_activation():
    cell = SimpleRNNCell(4, activation="relu")
    config = cell.get_config()
    assert "recurrent_activation" not in config and config["activation"] == "relu"
    assert SimpleRNNCell.from_config(config).get_config() == config
