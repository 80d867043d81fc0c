"""Attention over an encoded source: additive (Bahdanau) and multiplicative (Luong) scores.

A decoder attends from a query `q` (its state at one target step) over the encoder's outputs, the
memory `m_1, ..., m_S` (one vector per source step): each source step gets a score, the scores of
the real (unmasked) steps become weights by a softmax, and the context is the weighted sum

    weights[s] = softmax_s(score(q, m_s)),    context = sum_s weights[s] * m_s

The two layers differ in `score`:

    BahdanauAttention   score(q, m_s) = v^T tanh(W_q q + W_m m_s)      (Bahdanau et al. 2015)
    LuongAttention      score(q, m_s) = q^T W m_s  ("general")          (Luong et al. 2015)
                        score(q, m_s) = q^T m_s    ("dot")

The memory half of every score (`W_m m_s`, `m_s W^T`, `m_s`) does not depend on the query, so it is
split out as `project_memory(memory)`: the keys. A decoder computes the keys once per source
sentence and hands them to every step (`call(..., keys=keys)`), which is what greedy decoding and
beam search do; `call` computes them itself when they are not given.

Queries come one step at a time, `(batch, query_dim)`, or for every target step at once (teacher
forcing), `(batch, target_time, query_dim)`; the outputs have the matching rank.

Masks: padded source steps get a weight of exactly 0, so padding never moves a context, and a row
whose source steps are all padding gets all-zero weights and a zero context (never NaN, gradients
included). Padded memory vectors may hold any finite values.

Only public `keras.ops` are used, so the layers run under every Keras backend. Under a
float16/bfloat16 policy the softmax runs in float32.
"""

import keras
from keras import ops

from nlpkit.layers.pooling import require_sequence_shape

_HALF_DTYPES = ("float16", "bfloat16")

# What a padded step scores before the softmax: exp() of it, next to any real score, is exactly 0
# in float32, yet unlike -inf it keeps an all-padding row finite (a uniform softmax, zeroed after).
_MASKED_SCORE = -1e9

_LUONG_SCORES = ("dot", "general")


