"""Sampling: `filter_logits` on hand-made distributions (top-p boundaries, top-k, temperature,
their order), `sample_tokens` frequencies against the renormalised kept probabilities, and
`sample_sequence` on a tiny stateful recurrent "model" checked against a NumPy copy of it: near-zero
temperature is argmax decoding, every token lies in the filtered set, log-probs and final state
are the model's, seeds reproduce (eagerly and in a `tf.function` with a signature), EOS, length 0
and argument validation."""

import numpy as np
import pytest
import tensorflow as tf

from nlpkit.decoding import filter_logits, greedy_search, sample_sequence, sample_tokens

PAD, BOS, EOS = 0, 2, 3
VOCAB = 8
DIM = 4
NEVER = -np.inf

# [0.5, 0.3, 0.15, 0.05] spread over ids in another order, so that rank is not id.
HAND_PROBS = np.array([0.05, 0.5, 0.15, 0.3])
HAND_BY_RANK = [1, 3, 2, 0]  # ids from the most probable down


def hand_logits():
    return tf.constant(np.log(HAND_PROBS)[np.newaxis], tf.float32)


def kept_ids(filtered):
    """The ids left finite in each row of filtered logits, as sets."""
    return [set(np.flatnonzero(np.isfinite(row)).tolist()) for row in np.asarray(filtered)]


def log_softmax(logits):
    top = logits.max()
    return logits - top - np.log(np.exp(logits - top).sum())


class TinyLanguageModel:
    """An RNN over tokens whose next-token distribution depends on the whole history through `h`.
    PAD and BOS are never generated; `eos_bias` is added to the EOS logit. The state is nested
    (`{"h": ..., "steps": (...,)}`) and counts the steps it has seen.

    `step_fn` is the TensorFlow model, `reference_step` the same in float64."""

    def __init__(self, seed, eos_bias=0.0):
        rng = np.random.default_rng(seed)
        self.embeddings = rng.normal(size=(VOCAB, DIM))
        self.recurrent = rng.normal(size=(DIM, DIM))
        self.output = rng.normal(size=(DIM, VOCAB)) * 2.0
        self.bias = np.zeros(VOCAB)
        self.bias[[PAD, BOS]] = NEVER
        self.bias[EOS] += eos_bias
        self.calls = 0

    def initial_state(self, seed, batch):
        h = np.random.default_rng(seed).normal(size=(batch, DIM)).astype("float32")
        return {"h": h, "steps": (np.zeros(batch, "int32"),)}

    def step_fn(self, tokens, state, time):
        self.calls += 1
        h = tf.tanh(
            state["h"] @ self.recurrent.astype("float32")
            + tf.gather(self.embeddings.astype("float32"), tokens)
        )
        logits = h @ self.output.astype("float32") + self.bias.astype("float32")
        return tf.nn.log_softmax(logits), {"h": h, "steps": (state["steps"][0] + 1,)}

    def reference_step(self, token, h):
        h = np.tanh(h @ self.recurrent + self.embeddings[token])
        return log_softmax(h @ self.output + self.bias), h


def replay(model, h, first_token, tokens):
    """`(log_probs per step, h after feeding first_token and tokens[:-1])` from NumPy."""
    h, previous, steps = np.asarray(h, "float64"), first_token, []
    for token in tokens:
        log_probs, next_h = model.reference_step(previous, h)
        steps.append(log_probs)
        h, previous = next_h, token
    return steps, h


def nucleus(log_probs, temperature, top_k, top_p):
    """The ids the module docstring's rule keeps, in float64: temperature, top-k, then top-p on
    the renormalised top-k distribution."""
    probs = np.exp((log_probs - log_probs.max()) / temperature)
    order = np.argsort(-probs, kind="stable")
    k = len(probs) if top_k in (0, None) or top_k >= len(probs) else top_k
    top = probs[order[:k]] / probs[order[:k]].sum()
    count = k if top_p >= 1 else int(np.searchsorted(np.cumsum(top), top_p) + 1)
    return set(order[: min(count, k)].tolist())


