"""A linear-chain conditional random field (CRF): the decoder of a sequence tagger.

A tagger's network gives emission scores `x[b, t, j]` (how well tag `j` fits token `t`); the CRF
adds a learned transition matrix `T[i, j]` (tag `i` followed by tag `j`) and start and end scores
`s[j]`, `e[j]`. The score of a tag sequence `y` over the real (unmasked) steps `t_1 < ... < t_n` is

    score(y) = s[y_1] + sum_k x[t_k, y_k] + sum_{k > 1} T[y_{k-1}, y_k] + e[y_n]

and `log p(y | x) = score(y) - log Z(x)`, `log Z` the log-sum-exp of the scores of every tag
sequence (the forward algorithm, in log space). Decoding takes the best sequence (Viterbi).

Masks: padded steps are skipped, whatever the pattern (right or left padding, holes): the chain
runs over the real steps in order, so a padded sequence gets exactly the log-likelihood, best path
and score it gets alone. A sequence with no real step has score 0, `log Z` 0, and decodes to the
pad tag everywhere.

Constraints: `allowed_transitions`, `allowed_start` and `allowed_end` (built by
`iob2_allowed_transitions` / `bioes_allowed_transitions` from tag names) forbid some transitions.
Training sees a forbidden transition as the finite score `disallowed_score` (not -inf, so no
gradient is ever NaN); Viterbi sees it as -inf, so a decoded path never contains one.

Only public `keras.ops` are used, so the layer runs under every Keras backend. The time loops are
`keras.ops` loops (`scan`, and `while_loop` for the forward algorithm on TensorFlow, see `_fold`),
so Viterbi decoding runs inside an exported TensorFlow graph and training compiles with XLA.
"""

import keras
import numpy as np
from keras import ops

from nlpkit.layers.pooling import require_sequence_shape, sequence_mask

_HALF_DTYPES = ("float16", "bfloat16")


def _scan_inputs(emissions, mask):
    """Packs emissions, mask and first-real-step flags into one time-major tensor.

    `keras.ops.scan` on TensorFlow is at its most robust with one scanned tensor, so the two
    flags ride along as two more columns. Returns `(batch, time, tags + 2)` transposed to
    `(time, batch, tags + 2)`.
    """
    dtype = emissions.dtype
    # shape: (batch, time): True at the first real step of each row.
    seen = ops.cumsum(ops.cast(mask, "int32"), axis=1)
    first = ops.logical_and(mask, ops.equal(seen, 1))
    # shape: (batch, time, tags + 2)
    packed = ops.concatenate(
        [
            emissions,
            ops.expand_dims(ops.cast(mask, dtype), -1),
            ops.expand_dims(ops.cast(first, dtype), -1),
        ],
        axis=-1,
    )
    # shape: (time, batch, tags + 2): scan walks the leading axis.
    return ops.transpose(packed, (1, 0, 2))


def _split_step(packed_t, num_tags):
    """`(emissions_t, real_t, first_t)` of one packed step; the flags are `(batch, 1)` bools."""
    return (
        packed_t[:, :num_tags],
        packed_t[:, num_tags : num_tags + 1] > 0.5,
        packed_t[:, num_tags + 1 : num_tags + 2] > 0.5,
    )


def _fold(step, carry, sequence):
    """`step(carry, item)` over the leading axis of `sequence`; returns the last carry.

    The forward algorithm is the loop training differentiates. On TensorFlow it runs as
    `keras.ops.while_loop` with `maximum_iterations`, whose gradient compiles with XLA (that of
    `keras.ops.scan` there does not: its gradient needs a fixed loop bound); elsewhere as
    `keras.ops.scan`, since JAX cannot reverse-differentiate a while loop.
    """
    if keras.backend.backend() != "tensorflow":
        return ops.scan(lambda c, item: (step(c, item), None), carry, sequence)[0]
    steps = ops.shape(sequence)[0]
    _, carry = ops.while_loop(
        lambda t, _: t < steps,
        lambda t, c: (t + 1, step(c, sequence[t])),
        (0, carry),
        maximum_iterations=steps,
    )
    return carry


