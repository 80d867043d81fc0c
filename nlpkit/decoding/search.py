"""Greedy and beam search over any autoregressive model, as TensorFlow graph loops.

Both searches see the model only through one function,

    step_fn(tokens, state, time) -> (log_probs, new_state)

`tokens` int32 `(n,)` are the previous token of each row (`bos_id` at time 0), `state` a nested
structure (`tf.nest`) of tensors that all have `n` as their leading dimension, `time` the int32
scalar index of the step (0 first); `log_probs` float `(n, vocab)` are normalised log-probabilities
of the next token. Greedy search calls it with `n = batch_size`; beam search with
`n = batch_size * beam_size`, rows in example-major order (row `i * beam_size + k` is beam `k` of
example `i`, see `tile_beams`).

The loops are `tf.while_loop`s with a step count known only at run time, so a search runs inside a
`tf.function` or a SavedModel signature with an unknown batch size (and, for beam search, a beam
size given as a tensor). Run eagerly, the same code steps in Python, one op at a time.

Conventions shared by both searches:

- `max_length` is a scalar or an int32 `(batch_size,)` limit on the number of generated tokens.
  A hypothesis stops at its first `eos_id` or when it reaches its limit (then it has no EOS).
  The loop stops as soon as every hypothesis has stopped, at the latest after the largest limit.
- `ids` hold the generated tokens (BOS excluded), EOS included; every position after a
  hypothesis's end holds `pad_id`. Their time dimension is the number of steps actually run.
- `lengths` count the generated tokens including the EOS: `ids[..., :length]` is the hypothesis.
- `log_probs` is the sum of the log-probabilities of those tokens (EOS included).
- A row that has stopped still goes through `step_fn` (the batch stays rectangular), fed
  `pad_id` as its token; what the model says for it is ignored.
- The searches do not mask any token: a model that gives `pad_id` or `bos_id` a nonzero
  probability may generate them (then only `lengths` tell a generated PAD from padding). Models
  usually give them -inf log-probabilities.
- `step_fn` runs inside a loop body, where a `tf.function` cannot create variables: build the
  model's layers before the search.

Length normalisation (beam search): `scores = log_probs / gnmt_length_penalty(lengths, alpha)`,
Wu et al. 2016 (GNMT); `alpha = 0` leaves the plain sum.
"""

from typing import NamedTuple

import tensorflow as tf

from nlpkit.text.vocabulary import PAD_ID


class SearchResult(NamedTuple):
    """What a search returns; a NamedTuple, so `tf.function` and `tf.nest` take it as it is.

    Shapes are those of greedy search, `(batch, ...)`; beam search has `(batch, beam, ...)`,
    beams best first.

    Attributes:
        ids: int32 `(batch, time)`: the generated tokens, `pad_id` after each hypothesis's end.
        lengths: int32 `(batch,)`: the number of generated tokens, EOS included.
        scores: float32 `(batch,)`: what the search ranks by: `log_probs` for greedy search,
            `log_probs / gnmt_length_penalty(lengths, length_penalty)` for beam search.
        log_probs: float32 `(batch,)`: the sum of the generated tokens' log-probabilities.
    """

    ids: tf.Tensor
    lengths: tf.Tensor
    scores: tf.Tensor
    log_probs: tf.Tensor


def gnmt_length_penalty(lengths, alpha):
    """The GNMT length penalty `((5 + length) / 6) ** alpha` (Wu et al. 2016, eq. 14).

    Dividing a sum of log-probabilities by it favours longer hypotheses as `alpha` grows;
    `alpha = 0` gives 1 for every length.

    Args:
        lengths: int or float tensor of any shape.
        alpha: float scalar (Python or tensor).

    Returns:
        float32 tensor shaped like `lengths`.

    Example:

    >>> float(gnmt_length_penalty(7, 1.0))
    2.0
    """
    lengths = tf.cast(lengths, tf.float32)
    return tf.pow((5.0 + lengths) / 6.0, tf.cast(alpha, tf.float32))


def tile_beams(structure, beam_size):
    """Repeats every tensor of a nested structure `beam_size` times along axis 0.

    Copies of one row stay together, `[b0, b0, b0, b1, b1, b1]`, so row `i * beam_size + k` is
    beam `k` of example `i`: the layout `beam_search` gives `step_fn`. Use it on anything
    `step_fn` reads that has one row per example (encoder outputs, masks) and is not part of the
    state.

    Args:
        structure: a nested structure of tensors (or arrays), each with a leading batch dimension.
        beam_size: Python int or int32 scalar tensor.

    Returns:
        The same structure, each tensor with leading dimension `batch * beam_size`.

    Example:

    >>> tile_beams({"h": tf.constant([[1], [2]])}, 3)["h"][:, 0].numpy().tolist()
    [1, 1, 1, 2, 2, 2]
    """
    return tf.nest.map_structure(lambda tensor: tf.repeat(tensor, beam_size, axis=0), structure)