# --- filter_logits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("top_p", "ranks_kept"),
    [(0.3, 1), (0.5, 1), (0.75, 2), (0.8, 2), (0.81, 3), (0.95, 3), (0.96, 4), (1.0, 4)],
)
def test_top_p_keeps_the_smallest_most_probable_set_whose_mass_reaches_p(top_p, ranks_kept):
    filtered = filter_logits(hand_logits(), top_p=top_p).numpy()
    assert kept_ids(filtered) == [set(HAND_BY_RANK[:ranks_kept])]
    # The kept tokens keep their logits (up to a per-row constant): softmax renormalises them.
    kept = HAND_BY_RANK[:ranks_kept]
    expected = np.zeros(4)
    expected[kept] = HAND_PROBS[kept] / HAND_PROBS[kept].sum()
    np.testing.assert_allclose(tf.nn.softmax(filtered).numpy()[0], expected, atol=1e-6)


@pytest.mark.parametrize(
    ("probs", "top_p", "ranks_kept"),
    [
        # Binary fractions, exact in float32: a mass equal to p reaches it.
        ([0.125, 0.5, 0.125, 0.25], 0.5, 1),
        ([0.125, 0.5, 0.125, 0.25], 0.75, 2),
        ([0.125, 0.5, 0.125, 0.25], 0.875, 3),
        ([0.125, 0.5, 0.125, 0.25], 0.876, 4),
        # float32 puts 0.4 at 0.39999995 and 0.4 + 0.3 at 0.6999999: within rounding, they still
        # reach 0.4 and 0.7. Ties go to the lower id.
        ([0.3, 0.4, 0.3], 0.4, 1),
        ([0.3, 0.4, 0.3], 0.7, 2),
        ([0.3, 0.4, 0.3], 0.701, 3),
    ],
)
def test_top_p_boundaries_are_exact_up_to_float_rounding(probs, top_p, ranks_kept):
    probs = np.asarray(probs)
    filtered = filter_logits(tf.constant(np.log(probs)[np.newaxis], tf.float32), top_p=top_p)
    by_rank = np.argsort(-probs, kind="stable")
    assert kept_ids(filtered) == [set(by_rank[:ranks_kept].tolist())]


def test_temperature_top_k_and_their_order_with_top_p():
    logits = hand_logits()
    for top_k in (0, 4, 100):  # off
        assert kept_ids(filter_logits(logits, top_k=top_k)) == [{0, 1, 2, 3}]
    assert kept_ids(filter_logits(logits, top_k=1)) == [{1}]
    assert kept_ids(filter_logits(logits, top_k=3)) == [{1, 2, 3}]
    # Ties: exactly k survive, the lower ids first.
    tied = filter_logits(tf.zeros([2, 5]), top_k=tf.constant(2))
    assert kept_ids(tied) == [{0, 1}, {0, 1}]
    # Temperature 2: probabilities proportional to sqrt(p).
    tempered = tf.nn.softmax(filter_logits(logits, temperature=2.0)).numpy()[0]
    np.testing.assert_allclose(tempered, np.sqrt(HAND_PROBS) / np.sqrt(HAND_PROBS).sum(), rtol=1e-5)
    # Top-p sees the tempered distribution: at 2 it is about [0.38, 0.29, 0.21, 0.12] by rank, so
    # p = 0.75 needs 3 tokens (at temperature 1, two).
    assert kept_ids(filter_logits(logits, temperature=2.0, top_p=0.75)) == [{1, 3, 2}]
    # Top-p works on the renormalised top-k distribution: top-2 is [0.625, 0.375], so p = 0.6
    # keeps one token; without top-k it keeps two (0.5 < 0.6).
    assert kept_ids(filter_logits(logits, top_k=2, top_p=0.6)) == [{1}]
    assert kept_ids(filter_logits(logits, top_p=0.6)) == [{1, 3}]
    # A tiny temperature does not overflow into NaN: the argmax stays, with probability 1.
    cold = tf.nn.softmax(filter_logits(logits * 1000.0, temperature=1e-30)).numpy()[0]
    np.testing.assert_array_equal(cold, [0.0, 1.0, 0.0, 0.0])