def crf_forward(emissions, mask, transitions, start, end, tags=None):
    """The forward algorithm: `log Z` per row, and the score of `tags` when given.

    Args:
        emissions: float `(batch, time, num_tags)`.
        mask: boolean `(batch, time)`, True at real steps.
        transitions: `(num_tags, num_tags)`, `transitions[i, j]` scores tag `i` then tag `j`.
        start, end: `(num_tags,)` scores of the first and last tag.
        tags: optional int `(batch, time)` gold tags (any value at padded steps).

    Returns:
        `(log_partition, score)`, float `(batch,)` each; `score` is None without `tags`.
    """
    num_tags = emissions.shape[-1]
    dtype = emissions.dtype
    packed = _scan_inputs(emissions, mask)
    if tags is not None:
        # Padded steps may hold any id (-1, 0, ...); clipped ids are masked out below.
        gold = ops.clip(ops.cast(tags, "int32"), 0, num_tags - 1)
        # shape: (time, batch, tags + 2 + tags): the gold one-hots ride along too.
        gold = ops.transpose(ops.one_hot(gold, num_tags, dtype=dtype), (1, 0, 2))
        packed = ops.concatenate([packed, gold], axis=-1)
    # shape: (1, from, to)
    transitions_3d = ops.expand_dims(transitions, 0)

    def step(carry, packed_t):
        alpha, score, previous = carry
        emissions_t, real_t, first_t = _split_step(packed_t, num_tags)
        # shape: (batch, from, to) -> (batch, to): every way into each tag, summed in log space.
        into = ops.logsumexp(ops.expand_dims(alpha, -1) + transitions_3d, axis=1)
        new_alpha = ops.where(first_t, start + emissions_t, into + emissions_t)
        alpha = ops.where(real_t, new_alpha, alpha)
        if tags is not None:
            gold_t = packed_t[:, num_tags + 2 :]
            # shape: (batch,): T[y_prev, y_t] as previous_onehot @ T @ gold_onehot.
            transition = ops.sum(ops.matmul(previous, transitions) * gold_t, axis=-1)
            entry = ops.where(first_t[:, 0], ops.sum(start * gold_t, axis=-1), transition)
            increment = ops.sum(emissions_t * gold_t, axis=-1) + entry
            score = score + ops.where(real_t[:, 0], increment, ops.zeros_like(increment))
            previous = ops.where(real_t, gold_t, previous)
        return alpha, score, previous

    # shape: (batch, tags), zeros whose batch size follows the inputs' (also with no time step)
    zeros = ops.zeros_like(ops.sum(emissions, axis=1))
    alpha, score, previous = _fold(step, (zeros, zeros[:, 0], zeros), packed)
    has_any = ops.any(mask, axis=1)
    log_partition = ops.logsumexp(alpha + end, axis=-1)
    log_partition = ops.where(has_any, log_partition, ops.zeros_like(log_partition))
    if tags is None:
        return log_partition, None
    score = score + ops.where(has_any, ops.sum(end * previous, axis=-1), ops.zeros_like(score))
    return log_partition, score


