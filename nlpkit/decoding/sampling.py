"""Random sampling from an autoregressive model: temperature, top-k and top-p (nucleus) filtering,
as TensorFlow ops with stateless random numbers.

Everything here runs eagerly, inside a `tf.function` and in a SavedModel signature; the sampling
parameters may be Python (or NumPy scalar) numbers, checked at once with a ValueError, or scalar
tensors (signature inputs), checked by `tf.debugging` assertions when the graph runs. The
randomness is `tf.random.stateless_categorical`, so the output is a function of the inputs and
the seed: the same seed gives the same tokens, eagerly or in a graph (on the same kind of device:
CPU and GPU kernels draw differently). There is no hidden random state and no Python or NumPy
randomness.

The distribution a token is drawn from, given the model's logits (or log-probabilities) of a row:

1. temperature: the logits are divided by `temperature` (> 0; below 1 sharpens the
   distribution, above 1 flattens it; towards 0 sampling becomes argmax decoding, for which use
   greedy search rather than temperature 0);
2. top-k: only the `top_k` most probable tokens are kept (`top_k = 0` or `top_k >= vocab`: off);
3. top-p, nucleus sampling (Holtzman et al. 2020, "The Curious Case of Neural Text
   Degeneration"): of the distribution left by 1 and 2, renormalised, only the smallest set of
   most probable tokens whose probability mass reaches `top_p` is kept: tokens are taken in order
   of probability until their sum is >= `top_p`, the token that crosses it included
   (`top_p = 1`: off);
4. the kept tokens are renormalised and one is drawn.

This is the order of Hugging Face's `generate` (temperature, top-k, top-p). At least one token,
the most probable, is always kept. Ties are broken towards the lower id, so exactly
`min(top_k, vocab)` tokens survive top-k even when probabilities tie. The top-p comparison allows
a relative float32 rounding slack of `1e-6` (a mass of 0.7999999 reaches 0.8).

`sample_sequence` draws whole continuations with the `step_fn(tokens, state, time) ->
(log_probs, new_state)` contract of `nlpkit.decoding.search`.
"""

import math
import numbers
from typing import NamedTuple

import tensorflow as tf

from nlpkit.decoding.search import _free_shape, _state_invariant, _write_column
from nlpkit.text.vocabulary import PAD_ID

# The top-p slack: a cumulative mass within this (relative) of top_p counts as reaching it.
_TOP_P_SLACK = 1e-6


class SampleResult(NamedTuple):
    """What `sample_sequence` returns; a NamedTuple, so `tf.function` and `tf.nest` take it.

    Attributes:
        ids: int32 `(batch, length)`: the sampled tokens; with `eos_id`, every position after a
            row's first EOS holds `PAD_ID` (0) (also when the loop stopped early because every
            row had ended).
        log_probs: float32 `(batch,)`: the sum of the sampled tokens' log-probabilities under the
            model's own distribution, `step_fn`'s `log_probs`, before temperature and filtering
            (EOS included, padding excluded).
        final_state: the state `step_fn` returned at the last step run (`initial_state` when no
            step ran): it has read `first_tokens` and every sampled token but the last, so
            `sample_sequence(step_fn, final_state, ids[:, -1], ...)` continues a row that did not
            end. Rows that ended at EOS went on being fed `PAD_ID`, like in the searches.
    """

    ids: tf.Tensor
    log_probs: tf.Tensor
    final_state: object


def _is_python_number(value):
    return isinstance(value, numbers.Number) and not tf.is_tensor(value)