def _per_example_limits(max_length, batch_size):
    """`(limits, largest)`: int32 `(batch_size,)` limits and the number of steps to run at most."""
    limits = tf.broadcast_to(tf.cast(max_length, tf.int32), tf.reshape(batch_size, [1]))
    # An empty batch has no maximum (reduce_max gives the smallest int32): run no step.
    largest = tf.maximum(tf.reduce_max(limits), 0)
    return limits, largest


def _state_invariant(tensor):
    """The shape a state tensor keeps through the loop: any number of rows, the rest as given.

    The rows are left free because `step_fn` or the reorder by `tf.gather` may lose the static
    batch size; the other dimensions stay static so that layers inside `step_fn` can still rely
    on them (a dimension that changes from step to step must therefore be unknown already in the
    initial state).
    """
    shape = tensor.shape
    if shape.rank is None or shape.rank == 0:
        return shape
    return tf.TensorShape([None]).concatenate(shape[1:])


def _free_shape(tensor):
    """Every dimension unknown, rank kept: for the search's own bookkeeping tensors."""
    return tf.TensorShape([None] * tensor.shape.rank)


def _write_column(ids, time, tokens):
    """`ids` with column `time` of its last axis replaced by `tokens` (one per row of `ids`).

    A fixed-size buffer written column by column keeps the loop's shapes constant (no growing
    tensor, no TensorArray that cannot stack zero steps).
    """
    # shape: (..., max_steps): True only at the column written now.
    at_time = tf.equal(tf.range(tf.shape(ids)[-1]), time)
    return tf.where(at_time, tokens[..., tf.newaxis], ids)


def greedy_search(step_fn, initial_state, batch_size, *, bos_id, eos_id, max_length, pad_id=PAD_ID):
    """Takes the most probable token at every step until EOS or the length limit.

    Args:
        step_fn: `step_fn(tokens, state, time) -> (log_probs, new_state)`, see the module
            docstring; here `n = batch_size`.
        initial_state: nested structure of tensors with leading dimension `batch_size` (may be
            empty, `()`, for a model without state).
        batch_size: Python int or int32 scalar tensor.
        bos_id: the token fed at time 0.
        eos_id: the token that ends a hypothesis.
        max_length: int scalar or int32 `(batch_size,)`: the most tokens each example generates.
        pad_id: the token after each hypothesis's end (and fed to `step_fn` for stopped rows).

    Returns:
        `SearchResult` with `ids` int32 `(batch, time)`, `lengths` int32 `(batch,)`, `scores` and
        `log_probs` float32 `(batch,)` (equal: the sum of the chosen tokens' log-probabilities).
        `time` is the number of steps run, at most the largest `max_length`.

    Example:

    >>> def step_fn(tokens, state, time):
    ...     wanted = tf.gather([4, 5, 3], time)  # the same token for every row
    ...     logits = tf.one_hot(tf.fill(tf.shape(tokens), wanted), 6) * 5.0
    ...     return tf.nn.log_softmax(logits), state
    >>> result = greedy_search(step_fn, (), 2, bos_id=2, eos_id=3, max_length=[1, 3])
    >>> result.ids.numpy().tolist()
    [[4, 0, 0], [4, 5, 3]]
    """
    initial_state = tf.nest.map_structure(tf.convert_to_tensor, initial_state)
    limits, largest = _per_example_limits(max_length, batch_size)
    tokens = tf.fill(tf.reshape(batch_size, [1]), tf.constant(bos_id, tf.int32))
    ids = tf.fill(tf.stack([batch_size, largest]), tf.constant(pad_id, tf.int32))
    lengths = tf.zeros_like(limits)
    totals = tf.zeros_like(limits, dtype=tf.float32)
    finished = limits <= 0

    def keep_going(time, tokens, state, ids, lengths, totals, finished):
        return tf.logical_and(time < largest, tf.logical_not(tf.reduce_all(finished)))

    def step(time, tokens, state, ids, lengths, totals, finished):
        log_probs, state = step_fn(tokens, state, time)
        log_probs = tf.cast(log_probs, tf.float32)
        best = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        # shape: (batch,): the log-probability of each row's chosen token.
        best_log_prob = tf.gather(log_probs, best, batch_dims=1)
        tokens = tf.where(finished, tf.constant(pad_id, tf.int32), best)
        totals = totals + tf.where(finished, 0.0, best_log_prob)
        lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)
        ids = _write_column(ids, time, tokens)
        finished = finished | tf.equal(tokens, eos_id) | (lengths >= limits)
        return time + 1, tokens, state, ids, lengths, totals, finished

    loop_vars = (tf.constant(0), tokens, initial_state, ids, lengths, totals, finished)
    invariants = (
        tf.TensorShape([]),
        _free_shape(tokens),
        tf.nest.map_structure(_state_invariant, initial_state),
        _free_shape(ids),
        _free_shape(lengths),
        _free_shape(totals),
        _free_shape(finished),
    )
    time, _, _, ids, lengths, totals, _ = tf.while_loop(
        keep_going,
        step,
        loop_vars,
        shape_invariants=invariants,
        maximum_iterations=largest,
    )
    return SearchResult(ids=ids[:, :time], lengths=lengths, scores=totals, log_probs=totals)