def crf_viterbi(emissions, mask, transitions, start, end, pad_tag=0):
    """The best tag sequence of every row and its score (Viterbi).

    Args:
        emissions: float `(batch, time, num_tags)`.
        mask: boolean `(batch, time)`, True at real steps.
        transitions, start, end: as in `crf_forward`; -inf entries are never taken when any
            finite path exists.
        pad_tag: the tag written at padded steps.

    Returns:
        `(tags, scores)`: int32 `(batch, time)` with `pad_tag` at padded steps, and float
        `(batch,)` (0 for a row with no real step, -inf when every path is forbidden).
    """
    num_tags = emissions.shape[-1]
    packed = _scan_inputs(emissions, mask)
    transitions_3d = ops.expand_dims(transitions, 0)
    # shape: (batch, tags), zeros whose batch size follows the inputs' (also with no time step)
    zeros = ops.zeros_like(ops.sum(emissions, axis=1))
    zeros_int = ops.cast(zeros, "int32")
    # shape: (batch, tags): "stay on the same tag", the back-pointers of padded and first steps.
    identity = zeros_int + ops.expand_dims(ops.arange(num_tags, dtype="int32"), 0)

    def forward_step(carry, packed_t):
        alpha, _ = carry
        emissions_t, real_t, first_t = _split_step(packed_t, num_tags)
        # shape: (batch, from, to)
        candidates = ops.expand_dims(alpha, -1) + transitions_3d
        # shape: (batch, to): the best previous tag for each tag, and its score.
        best_previous = ops.cast(ops.argmax(candidates, axis=1), "int32")
        best = ops.max(candidates, axis=1)
        new_alpha = ops.where(first_t, start + emissions_t, best + emissions_t)
        alpha = ops.where(real_t, new_alpha, alpha)
        follows = ops.logical_and(real_t, ops.logical_not(first_t))
        pointers = ops.where(follows, best_previous, identity)
        return (alpha, pointers), (alpha, pointers)

    initial = (zeros, identity)
    (alpha, _), (_, pointers) = ops.scan(forward_step, initial, packed)
    # shape: (batch, tags)
    final = alpha + end
    scores = ops.max(final, axis=-1)
    last_tag = ops.cast(ops.argmax(final, axis=-1), "int32")

    def backward_step(tag_t, pointers_t):
        # shape: (batch,): the tag at the previous step, read from this step's back-pointers.
        previous = ops.take_along_axis(pointers_t, ops.expand_dims(tag_t, -1), axis=1)[:, 0]
        return previous, tag_t

    # pointers: (time, batch, tags); walked from the last step to the first, outputs in order.
    _, path = ops.scan(backward_step, last_tag, pointers, reverse=True)
    # shape: (batch, time)
    path = ops.transpose(path, (1, 0))
    path = ops.where(mask, path, ops.full_like(path, pad_tag))
    has_any = ops.any(mask, axis=1)
    scores = ops.where(has_any, scores, ops.zeros_like(scores))
    return path, scores


def _as_bool_array(value, name):
    """`value` as a boolean numpy array (0/1 accepted), or None."""
    if value is None:
        return None
    array = np.asarray(value)
    if array.dtype != np.bool_:
        if not np.all(np.isin(array, (0, 1))):
            raise ValueError(f"CRF: {name} must be boolean (or 0/1); got values {array}.")
        array = array.astype(bool)
    return array