def _checked_parameters(temperature, top_k, top_p):
    """`(temperature, top_k, top_p, checks)` as float32/int32/float32 scalar tensors.

    Python numbers are checked here (ValueError); tensors get `tf.debugging` assertions, returned
    as `checks` for the caller to make its result depend on (eagerly they raise at once).
    """
    checks = []
    if _is_python_number(temperature):
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(
                f"temperature must be a finite number > 0, got {temperature}; for temperature 0 "
                "use greedy decoding (argmax, nlpkit.decoding.greedy_search) instead"
            )
        temperature = tf.constant(temperature, tf.float32)
    else:
        temperature = tf.cast(temperature, tf.float32)
        checks.append(
            tf.debugging.assert_positive(
                temperature,
                message="temperature must be > 0 (for temperature 0 use greedy decoding / argmax)",
            )
        )
        checks.append(
            tf.debugging.assert_less(
                temperature, float("inf"), message="temperature must be finite"
            )
        )
    if _is_python_number(top_k):
        if isinstance(top_k, bool) or not float(top_k).is_integer() or top_k < 0:
            raise ValueError(f"top_k must be an integer >= 0 (0: no top-k filtering), got {top_k}")
        top_k = tf.constant(int(top_k), tf.int32)
    else:
        top_k = tf.cast(top_k, tf.int32)
        checks.append(
            tf.debugging.assert_non_negative(
                top_k, message="top_k must be >= 0 (0: no top-k filtering)"
            )
        )
    if _is_python_number(top_p):
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (1: no top-p filtering), got {top_p}")
        top_p = tf.constant(top_p, tf.float32)
    else:
        top_p = tf.cast(top_p, tf.float32)
        checks.append(tf.debugging.assert_positive(top_p, message="top_p must be in (0, 1]"))
        checks.append(tf.debugging.assert_less_equal(top_p, 1.0, message="top_p must be in (0, 1]"))
    return temperature, top_k, top_p, [check for check in checks if check is not None]


def _after(checks, tensors):
    """`tensors` made to depend on the assertion ops `checks` (graph mode; eagerly a no-op)."""
    if not checks:
        return tensors
    with tf.control_dependencies(checks):
        return tuple(tf.identity(tensor) for tensor in tensors)


def _filter(logits, temperature, top_k, top_p):
    """`filter_logits` on already checked float32/int32 scalar tensors."""
    logits = tf.cast(logits, tf.float32)
    vocab_size = tf.shape(logits)[-1]
    # Shifting each row so that its largest logit is 0 changes no probability and keeps a tiny
    # temperature from overflowing; a row with no finite logit is left as it is.
    row_max = tf.reduce_max(logits, axis=-1, keepdims=True)
    shift = tf.where(tf.math.is_finite(row_max), row_max, 0.0)
    scaled = (logits - shift) / temperature
    if tf.get_static_value(top_k) == 0 and tf.get_static_value(top_p) == 1.0:
        return scaled  # both filters known to be off: no sorting
    # shape: (n, vocab): token ids from the most probable to the least, ties by lower id.
    order = tf.argsort(scaled, axis=-1, direction="DESCENDING", stable=True)
    # shape: (n, vocab): the rank of every token in `order` (the inverse permutation).
    ranks = tf.argsort(order, axis=-1, stable=True)

    k = tf.where((top_k <= 0) | (top_k >= vocab_size), vocab_size, top_k)
    # shape: (n, vocab): the tempered probabilities in descending order, zero beyond top-k,
    # renormalised over the top k.
    sorted_probs = tf.nn.softmax(tf.gather(scaled, order, batch_dims=1), axis=-1)
    sorted_probs = tf.where(tf.range(vocab_size) < k, sorted_probs, 0.0)
    sorted_probs = sorted_probs / tf.reduce_sum(sorted_probs, axis=-1, keepdims=True)
    # shape: (n, vocab): the mass of the tokens ranked before each one. A token is needed while
    # that mass has not reached top_p; the first one always is.
    mass_before = tf.math.cumsum(sorted_probs, axis=-1, exclusive=True)
    needed = mass_before < top_p * (1.0 - _TOP_P_SLACK)
    # shape: (n, 1): how many tokens each row keeps.
    count = tf.reduce_sum(tf.cast(needed, tf.int32), axis=-1, keepdims=True)
    count = tf.where(top_p >= 1.0, k, tf.clip_by_value(count, 1, k))
    return tf.where(ranks < count, scaled, float("-inf"))


