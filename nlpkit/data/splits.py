"""Deterministic, seeded splitting of data that ships without train/dev/test splits."""

import itertools

import numpy as np


def _boundaries(num_examples, fractions):
    fractions = np.asarray(fractions, dtype=np.float64)
    if fractions.ndim != 1 or len(fractions) < 2 or np.any(fractions <= 0):
        raise ValueError(
            f"fractions must be two or more positive numbers, got {fractions.tolist()}"
        )
    if abs(fractions.sum() - 1.0) > 1e-6:
        raise ValueError(
            f"fractions must sum to 1, got {fractions.tolist()} (sum {fractions.sum()})"
        )
    boundaries = np.rint(np.cumsum(fractions) * num_examples).astype(np.int64)
    boundaries[-1] = num_examples
    sizes = np.diff(np.concatenate([[0], boundaries]))
    for index, size in enumerate(sizes):
        if size == 0:
            raise ValueError(
                f"Split {index} (fraction {fractions[index]:g}) of {num_examples} examples is "
                "empty; use more data or a larger fraction"
            )
    return boundaries[:-1]


def split_indices(num_examples, fractions=(0.8, 0.1, 0.1), seed=0):
    """Shuffled example indices cut into parts of the given fractions.

    The same `(num_examples, fractions, seed)` always gives the same parts (NumPy's PCG64
    generator). Part sizes are rounded; the last part takes the remainder.

    Returns:
        A list of sorted int64 index arrays, one per fraction.

    Raises:
        ValueError: fractions that are not positive or do not sum to 1, or an empty part.
    """
    boundaries = _boundaries(num_examples, fractions)
    order = np.random.default_rng(seed).permutation(num_examples)
    return [np.sort(part) for part in np.split(order, boundaries)]


def split_examples(data, fractions=(0.8, 0.1, 0.1), seed=0):
    """Splits a dataset at random, reproducibly: `train, dev, test = split_examples(data)`.

    Args:
        data: a reader's result (`LabelledTexts`, `TaggedSentences`, `SentencePairs`: anything
            with `__len__` and `subset(indices)`), a list, or a NumPy array.
        fractions: share of each part, summing to 1 (e.g. `(0.9, 0.1)` for train/dev).
        seed: the shuffling seed; report it with your results.

    Returns:
        A list of parts of the same type as `data`, each keeping the original order.
    """
    parts = split_indices(len(data), fractions, seed)
    if hasattr(data, "subset"):
        return [data.subset(part) for part in parts]
    if isinstance(data, np.ndarray):
        return [data[part] for part in parts]
    return [[data[i] for i in part] for part in parts]


def split_contiguous(sequence, fractions=(0.9, 0.1)):
    """Cuts a sequence (a text, an id array) into consecutive parts, in order.

    For language-model text, where a random split would leak neighbouring context: Tiny
    Shakespeare's usual split is `train, dev = split_contiguous(text, (0.9, 0.1))`.
    """
    boundaries = [0, *_boundaries(len(sequence), fractions).tolist(), len(sequence)]
    return [sequence[start:end] for start, end in itertools.pairwise(boundaries)]


def split_grouped_indices(groups, fractions=(0.8, 0.1, 0.1), seed=0):
    """Example indices cut into parts of about the given fractions, each group in one part.

    For data where several examples share something that must not leak from training into
    evaluation: Tatoeba lists many translations of one sentence, and a random split of the pairs
    puts the same source sentence in train and test. Whole groups are shuffled (seeded) and
    dealt out in that order; a part ends where its share of the *examples* is reached, so part
    sizes are within one group of the fractions.

    Args:
        groups: one hashable key per example (e.g. the normalised source sentence).
        fractions: share of each part, summing to 1.
        seed: the shuffling seed.

    Returns:
        A list of sorted int64 index arrays, one per fraction; no group appears in two of them.

    Raises:
        ValueError: fractions that are not positive or do not sum to 1, or an empty part (fewer
            groups than parts, or a fraction too small for the data).
    """
    boundaries = _boundaries(len(groups), fractions)
    keys, group_of = np.unique(np.asarray([str(key) for key in groups], dtype=object),
                               return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(keys))
    # Each example's rank is its group's position in the shuffled order; sorting by it (stably)
    # lists the examples group after group.
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys))
    by_group = np.argsort(rank[group_of], kind="stable")
    sorted_groups = rank[group_of][by_group]
    cuts = []
    for boundary in boundaries:
        # Move the cut forward to the end of the group it falls in.
        cut = max(int(boundary), cuts[-1] if cuts else 0)
        while 0 < cut < len(by_group) and sorted_groups[cut] == sorted_groups[cut - 1]:
            cut += 1
        cuts.append(cut)
    parts = np.split(by_group, cuts)
    for index, part in enumerate(parts):
        if len(part) == 0:
            raise ValueError(
                f"Split {index} (fraction {fractions[index]:g}) of {len(groups)} examples in "
                f"{len(keys)} groups is empty; use more data or a larger fraction")
    return [np.sort(part) for part in parts]


def split_grouped(data, groups, fractions=(0.8, 0.1, 0.1), seed=0):
    """Like `split_examples`, but examples with the same key in `groups` stay together
    (`split_grouped_indices`): `train, dev = split_grouped(pairs, pairs.sources, (0.9, 0.1))`."""
    parts = split_grouped_indices(groups, fractions, seed)
    if hasattr(data, "subset"):
        return [data.subset(part) for part in parts]
    if isinstance(data, np.ndarray):
        return [data[part] for part in parts]
    return [[data[i] for i in part] for part in parts]