@keras.saving.register_keras_serializable(package="nlpkit")
class CRF(keras.layers.Layer):
    """Linear-chain CRF on emission scores: Viterbi-decoded tags, and its loss when trained.

    Calling the layer decodes: emission scores `(batch, time, num_tags)` (a `Dense(num_tags)` on
    top of a BiLSTM, say) become the best tag sequence `(batch, time)`, int32, with `pad_tag` at
    padded steps. Given the gold tags as well, `crf(emissions, tags=gold)`, it also adds the batch
    mean of the negative log-likelihood `-log p(gold | emissions)` to the model's losses
    (`add_loss`), which is how it trains with `model.fit` on any backend (see the example).

    The weights are `transitions` `(num_tags, num_tags)` (`transitions[i, j]`: tag `i` followed by
    tag `j`), `start` and `end` `(num_tags,)`; `num_tags` comes from the emissions' last axis.
    With the default zero initializers an untrained CRF decodes the per-step argmax.

    The methods `decode`, `log_partition`, `sequence_score`, `log_likelihood` and
    `negative_log_likelihood` give the pieces, for custom training loops and for tests. Math runs
    in float32 under a float16/bfloat16 policy, in the compute dtype otherwise.

    Args:
        allowed_transitions: optional boolean `(num_tags, num_tags)`: `[i, j]` False forbids tag
            `i` followed by tag `j`. `iob2_allowed_transitions(tag_names)` and
            `bioes_allowed_transitions(tag_names)` build it and the two below.
        allowed_start: optional boolean `(num_tags,)`: False forbids a sequence to start there.
        allowed_end: optional boolean `(num_tags,)`: False forbids a sequence to end there.
        transitions_initializer: initializer of `transitions` (default "zeros").
        start_initializer: initializer of `start` (default "zeros").
        end_initializer: initializer of `end` (default "zeros").
        pad_tag: int written at padded steps of the decoded tags (default 0; use -1 to tell
            padding apart from tag 0).
        disallowed_score: the finite score a forbidden transition, start or end gets in the
            likelihood (default -10000.0). A gold sequence that breaks a constraint is thus
            possible but costs about this much; decoding never picks one.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float emission scores `(batch, time, num_tags)`.
        mask: optional boolean `(batch, time)`, True at real tokens. Picked up automatically from
            a masking layer upstream (`Embedding(mask_zero=True)`, a masked RNN); when absent
            every step is real.
        tags: optional int `(batch, time)` gold tags (any value at padded steps). When given, the
            mean negative log-likelihood over the batch is added with `add_loss`.
        inputs_mask: the same as `mask`; Keras passes the upstream mask under this name when
            `tags` is given (one `<argument>_mask` per tensor argument).

    Input shape: `(batch, time, num_tags)`. Output shape: `(batch, time)`, int32. The output
    keeps the input's mask.

    Example (a BiLSTM-CRF tagger: one model trains, one that shares its layers serves):

    ```python
    tag_names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    words = keras.Input(shape=(None,), dtype="int32", name="words")
    gold = keras.Input(shape=(None,), dtype="int32", name="tags")
    vectors = keras.layers.Embedding(10_000, 64, mask_zero=True)(words)
    states = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True))(vectors)
    emissions = keras.layers.Dense(len(tag_names))(states)
    crf = CRF(**iob2_allowed_transitions(tag_names))
    trainer = keras.Model({"words": words, "tags": gold}, crf(emissions, tags=gold))
    trainer.compile(optimizer="adam")  # the loss is the CRF's, added by the layer
    trainer.fit({"words": word_ids, "tags": tag_ids}, epochs=5)
    tagger = keras.Model(words, crf(emissions))  # same weights; save or export this one
    tagger.predict(word_ids)  # (batch, time) int32 tag ids, 0 at padding
    ```

    With `nlpkit.training.train`, build the trainer in `build_model`, pass `loss=None`, and give
    examples `({"words": ids, "tags": tags}, tags)`: padding both with 0 is fine, the mask comes
    from the words. The trainer's `val_loss` is then the dev set's mean NLL.
    """

    def __init__(
        self,
        allowed_transitions=None,
        allowed_start=None,
        allowed_end=None,
        transitions_initializer="zeros",
        start_initializer="zeros",
        end_initializer="zeros",
        pad_tag=0,
        disallowed_score=-10000.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.allowed_transitions = _as_bool_array(allowed_transitions, "allowed_transitions")
        self.allowed_start = _as_bool_array(allowed_start, "allowed_start")
        self.allowed_end = _as_bool_array(allowed_end, "allowed_end")
        self.transitions_initializer = keras.initializers.get(transitions_initializer)
        self.start_initializer = keras.initializers.get(start_initializer)
        self.end_initializer = keras.initializers.get(end_initializer)
        self.pad_tag = int(pad_tag)
        self.disallowed_score = float(disallowed_score)
        if not self.disallowed_score < 0 or not np.isfinite(self.disallowed_score):
            raise ValueError(
                f"CRF: disallowed_score must be a finite negative number; got {disallowed_score}."
            )
        self.num_tags = None

    def build(self, input_shape):
        require_sequence_shape(input_shape, "CRF", what="(batch, time, num_tags)")
        num_tags = int(input_shape[-1])
        self._check_constraints(num_tags)
        self.num_tags = num_tags
        # autocast=False: under a mixed policy the weights are read in their float32, not cast
        # down to float16 first; `_potentials` casts them to the math dtype.
        self.transitions = self.add_weight(
            name="transitions",
            shape=(num_tags, num_tags),
            initializer=self.transitions_initializer,
            autocast=False,
        )
        self.start = self.add_weight(
            name="start", shape=(num_tags,), initializer=self.start_initializer, autocast=False
        )
        self.end = self.add_weight(
            name="end", shape=(num_tags,), initializer=self.end_initializer, autocast=False
        )

    def _check_constraints(self, num_tags):
        for name, shape in (
            ("allowed_transitions", (num_tags, num_tags)),
            ("allowed_start", (num_tags,)),
            ("allowed_end", (num_tags,)),
        ):
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                raise ValueError(
                    f"CRF: {name} must have shape {shape} for emissions with {num_tags} tags; "
                    f"got shape {value.shape}."
                )
        for name in ("allowed_start", "allowed_end"):
            value = getattr(self, name)
            if value is not None and not value.any():
                raise ValueError(f"CRF: {name} forbids every tag; no sequence would be possible.")

    # --- the pieces ---------------------------------------------------------------------------

    def _prepare(self, emissions, mask):
        """Builds if needed; casts emissions to the math dtype; the boolean mask."""
        emissions = ops.convert_to_tensor(emissions)
        require_sequence_shape(emissions.shape, "CRF", what="(batch, time, num_tags)")
        if not self.built:
            self.build(emissions.shape)
        elif emissions.shape[-1] != self.num_tags:
            raise ValueError(
                f"CRF was built for emissions of shape (batch, time, {self.num_tags}); "
                f"got shape {tuple(emissions.shape)}."
            )
        dtype = "float32" if self.compute_dtype in _HALF_DTYPES else self.compute_dtype
        emissions = ops.cast(emissions, dtype)
        return emissions, sequence_mask(emissions, mask)

    def _potentials(self, dtype, forbidden):
        """`(transitions, start, end)` in `dtype`, forbidden entries replaced by `forbidden`."""
        potentials = []
        for weight, allowed in (
            (self.transitions, self.allowed_transitions),
            (self.start, self.allowed_start),
            (self.end, self.allowed_end),
        ):
            value = ops.cast(weight, dtype)
            if allowed is not None:
                # `where`, not a sum: a forbidden entry's weight gets no gradient at all.
                value = ops.where(ops.convert_to_tensor(allowed), value, forbidden)
            potentials.append(value)
        return potentials

    def log_partition(self, emissions, mask=None):
        """`log Z`: log-sum-exp of the scores of every tag sequence, float `(batch,)`."""
        emissions, mask = self._prepare(emissions, mask)
        potentials = self._potentials(emissions.dtype, self.disallowed_score)
        return crf_forward(emissions, mask, *potentials)[0]

    def sequence_score(self, emissions, tags, mask=None):
        """The score of the tag sequences `tags` `(batch, time)`, float `(batch,)`."""
        emissions, mask = self._prepare(emissions, mask)
        potentials = self._potentials(emissions.dtype, self.disallowed_score)
        return crf_forward(emissions, mask, *potentials, tags=tags)[1]

    def log_likelihood(self, emissions, tags, mask=None):
        """`log p(tags | emissions) = score(tags) - log Z`, float `(batch,)` (0 for empty rows)."""
        emissions, mask = self._prepare(emissions, mask)
        potentials = self._potentials(emissions.dtype, self.disallowed_score)
        log_partition, score = crf_forward(emissions, mask, *potentials, tags=tags)
        return score - log_partition

    def negative_log_likelihood(self, emissions, tags, mask=None):
        """`-log p(tags | emissions)`, float `(batch,)`: the per-sequence training loss."""
        return -self.log_likelihood(emissions, tags, mask)

    def decode(self, emissions, mask=None):
        """Viterbi: `(tags, scores)`, the best paths int32 `(batch, time)` (`pad_tag` at padded
        steps) and their scores float `(batch,)` (0 for a row with no real step)."""
        emissions, mask = self._prepare(emissions, mask)
        potentials = self._potentials(emissions.dtype, float("-inf"))
        return crf_viterbi(emissions, mask, *potentials, pad_tag=self.pad_tag)

    # --- the layer ----------------------------------------------------------------------------

    def call(self, inputs, mask=None, tags=None, inputs_mask=None):
        # With two tensor arguments (inputs and tags), Keras hands the upstream mask over as
        # `inputs_mask` instead of `mask`.
        mask = inputs_mask if mask is None else mask
        if tags is not None:
            self.add_loss(ops.mean(self.negative_log_likelihood(inputs, tags, mask)))
        return self.decode(inputs, mask)[0]

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        require_sequence_shape(input_shape, "CRF", what="(batch, time, num_tags)")
        return (input_shape[0], input_shape[1])

    def compute_output_spec(self, inputs, mask=None, tags=None, inputs_mask=None):
        return keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype="int32")

    def get_config(self):
        def as_list(value):
            return None if value is None else value.tolist()

        return {
            **super().get_config(),
            "allowed_transitions": as_list(self.allowed_transitions),
            "allowed_start": as_list(self.allowed_start),
            "allowed_end": as_list(self.allowed_end),
            "transitions_initializer": keras.initializers.serialize(self.transitions_initializer),
            "start_initializer": keras.initializers.serialize(self.start_initializer),
            "end_initializer": keras.initializers.serialize(self.end_initializer),
            "pad_tag": self.pad_tag,
            "disallowed_score": self.disallowed_score,
        }


