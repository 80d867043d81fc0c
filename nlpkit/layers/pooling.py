"""Mask-aware aggregators: states `(batch, time, units)` to one vector per text `(batch, units)`.

Every layer here reads a Keras mask (boolean `(batch, time)`, `True` = real token), so it can sit
after `Embedding(mask_zero=True)` or a masked RNN and pick the mask up automatically. Padding never
leaks into a result: padded positions never win a max, never enter a mean or a sum, and a sequence
with no real token at all gives zeros (never a division by zero). None of them returns a mask.

Only public `keras.ops` are used, so the layers run under every Keras backend.

The module-level functions (`sequence_mask`, `real_token_span`, `masked_sum`, `masked_mean`,
`masked_max`) are the single implementation of each reduction; other nlpkit layers (the CNN
encoder, the bag of embeddings) reuse them.
"""

import keras
from keras import ops


def require_sequence_shape(shape, layer_name, what="(batch, time, units)"):
    """Raises a ValueError unless `shape` is rank 3 with a known last dimension."""
    shape = tuple(shape)
    if len(shape) != 3:
        raise ValueError(
            f"{layer_name} expects inputs of shape {what} (rank 3); "
            f"got shape {shape} (rank {len(shape)})."
        )
    if shape[-1] is None:
        raise ValueError(
            f"{layer_name} expects inputs of shape {what} with a known last dimension; "
            f"got shape {shape}."
        )


def sequence_mask(inputs, mask=None):
    """The boolean `(batch, time)` mask of `inputs`; all `True` when `mask` is None."""
    if mask is None:
        shape = ops.shape(inputs)
        return ops.ones((shape[0], shape[1]), dtype="bool")
    return ops.cast(mask, "bool")


def real_token_span(mask):
    """Per row, the index of the first real position and one past the last real position.

    Args:
        mask: boolean `(batch, time)`.

    Returns:
        `(first, end)`, two int32 `(batch,)` tensors. A row with no real position has
        `first == time` and `end == 0`, so no position `p` satisfies `first <= p < end`.
    """
    time = ops.shape(mask)[1]
    # shape: (1, time)
    positions = ops.expand_dims(ops.arange(time, dtype="int32"), 0)
    first = ops.min(ops.where(mask, positions, time), axis=1)
    end = ops.max(ops.where(mask, positions + 1, 0), axis=1)
    return first, end


def masked_sum(inputs, mask):
    """Sum over time of the positions where `mask` is True; zeros for a row with none.

    `inputs` `(batch, time, units)`, boolean `mask` `(batch, time)`; returns `(batch, units)`.
    """
    # `where` rather than multiplying by the mask: padded garbage (inf, NaN) must not leak.
    kept = ops.where(ops.expand_dims(mask, -1), inputs, ops.zeros_like(inputs))
    return ops.sum(kept, axis=1)


def masked_mean(inputs, mask):
    """Mean over time of the positions where `mask` is True; zeros for a row with none.

    `inputs` `(batch, time, units)`, boolean `mask` `(batch, time)`; returns `(batch, units)`.
    """
    # shape: (batch, 1)
    count = ops.sum(ops.cast(mask, inputs.dtype), axis=1, keepdims=True)
    return masked_sum(inputs, mask) / ops.maximum(count, 1)


def masked_max(inputs, mask):
    """Max over time of the positions where `mask` is True; zeros for a row with none.

    `inputs` `(batch, time, units)`, boolean `mask` `(batch, time)`; returns `(batch, units)`.
    """
    # Padded positions become -inf so they lose to any real value, negative ones included.
    filled = ops.where(ops.expand_dims(mask, -1), inputs, float("-inf"))
    maximum = ops.max(filled, axis=1)
    # shape: (batch, 1)
    has_any = ops.any(mask, axis=1, keepdims=True)
    return ops.where(has_any, maximum, ops.zeros_like(maximum))


