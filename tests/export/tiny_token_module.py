"""A tiny per-token Hub module for tests: words -> an embedding (`word_emb`) and a BiLSTM over it
(`lstm_outputs1`), written by `export_text_encoder(..., per_token=True)`.

Hand-built (not pretrained) so that the tests of the modules' consumers (the NER and sentiment
recipes' `--hub-encoder`) stay fast; the pretraining recipe's own export is tested with its model.
"""

import keras
import tensorflow as tf

from nlpkit.export.text_encoder import export_text_encoder
from nlpkit.layers import LSTM, token_module
from nlpkit.text import WordSplitter

WORDS = ["the", "a", "cat", "dog", "sat", "ran", "on", "mat", "good", "bad", "film", "Paris",
         "Anna", "visited", "."]
DIM = 8


class TinyTokenEncoder(keras.layers.Layer):
    """`{"tokens", "sequence_len"}` -> `{"word_emb", "lstm_outputs1"}`, each `(batch, time, 8)`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.lookup = keras.layers.StringLookup(vocabulary=WORDS, name="lookup")
        self.embedding = keras.layers.Embedding(len(WORDS) + 1, DIM, name="embedding")
        self.bilstm = keras.layers.Bidirectional(LSTM(DIM // 2, return_sequences=True),
                                                 name="bilstm")

    def call(self, features, training=False):
        tokens = features[token_module.TOKENS]
        mask = tf.sequence_mask(features[token_module.SEQUENCE_LENGTH], tf.shape(tokens)[1])
        embedded = self.embedding(self.lookup(tokens))
        return {token_module.WORD_EMBEDDING: embedded,
                f"{token_module.LAYER_PREFIX}1": self.bilstm(embedded, mask=mask,
                                                             training=training)}


def export_tiny_token_module(export_base, seed=0):
    """Writes the module as `<export_base>/1`; returns the handle."""
    keras.utils.set_random_seed(seed)
    return export_text_encoder(WordSplitter(), TinyTokenEncoder(), str(export_base),
                               per_token=True)
