"""Greedy and beam search on a tiny recurrent "model" with an attention memory, checked against a
NumPy copy of the model: beam search with a large enough beam against brute-force enumeration of
every hypothesis (plain and length-normalised scores, n-best lists), every returned hypothesis
rescored, EOS and per-example limits, batch equals one by one, beam 1 equals greedy, a
`tf.function` with unknown batch size and a tensor beam size equals eager, and termination."""

import numpy as np
import pytest
import tensorflow as tf

from nlpkit.decoding import beam_search, gnmt_length_penalty, greedy_search, tile_beams

PAD, OOV, BOS, EOS = 0, 1, 2, 3
VOCAB = 6  # the four reserved ids and two words: OOV, EOS and the words can be generated
DIM = 3
MEMORY = 2  # "source" positions the model attends over
NEVER = -np.inf


def numpy(structure):
    return tf.nest.map_structure(lambda tensor: tensor.numpy(), structure)


def log_softmax(logits):
    top = logits.max()
    return logits - top - np.log(np.exp(logits - top).sum())


class TinyDecoder:
    """An RNN whose next-token distribution depends on the whole history (through `h`), the time
    and a per-example memory it attends over. PAD and BOS are never generated (log-prob -inf);
    `eos_bias` is added to the EOS logit (-inf: EOS never comes).

    `step_fn` is the TensorFlow model for the searches, `reference_step` the same in float64."""

    def __init__(self, seed, eos_bias=0.0):
        rng = np.random.default_rng(seed)
        self.embeddings = rng.normal(size=(VOCAB, DIM))
        self.recurrent = rng.normal(size=(DIM, DIM))
        self.output = rng.normal(size=(DIM, VOCAB)) * 1.5
        self.time_weights = rng.normal(size=DIM)
        self.bias = np.zeros(VOCAB)
        self.bias[[PAD, BOS]] = NEVER
        self.bias[EOS] += eos_bias

    def initial_state(self, seed, batch):
        rng = np.random.default_rng(seed)
        return {
            "h": rng.normal(size=(batch, DIM)).astype("float32"),
            "memory": rng.normal(size=(batch, MEMORY, DIM)).astype("float32"),
        }

    def step_fn(self, tokens, state, time):
        h, memory = state["h"], state["memory"]
        # shape: (n, memory): attention over the memory, from the previous h.
        weights = tf.nn.softmax(tf.einsum("nsd,nd->ns", memory, h))
        context = tf.einsum("ns,nsd->nd", weights, memory)
        h = tf.tanh(
            h @ self.recurrent.astype("float32")
            + tf.gather(self.embeddings.astype("float32"), tokens)
            + context
            + tf.cast(time, tf.float32) * self.time_weights.astype("float32")
        )
        logits = h @ self.output.astype("float32") + self.bias.astype("float32")
        return tf.nn.log_softmax(logits), {"h": h, "memory": memory}

    def reference_step(self, token, h, memory, time):
        scores = memory @ h
        weights = np.exp(scores - scores.max())
        weights /= weights.sum()
        h = np.tanh(
            h @ self.recurrent
            + self.embeddings[token]
            + weights @ memory
            + time * self.time_weights
        )
        return log_softmax(h @ self.output + self.bias), h

    def reference_log_prob(self, tokens, h, memory):
        """The summed log-probability of generating `tokens` after BOS."""
        h, memory = np.asarray(h, "float64"), np.asarray(memory, "float64")
        total, previous = 0.0, BOS
        for time, token in enumerate(tokens):
            log_probs, h = self.reference_step(previous, h, memory, time)
            total += log_probs[token]
            previous = token
        return total

    def enumerate_hypotheses(self, h, memory, max_length):
        """{tokens: summed log-prob} of every hypothesis with nonzero probability: each ends at
        its first EOS or has `max_length` tokens."""
        found = {}

        def extend(prefix, total, h, time):
            previous = prefix[-1] if prefix else BOS
            log_probs, h = self.reference_step(previous, h, memory, time)
            for token in np.flatnonzero(np.isfinite(log_probs)):
                tokens = prefix + (int(token),)
                if token == EOS or len(tokens) == max_length:
                    found[tokens] = total + log_probs[token]
                else:
                    extend(tokens, total + log_probs[token], h, time + 1)

        extend((), 0.0, np.asarray(h, "float64"), 0)
        return found