class _SequencePooling(keras.layers.Layer):
    """Shared plumbing: shape checks, mask handling, output shape, no output mask."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        require_sequence_shape(input_shape, self.__class__.__name__)
        self._units = input_shape[-1]

    def call(self, inputs, mask=None):
        require_sequence_shape(inputs.shape, self.__class__.__name__)
        if self.built and inputs.shape[-1] != self._units:
            raise ValueError(
                f"{self.__class__.__name__} was built for inputs of shape (batch, time, "
                f"{self._units}); got shape {tuple(inputs.shape)}."
            )
        return self._pool(inputs, sequence_mask(inputs, mask))

    def _pool(self, inputs, mask):
        raise NotImplementedError

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        require_sequence_shape(input_shape, self.__class__.__name__)
        return (input_shape[0], input_shape[-1])


@keras.saving.register_keras_serializable(package="nlpkit")
class LastPooling(_SequencePooling):
    """The state at the last real position (or the first, with `from_start=True`).

    `y[b] = x[b, max{t : mask[b, t]}]`, or `x[b, min{t : mask[b, t]}]` when `from_start`. The mask
    may have any pattern (right padding, left padding, holes); a row with no real position gives
    zeros. Use `from_start=True` on the outputs of a backward RNN, whose summary of the whole text
    sits at the first real position.

    Args:
        from_start: bool, take the first real position instead of the last.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, time, units)`.
        mask: optional boolean `(batch, time)`, `True` for real tokens. Picked up automatically
            from a masking layer upstream; when absent every position is real.

    Input shape: `(batch, time, units)`. Output shape: `(batch, units)`. Returns no mask.

    Example:

    ```python
    states = keras.ops.reshape(keras.ops.arange(6, dtype="float32"), (1, 3, 2))
    mask = keras.ops.convert_to_tensor([[True, True, False]])
    LastPooling()(states, mask=mask)  # [[2., 3.]]: position 1, the last real one
    ```
    """

    def __init__(self, from_start=False, **kwargs):
        super().__init__(**kwargs)
        self.from_start = bool(from_start)

    def _pool(self, inputs, mask):
        first, end = real_token_span(mask)
        # An empty row has first == time and end - 1 == -1: no position matches, the sum is 0.
        chosen = first if self.from_start else end - 1
        positions = ops.arange(ops.shape(inputs)[1], dtype="int32")
        # shape: (batch, time), True only at the chosen position
        selector = ops.equal(ops.expand_dims(positions, 0), ops.expand_dims(chosen, 1))
        return masked_sum(inputs, selector)

    def get_config(self):
        return {**super().get_config(), "from_start": self.from_start}


@keras.saving.register_keras_serializable(package="nlpkit")
class MeanPooling(_SequencePooling):
    """Mean of the states at real positions.

    `y[b] = sum_t mask[b, t] * x[b, t] / max(1, sum_t mask[b, t])`: an all-padding row gives zeros.

    Args:
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, time, units)`.
        mask: optional boolean `(batch, time)`, `True` for real tokens (picked up automatically).

    Input shape: `(batch, time, units)`. Output shape: `(batch, units)`. Returns no mask.

    Example:

    ```python
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(1000, 16, mask_zero=True)(ids)
    text_vector = MeanPooling()(vectors)  # id 0 is padding and is left out of the mean
    ```
    """

    def _pool(self, inputs, mask):
        return masked_mean(inputs, mask)


@keras.saving.register_keras_serializable(package="nlpkit")
class MaxPooling(_SequencePooling):
    """Per-unit max of the states at real positions.

    `y[b, u] = max{x[b, t, u] : mask[b, t]}`. Padded positions never win, even when every real value
    is negative; an all-padding row gives zeros.

    Args:
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, time, units)`.
        mask: optional boolean `(batch, time)`, `True` for real tokens (picked up automatically).

    Input shape: `(batch, time, units)`. Output shape: `(batch, units)`. Returns no mask.

    Example:

    ```python
    states = keras.ops.convert_to_tensor([[[-3.0], [-1.0], [0.0]]])
    mask = keras.ops.convert_to_tensor([[True, True, False]])
    MaxPooling()(states, mask=mask)  # [[-1.]]: the padded 0.0 does not win
    ```
    """

    def _pool(self, inputs, mask):
        return masked_max(inputs, mask)


@keras.saving.register_keras_serializable(package="nlpkit")
class SumPooling(_SequencePooling):
    """Sum of the states at real positions.

    `y[b] = sum_t mask[b, t] * x[b, t]`; an all-padding row gives zeros.

    Args:
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, time, units)`.
        mask: optional boolean `(batch, time)`, `True` for real tokens (picked up automatically).

    Input shape: `(batch, time, units)`. Output shape: `(batch, units)`. Returns no mask.

    Example:

    ```python
    SumPooling()(keras.ops.ones((2, 5, 8)))  # shape (2, 8), every value 5.0
    ```
    """

    def _pool(self, inputs, mask):
        return masked_sum(inputs, mask)


_POOLING_BY_NAME = {
    "mean": lambda name: MeanPooling(name=name),
    "max": lambda name: MaxPooling(name=name),
    "sum": lambda name: SumPooling(name=name),
    "last": lambda name: LastPooling(name=name),
    "first": lambda name: LastPooling(from_start=True, name=name),
}


@keras.saving.register_keras_serializable(package="nlpkit")
class ConcatPooling(_SequencePooling):
    """Several poolings of the same sequence, concatenated along the last axis.

    `y[b] = concat(pool_1(x, mask)[b], ..., pool_k(x, mask)[b])`, with each `pool_i` one of
    `"mean"` (`MeanPooling`), `"max"` (`MaxPooling`), `"sum"` (`SumPooling`), `"last"`
    (`LastPooling()`) and `"first"` (`LastPooling(from_start=True)`). The default
    `("mean", "max")` is the usual "mean and max over time" text summary.

    Args:
        poolings: non-empty sequence of the names above, in output order; no repeats.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, time, units)`.
        mask: optional boolean `(batch, time)`, `True` for real tokens (picked up automatically).

    Input shape: `(batch, time, units)`. Output shape: `(batch, units * len(poolings))`.
    Returns no mask.

    Example:

    ```python
    ConcatPooling(("mean", "max", "last"))(keras.ops.ones((2, 5, 8)))  # shape (2, 24)
    ```
    """

    def __init__(self, poolings=("mean", "max"), **kwargs):
        super().__init__(**kwargs)
        if isinstance(poolings, str):
            poolings = (poolings,)
        poolings = tuple(poolings)
        if not poolings:
            raise ValueError("ConcatPooling needs at least one pooling name; got none.")
        unknown = [p for p in poolings if p not in _POOLING_BY_NAME]
        if unknown:
            raise ValueError(
                f"ConcatPooling: unknown pooling name(s) {unknown}; "
                f"expected names among {sorted(_POOLING_BY_NAME)}."
            )
        if len(set(poolings)) != len(poolings):
            raise ValueError(f"ConcatPooling: repeated pooling name in {list(poolings)}.")
        self.poolings = poolings
        self._pooling_layers = [_POOLING_BY_NAME[p](f"{p}_pooling") for p in poolings]

    def _pool(self, inputs, mask):
        return ops.concatenate(
            [layer(inputs, mask=mask) for layer in self._pooling_layers], axis=-1
        )

    def compute_output_shape(self, input_shape):
        require_sequence_shape(input_shape, self.__class__.__name__)
        return (input_shape[0], input_shape[-1] * len(self.poolings))

    def get_config(self):
        return {**super().get_config(), "poolings": list(self.poolings)}
