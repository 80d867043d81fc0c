"""Turning unbatched `(features, label)` examples into the global batches `train` feeds.

The pipeline itself (shuffle, padded batching, prefetch) is `nlpkit.data.make_pipeline`; this
module adds what training needs on top of it: a shuffle over the *whole* training set (so that
every batch is a fair sample whatever order the reader returns, e.g. folders sorted by class),
DATA auto-sharding, a seed whenever examples are shuffled, and a fingerprint of the examples
that the backups record (`nlpkit.training.loop`).
"""

import random

import numpy as np
import tensorflow as tf

from nlpkit.data.pipeline import make_pipeline

_DIGEST_MODULUS = 2**62


def count_examples(dataset, what="training dataset"):
    """Number of examples in a finite dataset (iterates it once if tf.data cannot tell).

    Raises:
        ValueError: the dataset (called `what` in the message) is infinite.
    """
    count = int(dataset.cardinality())
    if count == tf.data.INFINITE_CARDINALITY:
        raise ValueError(f"the {what} is infinite; train() needs a finite dataset")
    if count == tf.data.UNKNOWN_CARDINALITY:
        count = int(dataset.reduce(np.int64(0), lambda total, _: total + 1))
    return count


def examples_fingerprint(dataset, what="training dataset"):
    """`(number of examples, digest)` of a finite dataset, in one pass.

    The digest is a 62-bit hash of every example's values and position: two datasets with the
    same examples in the same order have the same digest, and almost surely no others. Backups
    record it so that a run resumed on other data (another file, `--max-length`, split, ...) is
    noticed.

    Raises:
        ValueError: the dataset is infinite.
    """
    if int(dataset.cardinality()) == tf.data.INFINITE_CARDINALITY:
        raise ValueError(f"the {what} is infinite; train() needs a finite dataset")

    def fold(state, example):
        count, digest = state
        components = tf.nest.flatten(example, expand_composites=True)
        parts = [tf.io.serialize_tensor(part) for part in [count, *components]]
        hashed = tf.strings.to_hash_bucket_fast(tf.strings.reduce_join(parts), _DIGEST_MODULUS)
        return count + 1, tf.math.floormod(digest + hashed, _DIGEST_MODULUS)

    count, digest = dataset.reduce((np.int64(0), np.int64(0)), fold)
    return int(count), int(digest)


def batch_examples(dataset, global_batch_size, *, shuffle=False, seed=None, shuffle_buffer=None):
    """Shuffles (optionally) and pads unbatched `(features, label)` examples into global batches.

    With `shuffle`, the default buffer holds the whole dataset, so every iteration is a uniform
    random permutation of all examples (seeded): the first batches are as mixed as the last,
    even when the source lists its examples sorted (by class, by length, ...). The examples
    must then fit in memory, as they do when the dataset is cached in memory; a smaller
    `shuffle_buffer` only mixes examples that are at most that far apart in the source.

    Auto-sharding is set to DATA so that, under multi-worker training, each worker takes its own
    share of every global batch whatever the source of the dataset (files or memory). That needs
    every worker to shuffle alike, i.e. with the same `seed`.

    Args:
        dataset: unbatched examples.
        global_batch_size: examples per batch, over all replicas.
        shuffle: shuffle the examples (in a new order every time the dataset is iterated).
        seed: shuffling seed; `None` with `shuffle` draws one (see below).
        shuffle_buffer: size of the shuffle buffer; `None`: the number of examples (counted
            with one pass over `dataset` when tf.data cannot tell), i.e. a full shuffle.
    """
    if shuffle and seed is None:
        # make_pipeline insists on a seed so that runs are reproducible; a run that asked for no
        # seed gets a fresh one, drawn once here from the OS's entropy (no global random state
        # is read or changed).
        seed = random.SystemRandom().randrange(2**31)
    if shuffle and shuffle_buffer is None:
        shuffle_buffer = max(1, count_examples(dataset))
    batches = make_pipeline(
        dataset,
        batch_size=global_batch_size,
        shuffle=shuffle,
        seed=seed,
        shuffle_buffer_size=shuffle_buffer or 1,
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.with_options(options)


def count_batches(dataset, what="training dataset"):
    """Number of batches in a finite dataset (iterates it once if tf.data cannot tell).

    Raises:
        ValueError: the dataset (called `what` in the message) is infinite or empty.
    """
    count = count_examples(dataset, what)
    if count == 0:
        raise ValueError(f"the {what} is empty")
    return count