def beam_search(
    step_fn,
    initial_state,
    batch_size,
    *,
    beam_size,
    bos_id,
    eos_id,
    max_length,
    length_penalty=0.0,
    pad_id=PAD_ID,
):
    """The `beam_size` best hypotheses of every example, ranked by length-normalised score.

    Bookkeeping, per example and step: every kept hypothesis is extended by every token of the
    vocabulary and the best `beam_size` candidates survive. The state of the survivors is
    gathered from their parents' rows (every tensor of the structure), so `step_fn` never needs
    to know about beams.

    - At time 0 only beam 0 of each example is live (the others score -inf), so the beams do
      not start as `beam_size` copies of one hypothesis.
    - A finished hypothesis (EOS or at its limit) is kept: it extends only with `pad_id` at zero
      cost, so its score is frozen, and it competes with the live ones for a place in the beam.
    - Candidates are ranked by their sum of log-probabilities divided by
      `gnmt_length_penalty(length, length_penalty)` at their length after the step (as
      TensorFlow's GNMT `BeamSearchDecoder` does): a finished hypothesis by its final score, a live
      one by its score so far. With `length_penalty = 0` this is the plain sum; whatever the
      penalty, nothing is pruned while an example has at most `beam_size` candidates, so a large
      enough beam finds exactly the best hypotheses.
    - The search stops when every kept hypothesis has finished, at the latest after the largest
      `max_length`; the beams then come out sorted by `scores`, best first.
    - When an example has fewer than `beam_size` hypotheses of nonzero probability (a tiny
      vocabulary, a short limit), the beams left over have `scores` and `log_probs` -inf,
      `lengths` 0 and `ids` all `pad_id`.

    With `beam_size = 1` this is `greedy_search` (same `ids`, `lengths` and `log_probs`).

    Args:
        step_fn: `step_fn(tokens, state, time) -> (log_probs, new_state)`, see the module
            docstring; here `n = batch_size * beam_size`, row `i * beam_size + k` beam `k` of
            example `i`.
        initial_state: nested structure of tensors with leading dimension `batch_size`, not tiled:
            the search tiles it with `tile_beams`. Anything else `step_fn` reads per example (a
            source encoding it captures) must be tiled by the caller with `tile_beams`.
        batch_size: Python int or int32 scalar tensor.
        beam_size: Python int or int32 scalar tensor, at least 1.
        bos_id: the token fed at time 0.
        eos_id: the token that ends a hypothesis.
        max_length: int scalar or int32 `(batch_size,)`: the most tokens each example generates.
        length_penalty: the GNMT `alpha` (float); 0 ranks by the plain sum of log-probabilities.
        pad_id: the token after each hypothesis's end (and fed to `step_fn` for finished beams).

    Returns:
        `SearchResult` with `ids` int32 `(batch, beam, time)`, `lengths` int32 `(batch, beam)`,
        `scores` and `log_probs` float32 `(batch, beam)`; `time` is the number of steps run.

    Example:

    >>> table = tf.math.log([[0.0, 0.0, 0.0, 0.6, 0.4],
    ...                      [0.0, 0.0, 0.0, 0.0, 0.0],
    ...                      [0.0, 0.0, 0.0, 0.4, 0.6],
    ...                      [0.0, 0.0, 0.0, 0.0, 0.0],
    ...                      [0.0, 0.0, 0.0, 1.0, 0.0]])
    >>> def step_fn(tokens, state, time):  # the next token depends on the previous one only
    ...     return tf.gather(table, tokens), state
    >>> result = beam_search(step_fn, (), 1, beam_size=2, bos_id=2, eos_id=3, max_length=3)
    >>> result.ids.numpy().tolist()  # [4, 3]: 0.6 * 1.0, [3]: 0.4; both done after 2 steps
    [[[4, 3], [3, 0]]]
    """
    static_beam = tf.get_static_value(beam_size)
    if static_beam is not None and static_beam < 1:
        raise ValueError(f"beam_size must be at least 1, got {static_beam}")
    beam_size = tf.cast(beam_size, tf.int32)
    limits, largest = _per_example_limits(max_length, batch_size)
    beams = tf.stack([batch_size, beam_size])
    # shape: (batch, beam): only beam 0 is live at the start (see the docstring).
    totals = tf.broadcast_to(tf.where(tf.range(beam_size) == 0, 0.0, float("-inf")), beams)
    lengths = tf.zeros(beams, tf.int32)
    finished = tf.logical_or(limits[:, tf.newaxis] <= 0, tf.math.is_inf(totals))
    tokens = tf.fill(tf.reshape(batch_size * beam_size, [1]), tf.constant(bos_id, tf.int32))
    ids = tf.fill(tf.concat([beams, [largest]], 0), tf.constant(pad_id, tf.int32))
    state = tile_beams(initial_state, beam_size)
    # shape: (batch, 1): the flat row of beam 0 of each example.
    first_rows = tf.range(batch_size)[:, tf.newaxis] * beam_size

    def keep_going(time, tokens, state, ids, totals, lengths, finished):
        return tf.logical_and(time < largest, tf.logical_not(tf.reduce_all(finished)))

    def step(time, tokens, state, ids, totals, lengths, finished):
        log_probs, state = step_fn(tokens, state, time)
        vocab_size = tf.shape(log_probs)[-1]
        # shape: (batch, beam, vocab)
        log_probs = tf.reshape(tf.cast(log_probs, tf.float32), tf.concat([beams, [vocab_size]], 0))
        # A finished hypothesis has exactly one continuation, free: pad.
        pad_only = tf.where(tf.range(vocab_size) == pad_id, 0.0, float("-inf"))
        log_probs = tf.where(finished[..., tf.newaxis], pad_only, log_probs)
        # shape: (batch, beam, vocab)
        candidate_totals = totals[..., tf.newaxis] + log_probs
        # shape: (batch, beam): a candidate's length depends only on its parent.
        candidate_lengths = lengths + tf.cast(tf.logical_not(finished), tf.int32)
        penalty = gnmt_length_penalty(candidate_lengths, length_penalty)
        candidate_scores = candidate_totals / penalty[..., tf.newaxis]
        # shape: (batch, beam): indices into the flattened (beam * vocab) candidates of a row.
        _, best = tf.math.top_k(tf.reshape(candidate_scores, [batch_size, -1]), k=beam_size)
        parents = best // vocab_size
        new_tokens = best % vocab_size
        totals = tf.gather(tf.reshape(candidate_totals, [batch_size, -1]), best, batch_dims=1)
        lengths = tf.gather(candidate_lengths, parents, batch_dims=1)
        parent_finished = tf.gather(finished, parents, batch_dims=1)
        # A -inf hypothesis only fills the beam (its token is whichever won a tie at -inf):
        # stopped at once, it is fed pad like any stopped row and cannot keep the loop going.
        filler = tf.math.is_inf(totals)
        stopped = tf.logical_or(parent_finished, filler)
        new_tokens = tf.where(stopped, tf.constant(pad_id, tf.int32), new_tokens)
        ids = _write_column(tf.gather(ids, parents, batch_dims=1), time, new_tokens)
        finished = stopped | tf.equal(new_tokens, eos_id) | (lengths >= limits[:, tf.newaxis])
        # shape: (batch * beam,): the row of each survivor's parent in the flat layout.
        parent_rows = tf.reshape(first_rows + parents, [-1])
        state = tf.nest.map_structure(lambda tensor: tf.gather(tensor, parent_rows), state)
        return time + 1, tf.reshape(new_tokens, [-1]), state, ids, totals, lengths, finished

    loop_vars = (tf.constant(0), tokens, state, ids, totals, lengths, finished)
    invariants = (
        tf.TensorShape([]),
        _free_shape(tokens),
        tf.nest.map_structure(_state_invariant, state),
        _free_shape(ids),
        _free_shape(totals),
        _free_shape(lengths),
        _free_shape(finished),
    )
    time, _, _, ids, totals, lengths, _ = tf.while_loop(
        keep_going,
        step,
        loop_vars,
        shape_invariants=invariants,
        maximum_iterations=largest,
    )
    # The last step's top_k ranked every kept hypothesis by its final score: already sorted.
    scores = totals / gnmt_length_penalty(lengths, length_penalty)
    # A filler may have taken a real hypothesis's history as its parent's.
    filler = tf.math.is_inf(totals)
    ids = tf.where(filler[..., tf.newaxis], tf.constant(pad_id, tf.int32), ids[:, :, :time])
    lengths = tf.where(filler, 0, lengths)
    return SearchResult(ids=ids, lengths=lengths, scores=scores, log_probs=totals)