def filter_logits(logits, *, temperature=1.0, top_k=0, top_p=1.0):
    """Temperature, top-k and top-p applied to logits: the excluded tokens get -inf.

    See the module docstring for the exact rule. The kept tokens hold the tempered logits
    `logits / temperature` minus a per-row constant (each row's largest logit divided by the
    temperature; softmax ignores it, and it keeps a tiny temperature from overflowing): so
    `tf.nn.softmax` of the result is the distribution `sample_tokens` draws from.

    Args:
        logits: float `(n, vocab)`: logits or log-probabilities (any shift per row).
        temperature: float > 0, Python number or scalar tensor.
        top_k: int >= 0, Python number or scalar tensor; 0 or at least `vocab`: off.
        top_p: float in (0, 1], Python number or scalar tensor; 1: off.

    Returns:
        float32 `(n, vocab)`.

    Raises:
        ValueError: a Python `temperature` <= 0 (or not finite), `top_k` < 0 (or not an integer)
            or `top_p` outside (0, 1].
        tf.errors.InvalidArgumentError: the same for tensor arguments, when the op runs (at once
            eagerly, at run time in a graph or SavedModel signature).

    Example:

    >>> logits = tf.math.log([[0.5, 0.3, 0.15, 0.05]])
    >>> kept = filter_logits(logits, top_p=0.8)  # 0.5 + 0.3 reaches 0.8
    >>> tf.math.is_finite(kept).numpy().tolist()
    [[True, True, False, False]]
    """
    temperature, top_k, top_p, checks = _checked_parameters(temperature, top_k, top_p)
    temperature, top_k, top_p = _after(checks, (temperature, top_k, top_p))
    return _filter(logits, temperature, top_k, top_p)


def _draw(filtered, seed):
    """One token per row of filtered logits; a row with nothing to draw (no finite logit, which
    only a broken model gives) gets `PAD_ID` rather than the out-of-range id TensorFlow returns."""
    samples = tf.random.stateless_categorical(filtered, 1, seed, dtype=tf.int32)[:, 0]
    return tf.where(samples < tf.shape(filtered)[-1], samples, PAD_ID)


def sample_tokens(logits, seed, *, temperature=1.0, top_k=0, top_p=1.0):
    """One token per row, drawn from the distribution `filter_logits` leaves.

    Args:
        logits: float `(n, vocab)`: logits or log-probabilities.
        seed: int32 or int64 tensor (or list) of shape `(2,)`: the stateless random seed
            (`tf.random.stateless_categorical`); the same seed and logits give the same tokens.
            Draws for the rows of one call are independent; reusing a seed across calls gives
            correlated draws: derive one seed per call, e.g. `tf.random.fold_in(seed, step)`.
        temperature, top_k, top_p: as in `filter_logits`.

    Returns:
        int32 `(n,)`.

    Raises:
        ValueError, tf.errors.InvalidArgumentError: as `filter_logits`.

    Example:

    >>> logits = tf.math.log([[0.5, 0.3, 0.15, 0.05]])
    >>> sample_tokens(logits, [1, 2], top_k=1).numpy().tolist()  # top-k 1: the argmax
    [0]
    """
    return _draw(filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p), seed)


def _seed_pair(seed):
    """A shape-`(2,)` int64 seed from a scalar (`s` is `[s, 0]`) or shape-`(2,)` seed."""
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise ValueError(f"seed must be an integer tensor, got {seed.dtype.name}")
    seed = tf.cast(seed, tf.int64)
    rank = seed.shape.rank
    if rank == 0:
        return tf.stack([seed, tf.constant(0, tf.int64)]), []
    if rank != 1 or (seed.shape[0] is not None and seed.shape[0] != 2):
        raise ValueError(f"seed must be a scalar or have shape (2,), got shape {seed.shape}")
    check = tf.debugging.assert_equal(tf.size(seed), 2, message="seed must have shape (2,)")
    return tf.reshape(seed, [2]), [check] if check is not None else []


