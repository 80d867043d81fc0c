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


def test_split_grouped_keeps_every_group_in_one_part():
    from nlpkit.data import SentencePairs, split_grouped, split_grouped_indices

    rng = np.random.default_rng(0)
    # 300 groups of 1..6 examples each, listed in a scrambled order.
    groups = [f"source {g}" for g in range(300) for _ in range(rng.integers(1, 7))]
    groups = [groups[i] for i in rng.permutation(len(groups))]
    parts = split_grouped_indices(groups, (0.8, 0.1, 0.1), seed=3)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(groups)))
    keys = [{groups[i] for i in part} for part in parts]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    # Within one group (at most 6 examples) of the requested sizes.
    for part, share in zip(parts, (0.8, 0.1, 0.1)):
        assert abs(len(part) - share * len(groups)) <= 6
    again = split_grouped_indices(groups, (0.8, 0.1, 0.1), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again))
    assert not np.array_equal(parts[2], split_grouped_indices(groups, (0.8, 0.1, 0.1), seed=4)[2])

    pairs = SentencePairs(sources=groups, targets=[f"t{i}" for i in range(len(groups))])
    train, test = split_grouped(pairs, pairs.sources, (0.9, 0.1), seed=0)
    assert not set(train.sources) & set(test.sources)
    assert len(train) + len(test) == len(pairs)
    # Alignment survives: every target still sits next to its own source.
    index = {t: i for i, t in enumerate(pairs.targets)}
    assert all(pairs.sources[index[t]] == s for s, t in zip(test.sources, test.targets))


def test_split_grouped_refuses_fewer_groups_than_parts():
    from nlpkit.data import split_grouped_indices

    with pytest.raises(ValueError, match="empty"):
        split_grouped_indices(["same"] * 10, (0.5, 0.5), seed=0)