def test_tensor_parameters_in_a_signature_filter_as_python_numbers_do():
    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.float32),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
        ]
    )
    def signature(logits, temperature, top_k, top_p):
        return filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p)

    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(6, 9)) * 2, tf.float32)
    for temperature, top_k, top_p in [(1.0, 0, 1.0), (0.7, 3, 1.0), (1.3, 0, 0.8), (0.5, 5, 0.6)]:
        graph = signature(logits, temperature, top_k, top_p).numpy()
        eager = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p).numpy()
        np.testing.assert_allclose(graph, eager, rtol=1e-6)
        expected = [
            nucleus(row.astype("float64"), temperature, top_k, top_p) for row in logits.numpy()
        ]
        assert kept_ids(graph) == expected
    for bad in [(0.0, 0, 1.0), (-1.0, 0, 1.0), (np.nan, 0, 1.0), (np.inf, 0, 1.0),
                (1.0, -1, 1.0), (1.0, 0, 0.0), (1.0, 0, 1.5), (1.0, 0, np.nan)]:  # fmt: skip
        with pytest.raises(tf.errors.InvalidArgumentError):
            signature(logits, *bad)


# --- sample_tokens ------------------------------------------------------------------------------


def test_top_k_draws_only_among_the_k_most_probable_and_k_1_is_argmax():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(5, 12)).astype("float32")
    draws = 400
    # shape: (5 * draws, 12): each row of logits `draws` times, one draw per row.
    tiled = tf.constant(np.repeat(logits, draws, axis=0))
    rows = np.repeat(np.arange(5), draws)
    for k in (1, 3):
        tokens = sample_tokens(tiled, [3, k], top_k=k).numpy()
        assert tokens.dtype == np.int32 and tokens.shape == (5 * draws,)
        top = np.argsort(-logits, axis=-1)[:, :k]
        for row in range(5):
            drawn = set(tokens[rows == row].tolist())
            # Never outside the top k, and each of them drawn (the least likely has p > 0.05).
            assert drawn == set(top[row].tolist())
    np.testing.assert_array_equal(
        sample_tokens(tiled, [4, 4], top_k=1).numpy(), np.argmax(logits, -1)[rows]
    )


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p", "kept", "weights"),
    [
        (1.0, 0, 0.9, [1, 3, 2], [0.5, 0.3, 0.15]),
        (1.0, 2, 1.0, [1, 3], [0.5, 0.3]),
        (2.0, 0, 1.0, [1, 3, 2, 0], np.sqrt([0.5, 0.3, 0.15, 0.05])),
        (1.0, 0, 0.8, [1, 3], [0.5, 0.3]),
    ],
)
def test_draw_frequencies_are_the_renormalised_kept_probabilities(
    temperature, top_k, top_p, kept, weights
):
    draws = 20000
    logits = tf.tile(hand_logits(), [draws, 1])
    tokens = sample_tokens(logits, [7, 11], temperature=temperature, top_k=top_k, top_p=top_p)
    frequencies = np.bincount(tokens.numpy(), minlength=4) / draws
    expected = np.zeros(4)
    expected[kept] = np.asarray(weights) / np.sum(weights)
    # 5 standard deviations of a frequency; excluded tokens exactly 0.
    tolerance = 5 * np.sqrt(expected * (1 - expected) / draws)
    assert np.all(np.abs(frequencies - expected) <= tolerance), (frequencies, expected)
    assert np.all(frequencies[expected == 0] == 0)


def test_a_seed_reproduces_draws():
    logits = tf.tile(hand_logits(), [50, 1])
    first = sample_tokens(logits, [1, 2]).numpy()
    np.testing.assert_array_equal(sample_tokens(logits, tf.constant([1, 2], tf.int64)), first)
    assert not np.array_equal(sample_tokens(logits, [1, 3]).numpy(), first)