class _Attention(keras.layers.Layer):
    """Shared plumbing: shape checks, build from `(query_shape, memory_shape)`, the masked
    softmax, the context, output shapes and masks. Subclasses define `_build_weights`,
    `project_memory` and `_score`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.query_dim = None
        self.memory_dim = None

    # --- shapes ---------------------------------------------------------------------------------

    def _dims(self, query_shape, memory_shape):
        """`(query_dim, memory_dim)`, after checking both shapes."""
        name = self.__class__.__name__
        if memory_shape is None:
            raise ValueError(
                f"{name} is built from the shapes of both the query and the memory: "
                f"build(query_shape, memory_shape); got no memory_shape."
            )
        query_shape = tuple(query_shape)
        if len(query_shape) not in (2, 3) or query_shape[-1] is None:
            raise ValueError(
                f"{name} expects a query of shape (batch, query_dim) or (batch, target_time, "
                f"query_dim) with a known last dimension; got shape {query_shape}."
            )
        require_sequence_shape(memory_shape, name, what="(batch, src_time, memory_dim)")
        return int(query_shape[-1]), int(memory_shape[-1])

    def build(self, query_shape, memory_shape=None):
        query_dim, memory_dim = self._dims(query_shape, memory_shape)
        self._build_weights(query_dim, memory_dim)
        self.query_dim = query_dim
        self.memory_dim = memory_dim

    def _build_weights(self, query_dim, memory_dim):
        raise NotImplementedError

    def _key_dim(self):
        raise NotImplementedError

    def _check_built_for(self, query_shape, memory_shape):
        query_dim, memory_dim = self._dims(query_shape, memory_shape)
        if (query_dim, memory_dim) != (self.query_dim, self.memory_dim):
            raise ValueError(
                f"{self.__class__.__name__} was built for query_dim {self.query_dim} and "
                f"memory_dim {self.memory_dim}; got a query of shape {tuple(query_shape)} and a "
                f"memory of shape {tuple(memory_shape)}."
            )

    def _require_built(self, method):
        if not self.built:
            raise ValueError(
                f"{self.__class__.__name__}.{method} needs the layer's weights: call the layer, "
                f"or build(query_shape, memory_shape) it, first."
            )

    def _weight(self, variable):
        """A weight in the compute dtype; also outside `__call__`, where Keras does not cast."""
        return ops.cast(variable, self.compute_dtype)

    # --- the computation ------------------------------------------------------------------------

    def project_memory(self, memory):
        raise NotImplementedError

    def _score(self, query, keys):
        """Scores `(batch, target_time, src_time)` of a query `(batch, target_time, query_dim)`."""
        raise NotImplementedError

    def call(self, query, memory, memory_mask=None, keys=None):
        self._check_built_for(query.shape, memory.shape)
        query = ops.cast(query, self.compute_dtype)
        memory = ops.cast(memory, self.compute_dtype)
        if keys is None:
            keys = self.project_memory(memory)
        else:
            keys = ops.cast(keys, self.compute_dtype)
            if keys.shape[-1] is not None and keys.shape[-1] != self._key_dim():
                raise ValueError(
                    f"{self.__class__.__name__}: keys must be the output of project_memory, "
                    f"(batch, src_time, {self._key_dim()}); got shape {tuple(keys.shape)}."
                )
        one_step = len(query.shape) == 2
        if one_step:
            # One decoder step is a target sequence of length 1: a single code path.
            query = ops.expand_dims(query, 1)
        scores = self._score(query, keys)
        weights = _masked_softmax(scores, memory_mask)
        # shape: (batch, target_time, src_time) @ (batch, src_time, memory_dim)
        context = ops.matmul(weights, memory)
        if one_step:
            return ops.squeeze(context, 1), ops.squeeze(weights, 1)
        return context, weights

    def compute_output_shape(self, query_shape, memory_shape):
        self._dims(query_shape, memory_shape)
        leading = tuple(query_shape)[:-1]
        return (*leading, memory_shape[-1]), (*leading, memory_shape[1])

    def compute_mask(self, query, previous_mask=None):
        # A (batch, target_time) query mask still marks the real target steps of both outputs.
        if previous_mask is None:
            return None
        return previous_mask, previous_mask


def _masked_softmax(scores, memory_mask):
    """Softmax over the last axis of `scores` `(batch, target_time, src_time)`, padded source
    steps (`memory_mask` False, `(batch, src_time)`) exactly 0; None means no padding."""
    dtype = keras.backend.standardize_dtype(scores.dtype)
    if dtype in _HALF_DTYPES:
        # exp() of float16 scores overflows and its sums lose the small weights.
        scores = ops.cast(scores, "float32")
    if memory_mask is None:
        return ops.cast(ops.softmax(scores, axis=-1), dtype)
    # shape: (batch, 1, src_time): one source mask for every target step
    mask = ops.expand_dims(ops.cast(memory_mask, "bool"), 1)
    weights = ops.softmax(ops.where(mask, scores, _MASKED_SCORE), axis=-1)
    # An all-padding row came out uniform; this zeroes it, and its gradient with it.
    weights = weights * ops.cast(mask, weights.dtype)
    return ops.cast(weights, dtype)


@keras.saving.register_keras_serializable(package="nlpkit")
class BahdanauAttention(_Attention):
    """Additive attention (Bahdanau et al. 2015): `score(q, m_s) = v^T tanh(W_q q + W_m m_s [+ b])`.

    The weights are `query_kernel` `W_q` `(query_dim, units)`, `memory_kernel` `W_m`
    `(memory_dim, units)`, `score_vector` `v` `(units,)` and, with `use_bias=True`, `bias` `b`
    `(units,)`; `query_dim` and `memory_dim` come from the first call (or from
    `build(query_shape, memory_shape)`). The keys are `memory @ W_m [+ b]`, `(batch, src_time,
    units)`.

    Args:
        units: positive int, the size of the hidden layer the scores are computed in.
        use_bias: bool, add `b` inside the tanh (default False, as in the paper).
        kernel_initializer: initializer of `query_kernel`, `memory_kernel` and `score_vector`
            (default "glorot_uniform").
        bias_initializer: initializer of `bias` (default "zeros").
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        query: float `(batch, query_dim)` (one decoder step) or `(batch, target_time, query_dim)`
            (every target step at once).
        memory: float `(batch, src_time, memory_dim)`, the encoder's outputs.
        memory_mask: optional boolean `(batch, src_time)`, True at real source steps. Picked up
            automatically from `memory`'s Keras mask (e.g. an `Embedding(mask_zero=True)`
            upstream); when absent every source step is real.
        keys: optional `project_memory(memory)`, `(batch, src_time, units)`, computed once per
            source by a decoder that calls the layer at every step; computed here when None.

    Returns:
        `(context, weights)`: for a rank-2 query, `context` `(batch, memory_dim)` and `weights`
        `(batch, src_time)`; for a rank-3 query, `(batch, target_time, memory_dim)` and
        `(batch, target_time, src_time)`. The weights of a row sum to 1 over its real source
        steps and are exactly 0 at padded ones (all 0, and a zero context, when none is real).
        Both outputs carry the query's Keras mask, if it has one.

    Example:

    ```python
    attention = BahdanauAttention(64)
    memory = keras.random.normal((2, 7, 32))  # encoder outputs
    mask = keras.ops.arange(7)[None, :] < keras.ops.convert_to_tensor([[7], [4]])
    state = keras.random.normal((2, 48))  # one decoder state per sentence
    context, weights = attention(state, memory, memory_mask=mask)  # (2, 32), (2, 7)
    keys = attention.project_memory(memory)  # once per source, then at every decoder step:
    context, weights = attention(state, memory, memory_mask=mask, keys=keys)
    ```
    """

    def __init__(
        self,
        units,
        use_bias=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(units) != units or units < 1:
            raise ValueError(f"BahdanauAttention: units must be a positive int; got {units}.")
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def _build_weights(self, query_dim, memory_dim):
        self.query_kernel = self.add_weight(
            name="query_kernel", shape=(query_dim, self.units), initializer=self.kernel_initializer
        )
        self.memory_kernel = self.add_weight(
            name="memory_kernel",
            shape=(memory_dim, self.units),
            initializer=self.kernel_initializer,
        )
        self.score_vector = self.add_weight(
            name="score_vector", shape=(self.units,), initializer=self.kernel_initializer
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.units,), initializer=self.bias_initializer
            )

    def _key_dim(self):
        return self.units

    def project_memory(self, memory):
        """The keys `memory @ W_m [+ b]`: `(batch, src_time, memory_dim)` to `(batch, src_time,
        units)`."""
        self._require_built("project_memory")
        keys = ops.matmul(ops.cast(memory, self.compute_dtype), self._weight(self.memory_kernel))
        if self.bias is not None:
            keys = keys + self._weight(self.bias)
        return keys

    def _score(self, query, keys):
        # shape: (batch, target_time, units)
        projected = ops.matmul(query, self._weight(self.query_kernel))
        # shape: (batch, target_time, 1, units) + (batch, 1, src_time, units): every pair
        hidden = ops.tanh(ops.expand_dims(projected, 2) + ops.expand_dims(keys, 1))
        # shape: (batch, target_time, src_time)
        return ops.sum(hidden * self._weight(self.score_vector), axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="nlpkit")
class LuongAttention(_Attention):
    """Multiplicative attention (Luong et al. 2015): `score(q, m_s) = q^T W m_s` or `q^T m_s`.

    With `score="general"` the weight is `kernel` `W` `(query_dim, memory_dim)` and the keys are
    `memory @ W^T`, `(batch, src_time, query_dim)`, so that each step's scores are one product
    `q . key_s`. With `score="dot"` there is no weight, the keys are the memory itself, and the
    query and memory must have the same size. Dimensions come from the first call (or from
    `build(query_shape, memory_shape)`).

    Args:
        score: `"general"` (default) or `"dot"`.
        kernel_initializer: initializer of `kernel` (default "glorot_uniform"); unused by "dot".
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        query: float `(batch, query_dim)` (one decoder step) or `(batch, target_time, query_dim)`
            (every target step at once).
        memory: float `(batch, src_time, memory_dim)`, the encoder's outputs.
        memory_mask: optional boolean `(batch, src_time)`, True at real source steps. Picked up
            automatically from `memory`'s Keras mask; when absent every source step is real.
        keys: optional `project_memory(memory)`, `(batch, src_time, query_dim)`, computed once
            per source by a decoder that calls the layer at every step; computed here when None.

    Returns:
        `(context, weights)`: for a rank-2 query, `context` `(batch, memory_dim)` and `weights`
        `(batch, src_time)`; for a rank-3 query, `(batch, target_time, memory_dim)` and
        `(batch, target_time, src_time)`. The weights of a row sum to 1 over its real source
        steps and are exactly 0 at padded ones (all 0, and a zero context, when none is real).
        Both outputs carry the query's Keras mask, if it has one.

    Raises:
        ValueError: an unknown `score`; with `"dot"`, a query and memory of different sizes.

    Example (every target step of a teacher-forced decoder at once):

    ```python
    source = keras.Input(shape=(None,), dtype="int32")
    target = keras.Input(shape=(None,), dtype="int32")
    memory = keras.layers.LSTM(64, return_sequences=True)(
        keras.layers.Embedding(8000, 64, mask_zero=True)(source)
    )
    states = keras.layers.LSTM(64, return_sequences=True)(keras.layers.Embedding(8000, 64)(target))
    # The source mask rides along on `memory` and becomes memory_mask.
    context, weights = LuongAttention("general")(states, memory)  # (b, t, 64), (b, t, s)
    ```
    """

    def __init__(self, score="general", kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if score not in _LUONG_SCORES:
            raise ValueError(
                f"LuongAttention: unknown score {score!r}; expected one of {list(_LUONG_SCORES)}."
            )
        self.score = score
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def _build_weights(self, query_dim, memory_dim):
        self.kernel = None
        if self.score == "dot":
            if query_dim != memory_dim:
                raise ValueError(
                    f"LuongAttention(score='dot') needs query_dim == memory_dim; got query_dim "
                    f"{query_dim} and memory_dim {memory_dim}. Use score='general' to attend "
                    f"across sizes."
                )
            return
        self.kernel = self.add_weight(
            name="kernel", shape=(query_dim, memory_dim), initializer=self.kernel_initializer
        )

    def _key_dim(self):
        return self.query_dim if self.score == "general" else self.memory_dim

    def project_memory(self, memory):
        """The keys: `memory @ W^T` `(batch, src_time, query_dim)` for "general", the memory
        itself for "dot"."""
        self._require_built("project_memory")
        memory = ops.cast(memory, self.compute_dtype)
        if self.kernel is None:
            return memory
        return ops.matmul(memory, ops.transpose(self._weight(self.kernel)))

    def _score(self, query, keys):
        # shape: (batch, target_time, query_dim) @ (batch, query_dim, src_time)
        return ops.matmul(query, ops.transpose(keys, (0, 2, 1)))

    def get_config(self):
        return {
            **super().get_config(),
            "score": self.score,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
