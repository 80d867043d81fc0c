import collections

import numpy as np
import pytest
import tensorflow as tf

from nlpkit.data import make_pipeline


def _examples(count=200, seed=0):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 40, size=count)
    sequences = [list(range(1, length + 1)) for length in lengths]
    labels = np.arange(count)
    return sequences, labels


def _dataset(sequences, labels):
    return tf.data.Dataset.from_tensor_slices((tf.ragged.constant(sequences), labels)).map(
        lambda ids, label: (ids, label)
    )


def _collect(dataset):
    seen = []
    for ids, labels in dataset:
        ids = ids.numpy()
        for row, label in zip(ids, labels.numpy()):
            seen.append((int(label), int((row != 0).sum()), row))
    return seen


def test_padded_batches_keep_every_example_once():
    sequences, labels = _examples()
    batches = make_pipeline(_dataset(sequences, labels), batch_size=32)
    shapes = [ids.shape for ids, _ in batches]
    assert [shape[0] for shape in shapes] == [32] * 6 + [8]
    seen = _collect(batches)
    assert sorted(label for label, _, _ in seen) == labels.tolist()
    for label, length, row in seen:
        assert length == len(sequences[label])
        np.testing.assert_array_equal(row[:length], sequences[label])
        assert not row[length:].any()  # padded with 0 ([PAD])


def test_bucketing_groups_similar_lengths():
    sequences, labels = _examples()
    boundaries = [10, 20, 30]
    batches = make_pipeline(_dataset(sequences, labels), batch_size=8, bucket_boundaries=boundaries)
    total = 0
    for ids, label in batches:
        lengths = [len(sequences[i]) for i in label.numpy()]
        buckets = {int(np.searchsorted(boundaries, length, side="right")) for length in lengths}
        assert len(buckets) == 1  # one bucket per batch
        assert ids.shape[1] == max(lengths)
        total += len(lengths)
    assert total == len(sequences)


def test_seeded_shuffle_is_reproducible_and_reshuffles_each_epoch():
    sequences, labels = _examples(100)

    def order(seed, epochs=2):
        pipeline = make_pipeline(
            _dataset(sequences, labels), batch_size=10, shuffle=True, seed=seed, cache=True
        )
        return [[int(x) for _, batch in pipeline for x in batch.numpy()] for _ in range(epochs)]

    first = order(3)
    assert first == order(3)
    assert first[0] != first[1] and sorted(first[0]) == list(range(100))
    assert order(4)[0] != first[0]
    with pytest.raises(ValueError, match="seed"):
        make_pipeline(_dataset(sequences, labels), batch_size=4, shuffle=True)


def test_preprocess_runs_on_batches_and_cache_to_files(tmp_path):
    texts = ["a b c", "d", "e f", "", "g h i j"]
    calls = collections.Counter()

    def tokenize(batch, labels):
        calls["traced"] += 1
        words = tf.strings.split(batch)
        return tf.ragged.map_flat_values(tf.strings.length, words), labels

    dataset = tf.data.Dataset.from_tensor_slices((texts, np.arange(5)))
    pipeline = make_pipeline(
        dataset,
        batch_size=2,
        preprocess=tokenize,
        preprocess_batch_size=3,
        cache=str(tmp_path / "cache"),
        drop_remainder=True,
        prefetch=False,
    )
    batches = [(ids.numpy().tolist(), label.numpy().tolist()) for ids, label in pipeline]
    assert batches == [([[1, 1, 1], [1, 0, 0]], [0, 1]), ([[1, 1], [0, 0]], [2, 3])]
    assert calls["traced"] == 1
    assert any(path.name.startswith("cache") for path in tmp_path.iterdir())


def test_repeat_and_bad_arguments():
    sequences, labels = _examples(10)
    repeated = make_pipeline(_dataset(sequences, labels), batch_size=4, repeat=True)
    assert len(list(repeated.take(7))) == 7
    with pytest.raises(ValueError, match="increasing"):
        make_pipeline(_dataset(sequences, labels), batch_size=4, bucket_boundaries=[5, 3])
    with pytest.raises(TypeError):
        make_pipeline([1, 2, 3], batch_size=2)