def hypotheses(result, example):
    """The beams of one example of a beam search result as token tuples, best first."""
    ids, lengths = result.ids.numpy()[example], result.lengths.numpy()[example]
    return [tuple(row[:length].tolist()) for row, length in zip(ids, lengths, strict=True)]


def assert_well_formed(ids, lengths, limits):
    """Rows `(n, time)` of generated ids: the hypothesis, then only PAD; it ends at its first EOS
    or at its limit; no PAD or BOS inside (the model never gives them)."""
    for row, length, limit in zip(ids, lengths, limits, strict=True):
        assert 1 <= length <= limit
        hypothesis = row[:length].tolist()
        np.testing.assert_array_equal(row[length:], PAD)
        assert EOS not in hypothesis[:-1]
        assert hypothesis[-1] == EOS or length == limit
        assert PAD not in hypothesis and BOS not in hypothesis


# --- the helpers --------------------------------------------------------------------------------


def test_gnmt_length_penalty_is_the_wu_et_al_formula():
    lengths = np.array([0, 1, 4, 7, 30])
    penalty = gnmt_length_penalty(tf.constant(lengths), 0.6).numpy()
    np.testing.assert_allclose(penalty, ((5.0 + lengths) / 6.0) ** 0.6, rtol=1e-6)
    assert penalty.dtype == np.float32
    assert float(gnmt_length_penalty(7, 1.0)) == pytest.approx(2.0)
    np.testing.assert_array_equal(gnmt_length_penalty(tf.constant(lengths), 0.0).numpy(), 1.0)


def test_tile_beams_keeps_the_copies_of_an_example_together():
    structure = {"h": tf.constant([[1, 10], [2, 20]]), "nested": (tf.constant([5, 6]),)}
    tiled = numpy(tile_beams(structure, 3))
    assert tiled["h"].tolist() == [[1, 10]] * 3 + [[2, 20]] * 3
    assert tiled["nested"][0].tolist() == [5, 5, 5, 6, 6, 6]
    assert numpy(tile_beams(structure, tf.constant(2)))["nested"][0].tolist() == [5, 5, 6, 6]


