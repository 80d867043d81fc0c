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
