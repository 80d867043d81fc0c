"""The one tf.data recipe every nlpkit recipe uses to turn examples into padded batches."""

import tensorflow as tf


def _first_length(*element):
    """Length of the first tensor in an element: the token ids, by convention."""
    first = tf.nest.flatten(element)[0]
    return tf.shape(first, out_type=tf.int32)[0]


def _identity(*element):
    return element[0] if len(element) == 1 else element


def preprocess_in_batches(dataset, preprocess, batch_size=1024):
    """Applies `preprocess` to batches of single examples and returns single examples again.

    One tokenizer call per thousand strings is far faster than one per string; unbatching the
    (ragged) result leaves every example with its own length, carrying no other's padding.

    Args:
        dataset: a `tf.data.Dataset` of single examples.
        preprocess: function of a batch's components returning the new example structure
            (ragged or dense tensors), e.g. `lambda texts, labels: (tokenize(texts), labels)`.
        batch_size: examples per `preprocess` call.
    """
    return (
        dataset.batch(batch_size)
        .map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
        .unbatch()
        # Unbatched ragged rows keep a RaggedTensorSpec that padded_batch refuses; passing them
        # through a map turns them into plain tensors.
        .map(_identity)
    )


def make_pipeline(
    dataset,
    *,
    batch_size,
    preprocess=None,
    preprocess_batch_size=1024,
    cache=False,
    shuffle=False,
    seed=None,
    shuffle_buffer_size=10_000,
    repeat=False,
    bucket_boundaries=None,
    length_fn=None,
    padding_values=None,
    drop_remainder=False,
    prefetch=True,
):
    """Builds a training or evaluation input pipeline from a dataset of examples.

    The steps, in this order (each optional except batching):

    1. `preprocess` (typically tokenization) on batches of `preprocess_batch_size` examples,
       then unbatched: one tokenizer call per thousand strings is far faster than one per string;
    2. `cache` the preprocessed examples (in memory, or in files under a path prefix);
    3. `shuffle` with a fixed `seed` (a different, reproducible order every epoch);
    4. `repeat` forever (for `steps_per_epoch` training);
    5. batch: with `bucket_boundaries`, `tf.data`'s `bucket_by_sequence_length` groups examples
       of similar length so little padding is computed; otherwise `padded_batch`. Variable-length
       components are padded with `padding_values` (default 0 for numbers, `""` for strings),
       to the longest example of the batch;
    6. `prefetch` (autotuned) so the next batch is ready while the model trains.

    Args:
        dataset: a `tf.data.Dataset` of single examples, e.g. `LabelledTexts.to_dataset()`.
        batch_size: examples per batch.
        preprocess: function applied to a batch of examples, receiving the components as
            arguments and returning the new example structure with ragged or dense tensors,
            e.g. `lambda texts, labels: (tokenizer.tokenize(texts), labels)`.
        preprocess_batch_size: examples per `preprocess` call.
        cache: False, True (memory) or a file path prefix.
        shuffle: shuffle the examples; needs `seed`.
        seed: integer shuffling seed.
        shuffle_buffer_size: examples in the shuffle buffer (the whole dataset shuffles exactly
            when it is at least the dataset size).
        repeat: repeat the dataset forever.
        bucket_boundaries: increasing sequence lengths separating buckets, e.g. `[16, 32, 64]`;
            None disables bucketing.
        length_fn: example -> int32 length used for bucketing; default the length of the
            first component's first axis (the token ids).
        padding_values: padding per component (a structure like the example); None pads with
            0 / `""` (0 is `[PAD]` in nlpkit vocabularies).
        drop_remainder: drop a final smaller batch (fixed batch shapes for TPUs and stateful
            models).
        prefetch: prefetch batches.

    Returns:
        A `tf.data.Dataset` of padded batches.

    Example:

    >>> data = read_labelled_table("train.tsv")
    >>> batches = make_pipeline(
    ...     data.to_dataset(), batch_size=64,
    ...     preprocess=lambda texts, labels: (tokenizer.tokenize(texts), labels),
    ...     cache=True, shuffle=True, seed=1, bucket_boundaries=[8, 16, 32])
    >>> model.fit(batches, epochs=3)
    """
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"make_pipeline() takes a tf.data.Dataset, got {type(dataset).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if shuffle and seed is None:
        raise ValueError("shuffle=True needs an integer seed, so runs are reproducible")
    if preprocess is not None:
        dataset = preprocess_in_batches(dataset, preprocess, preprocess_batch_size)
    if cache is True:
        dataset = dataset.cache()
    elif cache:
        dataset = dataset.cache(str(cache))
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    if bucket_boundaries:
        boundaries = [int(boundary) for boundary in bucket_boundaries]
        if boundaries != sorted(set(boundaries)) or boundaries[0] < 1:
            raise ValueError(
                f"bucket_boundaries must be increasing positive lengths, got {bucket_boundaries}"
            )
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=length_fn or _first_length,
            bucket_boundaries=boundaries,
            bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
            padding_values=padding_values,
            drop_remainder=drop_remainder,
        )
    else:
        dataset = dataset.padded_batch(
            batch_size, padding_values=padding_values, drop_remainder=drop_remainder
        )
    if prefetch:
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return dataset