# --- against enumeration ------------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_a_large_enough_beam_finds_the_brute_force_n_best(alpha):
    decoder = TinyDecoder(seed=1)
    state = decoder.initial_state(seed=2, batch=2)
    max_length = 4
    # 4 generable tokens, one of them EOS: 1 + 3 + 9 + 27 + 81 hypotheses, fewer than the beam.
    count, beam_size = 121, 128
    result = beam_search(
        decoder.step_fn,
        state,
        2,
        beam_size=beam_size,
        bos_id=BOS,
        eos_id=EOS,
        max_length=max_length,
        length_penalty=alpha,
    )
    scores, log_probs = result.scores.numpy(), result.log_probs.numpy()
    for example in range(2):
        found = decoder.enumerate_hypotheses(
            state["h"][example], state["memory"][example], max_length
        )
        assert len(found) == count
        normalised = {
            tokens: total / ((5.0 + len(tokens)) / 6.0) ** alpha for tokens, total in found.items()
        }
        ranking = sorted(normalised.values(), reverse=True)
        beams = hypotheses(result, example)[:count]
        # Every hypothesis once, each with its own score, ranked as the enumeration ranks them
        # (compared by score, so that near-ties of float32 and float64 cannot reorder them).
        assert sorted(beams) == sorted(found)
        best = max(normalised, key=normalised.get)
        assert beams[0] == best
        np.testing.assert_allclose(scores[example, :count], ranking, rtol=1e-5, atol=1e-5)
        for k, tokens in enumerate(beams):
            np.testing.assert_allclose(scores[example, k], normalised[tokens], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(log_probs[example, k], found[tokens], rtol=1e-5, atol=1e-5)
        # The beams no hypothesis is left for.
        assert np.all(np.isneginf(scores[example, count:]))
        np.testing.assert_array_equal(result.lengths.numpy()[example, count:], 0)
        np.testing.assert_array_equal(result.ids.numpy()[example, count:], PAD)


def test_a_pruning_beam_returns_well_formed_correctly_scored_hypotheses():
    decoder = TinyDecoder(seed=3)
    state = decoder.initial_state(seed=4, batch=3)
    limits = np.array([2, 6, 4])
    alpha = 0.6
    result = beam_search(
        decoder.step_fn,
        state,
        3,
        beam_size=3,
        bos_id=BOS,
        eos_id=EOS,
        max_length=tf.constant(limits),
        length_penalty=alpha,
    )
    ids, lengths, scores = numpy((result.ids, result.lengths, result.scores))
    assert ids.dtype == np.int32 and lengths.dtype == np.int32
    assert ids.shape[:2] == (3, 3) and ids.shape[2] <= limits.max()
    for example in range(3):
        assert_well_formed(ids[example], lengths[example], [limits[example]] * 3)
        beams = hypotheses(result, example)
        assert len(set(beams)) == 3
        assert np.all(np.diff(scores[example]) <= 0)  # best first
        for k, tokens in enumerate(beams):
            # Rescoring through the model from BOS only agrees if the state followed each beam's
            # own history through every reorder.
            total = decoder.reference_log_prob(
                tokens, state["h"][example], state["memory"][example]
            )
            np.testing.assert_allclose(result.log_probs[example, k], total, rtol=1e-5, atol=1e-5)
            expected = total / ((5.0 + len(tokens)) / 6.0) ** alpha
            np.testing.assert_allclose(scores[example, k], expected, rtol=1e-5, atol=1e-5)
    # The limit-2 example can only have hypotheses of at most 2 tokens, but the search ran longer.
    assert lengths[0].max() <= 2 < ids.shape[2]


def test_greedy_takes_the_best_token_at_every_step_and_stops_at_eos_or_the_limit():
    decoder = TinyDecoder(seed=5)
    state = decoder.initial_state(seed=6, batch=4)
    limits = np.array([1, 3, 5, 7])
    result = greedy_search(
        decoder.step_fn, state, 4, bos_id=BOS, eos_id=EOS, max_length=tf.constant(limits)
    )
    ids, lengths, scores = numpy((result.ids, result.lengths, result.scores))
    assert ids.shape == (4, lengths.max())
    assert_well_formed(ids, lengths, limits)
    np.testing.assert_array_equal(result.log_probs.numpy(), scores)
    for example in range(4):
        h, memory = state["h"][example].astype("float64"), state["memory"][example]
        previous, total = BOS, 0.0
        for time in range(lengths[example]):
            log_probs, h = decoder.reference_step(previous, h, memory, time)
            previous = int(np.argmax(log_probs))
            total += log_probs[previous]
            assert ids[example, time] == previous
        np.testing.assert_allclose(scores[example], total, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_size_1_is_greedy_search(alpha):
    decoder = TinyDecoder(seed=7)
    state = decoder.initial_state(seed=8, batch=4)
    limits = tf.constant([2, 5, 5, 3])
    greedy = greedy_search(decoder.step_fn, state, 4, bos_id=BOS, eos_id=EOS, max_length=limits)
    beam = beam_search(
        decoder.step_fn,
        state,
        4,
        beam_size=1,
        bos_id=BOS,
        eos_id=EOS,
        max_length=limits,
        length_penalty=alpha,
    )
    np.testing.assert_array_equal(beam.ids.numpy()[:, 0], greedy.ids.numpy())
    np.testing.assert_array_equal(beam.lengths.numpy()[:, 0], greedy.lengths.numpy())
    np.testing.assert_allclose(beam.log_probs.numpy()[:, 0], greedy.scores.numpy(), rtol=1e-6)
    penalty = ((5.0 + greedy.lengths.numpy()) / 6.0) ** alpha
    np.testing.assert_allclose(
        beam.scores.numpy()[:, 0], greedy.scores.numpy() / penalty, rtol=1e-5, atol=1e-6
    )


# --- batches, graphs, termination ---------------------------------------------------------------


def test_a_batch_gives_what_each_example_gives_alone():
    decoder = TinyDecoder(seed=9)
    state = decoder.initial_state(seed=10, batch=3)
    limits = [3, 5, 4]

    def search(state, batch, max_length):
        return (
            greedy_search(
                decoder.step_fn, state, batch, bos_id=BOS, eos_id=EOS, max_length=max_length
            ),
            beam_search(
                decoder.step_fn,
                state,
                batch,
                beam_size=3,
                bos_id=BOS,
                eos_id=EOS,
                max_length=max_length,
                length_penalty=0.6,
            ),
        )

    batched = numpy(search(state, 3, tf.constant(limits)))
    for example, limit in enumerate(limits):
        alone_state = {name: value[example : example + 1] for name, value in state.items()}
        alone = numpy(search(alone_state, 1, limit))
        for batched_result, alone_result in zip(batched, alone, strict=True):
            ids, time = batched_result.ids[example], alone_result.ids.shape[-1]
            np.testing.assert_array_equal(ids[..., :time], alone_result.ids[0])
            np.testing.assert_array_equal(ids[..., time:], PAD)
            np.testing.assert_array_equal(batched_result.lengths[example], alone_result.lengths[0])
            np.testing.assert_allclose(
                batched_result.scores[example], alone_result.scores[0], rtol=1e-5, atol=1e-6
            )


def test_inside_a_tf_function_with_unknown_batch_and_memory_sizes_and_a_tensor_beam_size():
    decoder = TinyDecoder(seed=11)
    state = decoder.initial_state(seed=12, batch=3)
    limits = np.array([4, 2, 5], "int32")

    @tf.function(
        input_signature=[
            {
                "h": tf.TensorSpec([None, DIM], tf.float32),
                "memory": tf.TensorSpec([None, None, DIM], tf.float32),
            },
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.int32),
        ]
    )
    def search(state, max_length, beam_size):
        batch = tf.shape(max_length)[0]
        return (
            greedy_search(
                decoder.step_fn, state, batch, bos_id=BOS, eos_id=EOS, max_length=max_length
            ),
            beam_search(
                decoder.step_fn,
                state,
                batch,
                beam_size=beam_size,
                bos_id=BOS,
                eos_id=EOS,
                max_length=max_length,
                length_penalty=0.6,
            ),
        )

    graph = numpy(search(state, limits, tf.constant(4)))
    eager = numpy(search.python_function(state, limits, 4))
    assert graph[1].ids.shape[:2] == (3, 4)
    for graph_result, eager_result in zip(graph, eager, strict=True):
        np.testing.assert_array_equal(graph_result.ids, eager_result.ids)
        np.testing.assert_array_equal(graph_result.lengths, eager_result.lengths)
        np.testing.assert_allclose(graph_result.scores, eager_result.scores, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            graph_result.log_probs, eager_result.log_probs, rtol=1e-5, atol=1e-6
        )
    # The same graph with another batch, memory and beam size.
    other = decoder.initial_state(seed=13, batch=1)
    other["memory"] = np.concatenate([other["memory"]] * 3, axis=1)
    second = search(other, np.array([3], "int32"), tf.constant(2))[1]
    assert second.ids.shape[:2] == (1, 2)
    assert_well_formed(second.ids.numpy()[0], second.lengths.numpy()[0], [3, 3])


def test_a_model_that_never_says_eos_stops_at_the_limit():
    decoder = TinyDecoder(seed=14, eos_bias=NEVER)
    state = decoder.initial_state(seed=15, batch=2)
    greedy = greedy_search(decoder.step_fn, state, 2, bos_id=BOS, eos_id=EOS, max_length=5)
    beam = beam_search(
        decoder.step_fn, state, 2, beam_size=3, bos_id=BOS, eos_id=EOS, max_length=[5, 2]
    )
    assert greedy.ids.shape == (2, 5)
    np.testing.assert_array_equal(greedy.lengths.numpy(), 5)
    assert beam.ids.shape == (2, 3, 5)
    np.testing.assert_array_equal(beam.lengths.numpy(), [[5, 5, 5], [2, 2, 2]])
    assert not np.any(beam.ids.numpy() == EOS)
    np.testing.assert_array_equal(beam.ids.numpy()[1, :, 2:], PAD)


def test_the_search_stops_as_soon_as_every_hypothesis_has_ended():
    decoder = TinyDecoder(seed=16, eos_bias=8.0)
    state = decoder.initial_state(seed=17, batch=2)
    greedy = greedy_search(decoder.step_fn, state, 2, bos_id=BOS, eos_id=EOS, max_length=50)
    assert greedy.ids.numpy().tolist() == [[EOS], [EOS]]
    np.testing.assert_array_equal(greedy.lengths.numpy(), 1)
    beam = beam_search(
        decoder.step_fn, state, 2, beam_size=2, bos_id=BOS, eos_id=EOS, max_length=50
    )
    # [EOS] and one word then EOS: both ended after 2 steps.
    assert beam.ids.shape == (2, 2, 2)
    np.testing.assert_array_equal(beam.ids.numpy()[:, 0], [[EOS, PAD], [EOS, PAD]])
    np.testing.assert_array_equal(beam.ids.numpy()[:, 1, 1], EOS)


def test_beams_left_without_a_hypothesis_do_not_keep_the_search_going():
    def only_eos(tokens, state, time):
        # shape: (n, vocab): EOS certain, everything else impossible.
        log_probs = tf.math.log(tf.one_hot(tf.fill(tf.shape(tokens), EOS), VOCAB))
        return log_probs, state

    beam = beam_search(only_eos, (), 2, beam_size=3, bos_id=BOS, eos_id=EOS, max_length=20)
    assert beam.ids.numpy().tolist() == [[[EOS], [PAD], [PAD]]] * 2
    assert beam.lengths.numpy().tolist() == [[1, 0, 0]] * 2
    np.testing.assert_array_equal(beam.scores.numpy()[:, 0], 0.0)
    assert np.all(np.isneginf(beam.scores.numpy()[:, 1:]))


def test_rows_that_have_stopped_are_fed_pad():
    decoder = TinyDecoder(seed=20)
    state = decoder.initial_state(seed=21, batch=2)
    fed = []

    def recording_step_fn(tokens, state, time):
        fed.append(tokens.numpy())
        return decoder.step_fn(tokens, state, time)

    # More beams than the 4 first tokens: beams without a hypothesis from the start.
    beam = beam_search(
        recording_step_fn, state, 2, beam_size=8, bos_id=BOS, eos_id=EOS, max_length=3
    )
    assert len(fed) == beam.ids.shape[-1] == 3
    np.testing.assert_array_equal(fed[0], BOS)
    later = np.concatenate(fed[1:])
    # PAD (stopped rows) or a token the model generates; never BOS, which it cannot generate.
    assert set(later.tolist()) <= {PAD, OOV, EOS, 4, 5} and PAD in later


def test_a_zero_limit_generates_nothing():
    decoder = TinyDecoder(seed=18)
    state = decoder.initial_state(seed=19, batch=2)
    greedy = greedy_search(decoder.step_fn, state, 2, bos_id=BOS, eos_id=EOS, max_length=0)
    assert greedy.ids.shape == (2, 0)
    np.testing.assert_array_equal(greedy.lengths.numpy(), 0)
    beam = beam_search(
        decoder.step_fn, state, 2, beam_size=2, bos_id=BOS, eos_id=EOS, max_length=[0, 1]
    )
    assert beam.ids.shape == (2, 2, 1)
    assert beam.lengths.numpy()[0].tolist() == [0, 0]
    assert beam.scores.numpy()[0, 0] == 0.0 and np.isneginf(beam.scores.numpy()[0, 1])
    np.testing.assert_array_equal(beam.lengths.numpy()[1], 1)
