import numpy as np
import pytest

from nlpkit.data import LabelledTexts, split_contiguous, split_examples, split_indices


def test_split_indices_partition_deterministically():
    parts = split_indices(1000, (0.8, 0.1, 0.1), seed=7)
    assert [len(part) for part in parts] == [800, 100, 100]
    assert sorted(np.concatenate(parts).tolist()) == list(range(1000))
    again = split_indices(1000, (0.8, 0.1, 0.1), seed=7)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    other = split_indices(1000, (0.8, 0.1, 0.1), seed=8)
    assert not np.array_equal(parts[1], other[1])


def test_split_examples_keeps_type_and_alignment():
    data = LabelledTexts([str(i) for i in range(20)], np.arange(20) % 2, ["even", "odd"])
    train, dev = split_examples(data, (0.75, 0.25), seed=0)
    assert isinstance(train, LabelledTexts) and (len(train), len(dev)) == (15, 5)
    for part in (train, dev):
        assert [int(text) % 2 for text in part.texts] == part.labels.tolist()
    assert sorted(train.texts + dev.texts, key=int) == data.texts
    lists = split_examples(list("abcdefghij"), (0.5, 0.5), seed=1)
    assert sorted(lists[0] + lists[1]) == list("abcdefghij")


def test_empty_split_and_bad_fractions_are_errors():
    with pytest.raises(ValueError, match="Split 2 .* is empty"):
        split_indices(10, (0.9, 0.08, 0.02))
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices(10, (0.5, 0.4))
    with pytest.raises(ValueError, match="positive"):
        split_indices(10, (1.0, 0.0))


def test_split_contiguous_keeps_order():
    text = "abcdefghij"
    assert split_contiguous(text, (0.9, 0.1)) == ["abcdefghi", "j"]