def sample_sequence(
    step_fn,
    initial_state,
    first_tokens,
    *,
    length,
    seed,
    temperature=1.0,
    top_k=0,
    top_p=1.0,
    eos_id=None,
):
    """Samples `length` tokens after each row's `first_tokens`, feeding every token back.

    Step `t` calls `step_fn(tokens, state, t)` with the previous token of each row
    (`first_tokens` at `t = 0`), draws the next token with `sample_tokens` from its `log_probs`
    with the seed `tf.random.fold_in(seed, t)`, and feeds that token at `t + 1`. To continue a
    prompt, run the prompt through the model first (teacher-forced) and pass the state after all
    but its last token and that last token as `first_tokens`.

    The loop is a `tf.while_loop` with a step count known only at run time: it runs inside a
    `tf.function` or SavedModel signature with unknown batch size, a tensor `length`, seed and
    sampling parameters. The same inputs and seed give the same ids (eagerly or in a graph);
    note that the draws of a row depend on the whole batch's shape, not only on the row.

    With `eos_id`, a row ends with the first EOS it samples: later positions hold `PAD_ID`, the
    row is fed `PAD_ID` (what the model says for it is ignored) and the loop stops as soon as every
    row has ended. `ids` always has `length` columns.

    Args:
        step_fn: `step_fn(tokens, state, time) -> (log_probs, new_state)`, the contract of
            `nlpkit.decoding.search`; `n = batch`. Build the model's layers before sampling.
        initial_state: nested structure of tensors with leading dimension `batch` (`()` for a
            model without state).
        first_tokens: int `(batch,)`: the token fed at time 0.
        length: int scalar (Python or tensor): how many tokens to sample; <= 0 samples nothing
            (`ids` has 0 columns and `step_fn` is never called).
        seed: int32/int64 scalar or shape-`(2,)` tensor (or Python int/list); a scalar `s` is the
            seed `[s, 0]`.
        temperature, top_k, top_p: as in `filter_logits`, applied at every step.
        eos_id: Python int or None (no EOS: every row samples `length` tokens).

    Returns:
        `SampleResult(ids, log_probs, final_state)`: int32 `(batch, length)`, float32 `(batch,)`
        (the sum of the sampled tokens' log-probabilities under the unfiltered model
        distribution), and the state after the last step (see `SampleResult`).

    Raises:
        ValueError, tf.errors.InvalidArgumentError: bad sampling parameters, as `filter_logits`;
            ValueError also for a seed that is not an integer scalar or pair.

    Example:

    >>> table = tf.math.log([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [0.0, 0.9, 0.1]])
    >>> def step_fn(tokens, state, time):  # the next token depends on the previous one only
    ...     return tf.gather(table, tokens), state
    >>> result = sample_sequence(step_fn, (), [0], length=4, seed=7, top_k=1)
    >>> result.ids.numpy().tolist()
    [[2, 1, 2, 1]]
    """
    temperature, top_k, top_p, checks = _checked_parameters(temperature, top_k, top_p)
    seed, seed_checks = _seed_pair(seed)
    temperature, top_k, top_p, seed = _after(
        checks + seed_checks, (temperature, top_k, top_p, seed)
    )
    initial_state = tf.nest.map_structure(tf.convert_to_tensor, initial_state)
    tokens = tf.cast(tf.convert_to_tensor(first_tokens), tf.int32)
    batch_size = tf.shape(tokens)[0]
    steps = tf.maximum(tf.cast(length, tf.int32), 0)
    ids = tf.fill(tf.stack([batch_size, steps]), tf.constant(PAD_ID, tf.int32))
    totals = tf.zeros([batch_size], tf.float32)
    finished = tf.zeros([batch_size], tf.bool)

    def keep_going(time, tokens, state, ids, totals, finished):
        return tf.logical_and(time < steps, tf.logical_not(tf.reduce_all(finished)))

    def step(time, tokens, state, ids, totals, finished):
        log_probs, state = step_fn(tokens, state, time)
        log_probs = tf.cast(log_probs, tf.float32)
        filtered = _filter(log_probs, temperature, top_k, top_p)
        sampled = _draw(filtered, tf.random.fold_in(seed, time))
        # shape: (batch,): each sampled token's log-probability under the unfiltered model.
        sampled_log_prob = tf.gather(log_probs, sampled, batch_dims=1)
        tokens = tf.where(finished, tf.constant(PAD_ID, tf.int32), sampled)
        totals = totals + tf.where(finished, 0.0, sampled_log_prob)
        ids = _write_column(ids, time, tokens)
        if eos_id is not None:
            finished = finished | tf.equal(tokens, eos_id)
        return time + 1, tokens, state, ids, totals, finished

    loop_vars = (tf.constant(0), tokens, initial_state, ids, totals, finished)
    invariants = (
        tf.TensorShape([]),
        _free_shape(tokens),
        tf.nest.map_structure(_state_invariant, initial_state),
        _free_shape(ids),
        _free_shape(totals),
        _free_shape(finished),
    )
    _, _, state, ids, totals, _ = tf.while_loop(
        keep_going,
        step,
        loop_vars,
        shape_invariants=invariants,
        maximum_iterations=steps,
    )
    static_length = tf.get_static_value(length)
    if static_length is not None and not tf.executing_eagerly():
        ids = tf.ensure_shape(ids, [tokens.shape[0], max(int(static_length), 0)])
    return SampleResult(ids=ids, log_probs=totals, final_state=state)
