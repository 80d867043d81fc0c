"""PeepholeLSTMCell: its extra weights, and that it reduces to LSTMCell with zero peepholes."""

import numpy as np

from nlpkit.layers import LSTM, PeepholeLSTM, PeepholeLSTMCell


def test_peephole_weights_are_named_diagonal_vectors():
    cell = PeepholeLSTMCell(5)
    cell.build((None, 3))
    shapes = {w.path.split("/")[-1]: tuple(w.shape) for w in cell.weights}
    assert shapes == {
        "kernel": (3, 20),
        "recurrent_kernel": (5, 20),
        "bias": (20,),
        "peephole_i": (5,),
        "peephole_f": (5,),
        "peephole_o": (5,),
    }


def test_zero_peepholes_give_the_plain_lstm():
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype("float32")
    lstm, peephole = LSTM(5, return_sequences=True), PeepholeLSTM(5, return_sequences=True)
    lstm(x), peephole(x)
    peephole.set_weights(lstm.get_weights() + [np.zeros(5)] * 3)
    np.testing.assert_allclose(np.asarray(peephole(x)), np.asarray(lstm(x)), atol=1e-6)
    # and nonzero peepholes change the result, so they are wired in
    peephole.set_weights(lstm.get_weights() + [np.full(5, 0.5)] * 3)
    assert np.abs(np.asarray(peephole(x)) - np.asarray(lstm(x))).max() > 1e-3


def test_peephole_cell_is_an_lstm_cell_subclass():
    from nlpkit.layers import LSTMCell

    assert issubclass(PeepholeLSTMCell, LSTMCell)
    assert "peephole_initializer" in PeepholeLSTM(4).get_config()