# --- sample_sequence ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 12345])
def test_near_zero_temperature_is_argmax_decoding(seed):
    model = TinyLanguageModel(seed=seed)
    state = model.initial_state(seed=seed + 100, batch=3)
    first = np.array([4, 5, 4], "int32")
    length = 10
    result = sample_sequence(
        model.step_fn, state, first, length=length, seed=seed, temperature=1e-4
    )
    ids = result.ids.numpy()
    assert ids.shape == (3, length)
    for row in range(3):
        h, previous = state["h"][row].astype("float64"), first[row]
        for time in range(length):
            log_probs, h = model.reference_step(previous, h)
            best, second = np.sort(log_probs)[::-1][:2]
            assert best - second > 0.01  # so 1e-4 leaves the runner-up below e^-100
            previous = int(np.argmax(log_probs))
            assert ids[row, time] == previous
    # The same as the greedy search (with an EOS that never comes), from a shared first token.
    same_first = np.full(3, 4, "int32")
    sampled = sample_sequence(
        model.step_fn, state, same_first, length=length, seed=[seed, 9], temperature=1e-4
    )
    greedy = greedy_search(model.step_fn, state, 3, bos_id=4, eos_id=-1, max_length=length)
    np.testing.assert_array_equal(sampled.ids.numpy(), greedy.ids.numpy())
    np.testing.assert_allclose(sampled.log_probs.numpy(), greedy.log_probs.numpy(), rtol=1e-5)


def test_tokens_lie_in_the_filtered_set_and_log_probs_and_state_are_the_models():
    model = TinyLanguageModel(seed=30)
    state = model.initial_state(seed=31, batch=6)
    first = np.array([1, 3, 4, 5, 6, 7], "int32")
    length, temperature, top_k, top_p = 12, 1.5, 4, 0.9
    result = sample_sequence(
        model.step_fn,
        state,
        first,
        length=length,
        seed=[5, 6],
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
    )
    ids, log_probs = result.ids.numpy(), result.log_probs.numpy()
    assert ids.dtype == np.int32 and log_probs.dtype == np.float32
    assert len(np.unique(ids)) > 2  # really random, not one greedy path
    for row in range(6):
        steps, h = replay(model, state["h"][row], first[row], ids[row])
        for time, step_log_probs in enumerate(steps):
            assert ids[row, time] in nucleus(step_log_probs, temperature, top_k, top_p)
        # Under the unfiltered model distribution, not the tempered or renormalised one.
        total = sum(step[token] for step, token in zip(steps, ids[row], strict=True))
        np.testing.assert_allclose(log_probs[row], total, rtol=1e-5, atol=1e-5)
        # The final state has read first_tokens and every sampled token but the last.
        np.testing.assert_allclose(result.final_state["h"][row], h, atol=1e-5)
    np.testing.assert_array_equal(result.final_state["steps"][0], length)


