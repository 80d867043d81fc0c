"""A tiny text classifier with known answers, and the TF Text preprocessing layer it exports with.

The preprocessing stands in for nlpkit.text: TF Text's whitespace tokenizer and case folding, then
a `tf.lookup` vocabulary, so the exported graph holds TF Text ops, a lookup table and Keras weights.
The model's weights are set by hand so that each vocabulary word votes for one class.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text

LABELS = ["negative", "positive"]
VOCABULARY = ["bad", "good"]  # ids 2 and 3; 0 pads, 1 is out of vocabulary
SEQUENCE_LENGTH = 8


class WhitespaceTokenIds(keras.layers.Layer):
    """Strings `[batch]` -> token ids `[batch, length]`: case-folded, split on whitespace."""

    def __init__(self, vocabulary, length, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = list(vocabulary)
        self.length = length
        self.tokenizer = tensorflow_text.WhitespaceTokenizer()
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.vocabulary),
                tf.range(2, len(self.vocabulary) + 2, dtype=tf.int64),
            ),
            default_value=1,
        )

    def call(self, text):
        tokens = self.tokenizer.tokenize(tensorflow_text.case_fold_utf8(text))
        ids = tf.ragged.map_flat_values(self.table.lookup, tokens)
        return ids.to_tensor(default_value=0, shape=[None, self.length])


def build_classifier():
    """Mean of one-hot word votes over all positions (padding votes for nothing) -> softmax."""
    model = keras.Sequential(
        [
            keras.Input((SEQUENCE_LENGTH,), dtype="int64"),
            keras.layers.Embedding(len(VOCABULARY) + 2, len(LABELS)),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(len(LABELS), activation="softmax"),
        ]
    )
    votes = np.zeros((len(VOCABULARY) + 2, len(LABELS)), "float32")
    votes[2, 0] = votes[3, 1] = 1.0  # "bad" votes negative, "good" positive
    model.layers[0].set_weights([votes])
    model.layers[2].set_weights([4.0 * np.eye(len(LABELS), dtype="float32"),
                                 np.zeros(len(LABELS), "float32")])
    return model


def predict_in_process(preprocessor, model, sentences):
    """What the exported signature must return, computed with the Python objects."""
    probabilities = keras.ops.convert_to_numpy(model(preprocessor(tf.constant(sentences))))
    best = probabilities.argmax(axis=-1)
    return probabilities, [LABELS[i] for i in best], probabilities.max(axis=-1)
