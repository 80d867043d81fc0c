"""Turning unbatched `(features, label)` examples into the global batches `train` feeds.

The pipeline itself (shuffle, padded batching, prefetch) is `nlpkit.data.make_pipeline`; this
module adds what distributed training needs on top of it: DATA auto-sharding, and a seed whenever
examples are shuffled.
"""

import random

import numpy as np
import tensorflow as tf

from nlpkit.data.pipeline import make_pipeline


def batch_examples(dataset, global_batch_size, *, shuffle=False, seed=None, shuffle_buffer=10_000):
    """Shuffles (optionally) and pads unbatched `(features, label)` examples into global batches.

    Auto-sharding is set to DATA so that, under multi-worker training, each worker takes its own
    share of every global batch whatever the source of the dataset (files or memory). That needs
    every worker to shuffle alike, i.e. with the same `seed`.

    Args:
        dataset: unbatched examples.
        global_batch_size: examples per batch, over all replicas.
        shuffle: shuffle the examples (in a new order every time the dataset is iterated).
        seed: shuffling seed; `None` with `shuffle` draws one (see below).
        shuffle_buffer: size of the shuffle buffer.
    """
    if shuffle and seed is None:
        # make_pipeline insists on a seed so that runs are reproducible; a run that asked for no
        # seed gets a fresh one, drawn once here from the OS's entropy (no global random state
        # is read or changed).
        seed = random.SystemRandom().randrange(2**31)
    batches = make_pipeline(
        dataset,
        batch_size=global_batch_size,
        shuffle=shuffle,
        seed=seed,
        shuffle_buffer_size=shuffle_buffer,
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.with_options(options)


def count_batches(dataset, what="training dataset"):
    """Number of batches in a finite dataset (iterates it once if tf.data cannot tell).

    Raises:
        ValueError: the dataset (called `what` in the message) is infinite or empty.
    """
    count = int(dataset.cardinality())
    if count == tf.data.INFINITE_CARDINALITY:
        raise ValueError(f"the {what} is infinite; train() needs a finite dataset")
    if count == tf.data.UNKNOWN_CARDINALITY:
        count = int(dataset.reduce(np.int64(0), lambda total, _: total + 1))
    if count == 0:
        raise ValueError(f"the {what} is empty")
    return count