def test_the_same_seed_gives_the_same_ids_eagerly_and_in_a_signature():
    model = TinyLanguageModel(seed=40)
    state = model.initial_state(seed=41, batch=4)
    first = np.array([4, 5, 6, 7], "int32")

    @tf.function(
        input_signature=[
            {
                "h": tf.TensorSpec([None, DIM], tf.float32),
                "steps": (tf.TensorSpec([None], tf.int32),),
            },
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([2], tf.int64),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
        ]
    )
    def signature(state, first, length, seed, temperature, top_k, top_p):
        return sample_sequence(
            model.step_fn,
            state,
            first,
            length=length,
            seed=seed,
            temperature=temperature,
            top_k=top_k,
            top_p=top_p,
            eos_id=EOS,
        )

    def run(seed, length=12, temperature=1.0, top_k=0, top_p=1.0):
        arguments = (np.array(seed, "int64"), temperature, top_k, top_p)
        return signature(state, first, length, *arguments)

    graph = run([8, 9])
    np.testing.assert_array_equal(run([8, 9]).ids, graph.ids)
    eager = sample_sequence(model.step_fn, state, first, length=12, seed=[8, 9], eos_id=EOS)
    np.testing.assert_array_equal(eager.ids, graph.ids)
    np.testing.assert_allclose(eager.log_probs, graph.log_probs, rtol=1e-5)
    # A scalar seed s is [s, 0].
    scalar = sample_sequence(model.step_fn, state, first, length=12, seed=8, eos_id=EOS)
    np.testing.assert_array_equal(scalar.ids, run([8, 0]).ids)
    # Another seed: 4 rows of 12 tokens from about 6 each step, the same only by a fluke.
    assert not np.array_equal(run([8, 10]).ids, graph.ids)
    assert not np.array_equal(scalar.ids, graph.ids)
    # The same graph filters with tensor parameters and samples nothing for length 0.
    for_top_1 = run([1, 1], top_k=1)
    np.testing.assert_array_equal(for_top_1.ids, run([2, 2], temperature=0.3, top_p=0.01).ids)
    empty = run([1, 1], length=0)
    assert empty.ids.shape == (4, 0)
    np.testing.assert_array_equal(empty.log_probs, 0.0)
    # Bad requests are errors, not hangs or NaN.
    for bad in [{"temperature": 0.0}, {"temperature": -2.0}, {"temperature": np.nan},
                {"top_k": -1}, {"top_p": 0.0}, {"top_p": 1.01}]:  # fmt: skip
        with pytest.raises(tf.errors.InvalidArgumentError):
            run([1, 1], **bad)


def test_eos_ends_rows_and_the_loop_stops_when_every_row_has_ended():
    model = TinyLanguageModel(seed=50, eos_bias=1.5)
    state = model.initial_state(seed=51, batch=6)
    first = np.full(6, 4, "int32")
    length = 40
    model.calls = 0
    result = sample_sequence(
        model.step_fn, state, first, length=length, seed=[3, 3], eos_id=EOS
    )
    ids, log_probs = result.ids.numpy(), result.log_probs.numpy()
    assert ids.shape == (6, length)  # always `length` columns, PAD after the end
    ends = []
    for row in range(6):
        assert EOS in ids[row]
        end = int(np.argmax(ids[row] == EOS)) + 1
        ends.append(end)
        np.testing.assert_array_equal(ids[row, end:], PAD)
        assert PAD not in ids[row, :end]
        steps, _ = replay(model, state["h"][row], first[row], ids[row, :end])
        total = sum(step[token] for step, token in zip(steps, ids[row, :end], strict=True))
        np.testing.assert_allclose(log_probs[row], total, rtol=1e-5, atol=1e-5)
    # Eagerly every step is a Python call: the loop ran until the last row ended, no further.
    assert len(set(ends)) > 1
    assert model.calls == max(ends) < length


def test_length_zero_samples_nothing_and_never_calls_the_model():
    model = TinyLanguageModel(seed=60)
    state = model.initial_state(seed=61, batch=2)
    for length in (0, -3, tf.constant(0)):
        model.calls = 0
        result = sample_sequence(model.step_fn, state, [4, 5], length=length, seed=1)
        assert result.ids.shape == (2, 0) and result.ids.dtype == tf.int32
        np.testing.assert_array_equal(result.log_probs, [0.0, 0.0])
        np.testing.assert_array_equal(result.final_state["h"], state["h"])
        assert model.calls == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"temperature": 0}, "greedy"),
        ({"temperature": -0.5}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"seed": [1, 2, 3]}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_python_arguments_raise_value_error(arguments, message):
    model = TinyLanguageModel(seed=70)
    state = model.initial_state(seed=71, batch=2)
    with pytest.raises(ValueError, match=message):
        sample_sequence(model.step_fn, state, [4, 5], length=3, **{"seed": 1, **arguments})
    if "seed" not in arguments:
        with pytest.raises(ValueError, match=message):
            filter_logits(hand_logits(), **arguments)
        with pytest.raises(ValueError, match=message):
            sample_tokens(hand_logits(), [1, 2], **arguments)
    assert model.calls == 0
