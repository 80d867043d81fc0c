"""The training set is shuffled in full: batches are fair samples whatever order the reader gives.

Folder datasets come out of the reader sorted by class (all of `neg/`, then all of `pos/`). With a
shuffle buffer smaller than the dataset (the old 10,000 examples for IMDB's 22,500), the first
batches of every epoch were nearly all one class; the whole set is now one shuffle buffer.
"""

import keras
import numpy as np
import tensorflow as tf

from nlpkit.training import TrainingConfig, batch_examples, train
from tests.training.test_steps import BatchLog

COUNT, BATCH = 1000, 32


def class_sorted_examples():
    """1000 examples, the first 500 of class 0; features: [class, position]."""
    labels = np.repeat(np.array([0, 1], "int32"), COUNT // 2)
    features = np.stack([labels, np.arange(COUNT, dtype="int32")], axis=1)
    return tf.data.Dataset.from_tensor_slices((features, labels))


def class_one_shares(batches, count=5):
    return [float(np.mean(labels)) for _, labels in batches.take(count)]


def test_the_first_batches_of_class_sorted_data_mix_both_classes():
    for seed in (0, 1, 2):
        shares = class_one_shares(batch_examples(class_sorted_examples(), BATCH, shuffle=True,
                                                 seed=seed))
        assert all(0.25 <= share <= 0.75 for share in shares), (seed, shares)
    # What a buffer smaller than the data did: the first batch is all of the first class.
    small = batch_examples(class_sorted_examples(), BATCH, shuffle=True, seed=0,
                           shuffle_buffer=100)
    assert class_one_shares(small, 1) == [0.0]


def test_the_full_shuffle_is_a_permutation_fixed_by_the_seed():
    def order(seed):
        return np.concatenate([features[:, 1] for features, _ in batch_examples(
            class_sorted_examples(), BATCH, shuffle=True, seed=seed)])

    first = order(7)
    np.testing.assert_array_equal(np.sort(first), np.arange(COUNT))
    np.testing.assert_array_equal(order(7), first)
    assert not np.array_equal(order(8), first)
    # The second half of the data is as likely anywhere: it is not pushed to the end.
    assert abs(np.mean(np.flatnonzero(first >= COUNT // 2)) - COUNT / 2) < 60


def test_train_feeds_fair_batches_from_class_sorted_data(tmp_path):
    seen = []

    def build():
        return keras.Sequential([keras.Input((2,), dtype="int32"), BatchLog(seen),
                                 keras.layers.Embedding(COUNT, 4),
                                 keras.layers.GlobalAveragePooling1D(),
                                 keras.layers.Dense(2, activation="softmax")])

    config = TrainingConfig(epochs=2, batch_size=BATCH, seed=5, run_dir=str(tmp_path / "run"),
                            monitor=None, verbose=0)
    train(build, class_sorted_examples(), config, loss="sparse_categorical_crossentropy")
    per_epoch = -(-COUNT // BATCH)
    assert len(seen) == 2 * per_epoch
    for epoch in range(2):
        first = seen[epoch * per_epoch: epoch * per_epoch + 5]
        shares = [float(np.mean(batch[:, 0])) for batch in first]
        assert all(0.25 <= share <= 0.75 for share in shares), (epoch, shares)
    # Each epoch sees every example once, in its own order.
    epochs = [np.concatenate([b[:, 1] for b in seen[e * per_epoch:(e + 1) * per_epoch]])
              for e in range(2)]
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(COUNT))
    assert not np.array_equal(epochs[0], epochs[1])


def test_train_without_shuffle_feeds_the_examples_in_their_own_order_every_epoch(tmp_path):
    # What truncated backpropagation through time needs: batch k+1 continues batch k.
    seen = []

    def build():
        return keras.Sequential([keras.Input((2,), dtype="int32"), BatchLog(seen),
                                 keras.layers.Embedding(COUNT, 4),
                                 keras.layers.GlobalAveragePooling1D(),
                                 keras.layers.Dense(2, activation="softmax")])

    config = TrainingConfig(epochs=2, batch_size=BATCH, seed=5, shuffle=False,
                            run_dir=str(tmp_path / "run"), monitor=None, verbose=0)
    train(build, class_sorted_examples(), config, loss="sparse_categorical_crossentropy")
    per_epoch = -(-COUNT // BATCH)
    assert len(seen) == 2 * per_epoch
    for epoch in range(2):
        batches = seen[epoch * per_epoch:(epoch + 1) * per_epoch]
        np.testing.assert_array_equal(np.concatenate([b[:, 1] for b in batches]),
                                      np.arange(COUNT))