# --- constraints from tag names -----------------------------------------------------------------


def _parse_tags(tag_names, prefixes, scheme):
    """`(prefix, type)` per tag: `("O", None)` for "O", `("B", "PER")` for "B-PER"."""
    parsed = []
    for name in tag_names:
        if name == "O":
            parsed.append(("O", None))
            continue
        prefix, dash, entity = str(name).partition("-")
        if not dash or prefix not in prefixes or not entity:
            raise ValueError(
                f"{scheme} tag names are 'O' or one of {sorted(prefixes)} then '-' and a type "
                f"(as in 'B-PER'); got {name!r}."
            )
        parsed.append((prefix, entity))
    if len(set(tag_names)) != len(tag_names):
        raise ValueError(f"{scheme}: repeated tag name in {list(tag_names)}.")
    return parsed


def _allowed(tag_names, prefixes, scheme, transition_ok, start_ok, end_ok):
    parsed = _parse_tags(list(tag_names), prefixes, scheme)
    transitions = np.array([[transition_ok(a, b) for b in parsed] for a in parsed], dtype=bool)
    start = np.array([start_ok(tag) for tag in parsed], dtype=bool)
    end = np.array([end_ok(tag) for tag in parsed], dtype=bool)
    return {"allowed_transitions": transitions, "allowed_start": start, "allowed_end": end}


def iob2_allowed_transitions(tag_names):
    """The IOB2 constraints of `tag_names` ("O", "B-X", "I-X"), as `CRF` keyword arguments.

    `I-X` may only follow `B-X` or `I-X` (never `O`, nor a tag of another type) and may not
    start a sequence; everything else is allowed.

    Args:
        tag_names: the tag of each id, in id order, e.g. `["O", "B-PER", "I-PER"]`.

    Returns:
        A dict with boolean numpy arrays `allowed_transitions` `(n, n)`, `allowed_start` and
        `allowed_end` `(n,)`: `CRF(**iob2_allowed_transitions(tag_names))`.

    Raises:
        ValueError: a name that is not "O", "B-<type>" or "I-<type>", or a repeated name.
    """

    def transition_ok(previous, tag):
        return tag[0] != "I" or (previous[0] in ("B", "I") and previous[1] == tag[1])

    return _allowed(
        tag_names, {"B", "I"}, "IOB2", transition_ok, lambda t: t[0] != "I", lambda t: True
    )


def bioes_allowed_transitions(tag_names):
    """The BIOES constraints of `tag_names` ("O", "B-X", "I-X", "E-X", "S-X"), as `CRF` kwargs.

    Inside an entity (after `B-X` or `I-X`) only `I-X` or `E-X` may follow; outside one (at the
    start, after `O`, `E-Y` or `S-Y`) only `O`, `B-Y` or `S-Y` may come; a sequence may only end
    outside an entity (on `O`, `E-X` or `S-X`).

    Args:
        tag_names: the tag of each id, in id order, e.g. `["O", "B-PER", "I-PER", "E-PER",
            "S-PER"]`.

    Returns:
        A dict with boolean numpy arrays `allowed_transitions` `(n, n)`, `allowed_start` and
        `allowed_end` `(n,)`: `CRF(**bioes_allowed_transitions(tag_names))`.

    Raises:
        ValueError: a name that is not "O" or "B-", "I-", "E-", "S-" and a type, or a repeat.
    """

    def transition_ok(previous, tag):
        if previous[0] in ("B", "I"):
            return tag[0] in ("I", "E") and tag[1] == previous[1]
        return tag[0] in ("O", "B", "S")

    return _allowed(
        tag_names,
        {"B", "I", "E", "S"},
        "BIOES",
        transition_ok,
        lambda t: t[0] in ("O", "B", "S"),
        lambda t: t[0] in ("O", "E", "S"),
    )
