"""CRF against brute-force enumeration of every tag sequence in NumPy: log-partition, best path
and its score, sequence scores; NLL gradients against central finite differences; masks (padded
equals alone, empty rows, no NaN); IOB2/BIOES constraints; training with fit; config, `.keras`
save/load and a SavedModel that runs Viterbi in its graph without nlpkit."""

import contextlib
import itertools
import os

import keras
import numpy as np
import pytest

from nlpkit.layers.crf import CRF, bioes_allowed_transitions, iob2_allowed_transitions
from tests.layer_checks import (
    assert_config_round_trip,
    assert_model_saves_and_loads,
    backend_is_tensorflow,
    run_without_nlpkit,
)

PENALTY = -10000.0
IOB2_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
BIOES_TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "S-LOC"]


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def run(method, *arrays):
    """`method(*arrays)` as NumPy; compiled as a whole under JAX, where op-by-op eager execution
    would compile every op for every new shape (slow). The layer must be built already."""
    if keras.backend.backend() == "jax":
        import jax

        method = jax.jit(method)
    return keras.tree.map_structure(numpy, method(*arrays))


@pytest.fixture
def float64():
    """Lets float64 stay float64 (JAX computes in float32 unless x64 is on)."""
    if keras.backend.backend() == "jax":
        import jax

        context = jax.enable_x64(True)
    else:
        context = contextlib.nullcontext()
    with context:
        yield


# --- the NumPy reference: every tag sequence, one row at a time --------------------------------


def reference_potentials(params, constraints=None, forbidden=PENALTY):
    """`(transitions, start, end)` with forbidden entries replaced by `forbidden`."""
    transitions, start, end = (np.asarray(p, "float64") for p in params)
    if constraints:
        transitions = np.where(constraints["allowed_transitions"], transitions, forbidden)
        start = np.where(constraints["allowed_start"], start, forbidden)
        end = np.where(constraints["allowed_end"], end, forbidden)
    return transitions, start, end


def path_score(x, path, transitions, start, end):
    """Score of `path` over the rows of `x` (real steps only), summed term by term."""
    if len(path) == 0:
        return 0.0
    total = start[path[0]] + end[path[-1]]
    total += sum(x[t, tag] for t, tag in enumerate(path))
    total += sum(transitions[a, b] for a, b in zip(path[:-1], path[1:]))
    return total


def brute_force(x, transitions, start, end, allowed=None):
    """`(log_partition, best_path, best_score)` of `x` `(length, tags)` by enumeration.

    `allowed(path)` restricts the best path (not the partition) to the paths it accepts.
    """
    num_tags = x.shape[1]
    paths = list(itertools.product(range(num_tags), repeat=x.shape[0]))
    scores = np.array([path_score(x, p, transitions, start, end) for p in paths])
    top = scores.max()
    log_partition = top + np.log(np.exp(scores - top).sum())
    candidates = [i for i, p in enumerate(paths) if allowed is None or allowed(p)]
    best = max(candidates, key=lambda i: scores[i])
    return log_partition, list(paths[best]), scores[best]


def random_params(rng, num_tags):
    return (
        rng.normal(size=(num_tags, num_tags)),
        rng.normal(size=num_tags),
        rng.normal(size=num_tags),
    )


def crf_with(params, constraints=None, **kwargs):
    """A float64 CRF whose weights are `params`."""
    num_tags = len(params[1])
    layer = CRF(dtype="float64", **(constraints or {}), **kwargs)
    layer.build((None, None, num_tags))
    layer.set_weights([np.asarray(p, "float64") for p in params])
    return layer


def padded_batch(rng, lengths, num_tags, time, garbage=1e3):
    """Rows of the given lengths, right-, left- and hole-padded in turn; garbage at padding.

    Returns `(emissions, tags, mask, rows)`, `rows[b]` the real emissions and tags of row b.
    """
    emissions = np.full((len(lengths), time, num_tags), garbage)
    tags = np.full((len(lengths), time), -1)
    mask = np.zeros((len(lengths), time), dtype=bool)
    rows = []
    for b, length in enumerate(lengths):
        positions = np.arange(length)  # right padding
        if b % 3 == 1:
            positions = np.arange(time - length, time)  # left padding
        elif b % 3 == 2 and length < time:
            positions = np.sort(rng.choice(time, size=length, replace=False))  # holes
        x = rng.normal(size=(length, num_tags))
        y = rng.integers(num_tags, size=length)
        emissions[b, positions] = x
        tags[b, positions] = y
        mask[b, positions] = True
        rows.append((x, y))
    return emissions, tags, mask, rows


# --- values against enumeration ----------------------------------------------------------------


@pytest.mark.parametrize("num_tags", [2, 3, 4])
def test_matches_brute_force_for_lengths_1_to_5_with_masks(num_tags, float64):
    rng = np.random.default_rng(num_tags)
    params = random_params(rng, num_tags)
    layer = crf_with(params)
    lengths = [1, 2, 3, 4, 5, 3, 5, 1, 2, 4]
    emissions, tags, mask, rows = padded_batch(rng, lengths, num_tags, time=5)
    log_partition = run(layer.log_partition, emissions, mask)
    best_paths, best_scores = run(layer.decode, emissions, mask)
    scores = run(layer.sequence_score, emissions, tags, mask)
    log_likelihood = run(layer.log_likelihood, emissions, tags, mask)
    assert best_paths.dtype == np.int32
    for b, (x, y) in enumerate(rows):
        expected_log_z, expected_path, expected_best = brute_force(x, *params)
        np.testing.assert_allclose(log_partition[b], expected_log_z, rtol=1e-5, atol=1e-5)
        assert best_paths[b][mask[b]].tolist() == expected_path
        np.testing.assert_array_equal(best_paths[b][~mask[b]], 0)  # the pad tag
        np.testing.assert_allclose(best_scores[b], expected_best, rtol=1e-5, atol=1e-5)
        expected_score = path_score(x, y, *params)
        np.testing.assert_allclose(scores[b], expected_score, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(
            log_likelihood[b], expected_score - expected_log_z, rtol=1e-5, atol=1e-5
        )


def test_layer_call_decodes_and_keeps_the_mask(float64):
    rng = np.random.default_rng(7)
    layer = crf_with(random_params(rng, 3), pad_tag=-1)
    emissions, _, mask, _ = padded_batch(rng, [2, 4, 3], 3, time=4)
    tags = numpy(layer(emissions, mask=mask))
    np.testing.assert_array_equal(tags, numpy(layer.decode(emissions, mask)[0]))
    np.testing.assert_array_equal(tags[~mask], -1)
    assert numpy(layer.compute_mask(emissions, mask)).tolist() == mask.tolist()
    assert layer.compute_output_shape((None, 7, 3)) == (None, 7)


# --- masks ---------------------------------------------------------------------------------------


def test_padded_with_mask_equals_each_sequence_alone():
    rng = np.random.default_rng(3)
    num_tags, time = 4, 6
    layer = CRF(
        transitions_initializer=keras.initializers.RandomNormal(seed=1),
        start_initializer=keras.initializers.RandomNormal(seed=2),
        end_initializer=keras.initializers.RandomNormal(seed=3),
    )
    layer.build((None, None, num_tags))
    emissions, tags, mask, rows = padded_batch(rng, [2, 4, 5], num_tags, time)
    emissions = emissions.astype("float32")
    padded_nll = run(layer.negative_log_likelihood, emissions, tags, mask)
    padded_tags, padded_scores = run(layer.decode, emissions, mask)
    for b, (x, y) in enumerate(rows):
        alone = x[None].astype("float32")
        nll = run(layer.negative_log_likelihood, alone, y[None])
        alone_tags, alone_scores = run(layer.decode, alone)
        np.testing.assert_allclose(padded_nll[b], nll[0], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(padded_tags[b][mask[b]], alone_tags[0])
        np.testing.assert_allclose(padded_scores[b], alone_scores[0], rtol=1e-5, atol=1e-5)


def test_empty_rows_give_zeros_and_no_nan():
    layer = CRF(transitions_initializer=keras.initializers.RandomNormal(seed=1))
    emissions = np.random.default_rng(4).normal(size=(3, 4, 3)).astype("float32")
    emissions[0] = np.nan  # never read: every step of row 0 is padding
    mask = np.array([[0, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=bool)
    tags = np.array([[5, -1, 0, 0], [1, 2, 0, 0], [0, 0, 0, 0]])
    nll = numpy(layer.negative_log_likelihood(emissions, tags, mask))
    decoded, scores = (numpy(t) for t in layer.decode(emissions, mask))
    assert np.all(np.isfinite(nll)) and np.all(np.isfinite(scores))
    assert nll[0] == 0.0 and nll[2] == 0.0 and scores[0] == 0.0
    np.testing.assert_array_equal(decoded[[0, 2]], 0)
    # No time step at all.
    empty = np.zeros((2, 0, 3), dtype="float32")
    np.testing.assert_array_equal(numpy(layer.log_partition(empty)), [0.0, 0.0])
    assert numpy(layer(empty)).shape == (2, 0)


def test_empty_rows_have_finite_zero_gradients():
    if not backend_is_tensorflow():
        pytest.skip("this check uses tf.GradientTape; the JAX gradient test covers JAX")
    import tensorflow as tf

    layer = CRF()
    emissions = tf.Variable(np.zeros((2, 3, 4), dtype="float32"))
    mask = np.array([[0, 0, 0], [1, 1, 0]], dtype=bool)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer.negative_log_likelihood(emissions, np.ones((2, 3)), mask))
    gradients = tape.gradient(loss, [emissions, *layer.trainable_weights])
    assert all(np.all(np.isfinite(g.numpy())) for g in gradients)
    np.testing.assert_array_equal(gradients[0].numpy()[0], 0.0)


def test_mask_is_picked_up_from_an_embedding():
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(12, 4, mask_zero=True)(ids)
    emissions = keras.layers.Dense(3, name="emissions")(vectors)
    layer = CRF(pad_tag=-1, transitions_initializer=keras.initializers.RandomNormal(seed=5))
    model = keras.Model(ids, layer(emissions))
    emitter = keras.Model(ids, emissions)
    batch = np.array([[3, 4, 5, 0, 0], [0, 0, 7, 8, 0], [1, 2, 3, 4, 5]], dtype="int32")
    expected = numpy(layer.decode(emitter(batch), batch != 0)[0])
    actual = numpy(model(batch))
    np.testing.assert_array_equal(actual, expected)
    np.testing.assert_array_equal(actual[batch == 0], -1)


# --- gradients -----------------------------------------------------------------------------------


def reference_nll(emissions, tags, mask, params, constraints=None):
    """Summed NLL of the batch, by enumeration."""
    potentials = reference_potentials(params, constraints)
    total = 0.0
    for b in range(emissions.shape[0]):
        x, y = emissions[b][mask[b]], tags[b][mask[b]]
        if len(y):
            total += brute_force(x, *potentials)[0] - path_score(x, y, *potentials)
    return total


def finite_differences(function, values, eps=1e-6):
    """Central differences of `function(*values)` w.r.t. every entry of every value."""
    gradients = []
    for i, value in enumerate(values):
        gradient = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            shifted = [v.copy() for v in values]
            shifted[i][index] += eps
            up = function(*shifted)
            shifted[i][index] -= 2 * eps
            gradient[index] = (up - function(*shifted)) / (2 * eps)
        gradients.append(gradient)
    return gradients


def autodiff_nll_gradients(layer, emissions, tags, mask):
    """Gradients of the summed NLL w.r.t. emissions, transitions, start and end."""
    weights = [layer.transitions, layer.start, layer.end]
    if backend_is_tensorflow():
        import tensorflow as tf

        variable = tf.Variable(emissions)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer.negative_log_likelihood(variable, tags, mask))
        return [g.numpy() for g in tape.gradient(loss, [variable, *weights])]
    if keras.backend.backend() == "jax":
        import jax

        def loss(x, *values):
            with keras.StatelessScope(state_mapping=list(zip(weights, values))):
                return keras.ops.sum(layer.negative_log_likelihood(x, tags, mask))

        values = [numpy(w) for w in weights]
        # Compiled once: op-by-op eager JAX would compile every op of the backward pass.
        gradients = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))(emissions, *values)
        return [np.asarray(g) for g in gradients]
    pytest.skip(f"no gradient check for the {keras.backend.backend()} backend")


@pytest.mark.parametrize("constrained", [False, True], ids=["free", "iob2"])
def test_nll_gradients_match_finite_differences(constrained, float64):
    rng = np.random.default_rng(11)
    num_tags = len(IOB2_TAGS) if constrained else 3
    constraints = iob2_allowed_transitions(IOB2_TAGS) if constrained else None
    params = random_params(rng, num_tags)
    layer = crf_with(params, constraints)
    emissions, tags, mask, _ = padded_batch(rng, [3, 1, 2], num_tags, time=3)
    if constrained:
        tags[0, :3] = [0, 2, 1]  # O then I-PER: a forbidden gold transition costs, finitely
    gradients = autodiff_nll_gradients(layer, emissions, tags, mask)

    def nll(x, transitions, start, end):
        return reference_nll(x, tags, mask, (transitions, start, end), constraints)

    expected = finite_differences(nll, [emissions, *(np.array(p) for p in params)])
    for name, actual, wanted in zip(["emissions", "transitions", "start", "end"], gradients,
                                    expected):
        assert np.all(np.isfinite(actual)), name
        np.testing.assert_allclose(actual, wanted, rtol=1e-5, atol=1e-5, err_msg=name)
    np.testing.assert_array_equal(gradients[0][~mask], 0.0)  # padding gets no gradient
    if constrained:
        forbidden = ~constraints["allowed_transitions"]
        np.testing.assert_array_equal(gradients[1][forbidden], 0.0)


# --- constraints ---------------------------------------------------------------------------------


def test_iob2_allowed_transitions_from_tag_names():
    allowed = iob2_allowed_transitions(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])
    # rows: previous tag; columns: next tag (O, B-PER, I-PER, B-LOC, I-LOC)
    expected = [
        [1, 1, 0, 1, 0],  # after O: no I-
        [1, 1, 1, 1, 0],  # after B-PER: I-PER, not I-LOC
        [1, 1, 1, 1, 0],
        [1, 1, 0, 1, 1],
        [1, 1, 0, 1, 1],
    ]
    np.testing.assert_array_equal(allowed["allowed_transitions"], np.array(expected, bool))
    np.testing.assert_array_equal(allowed["allowed_start"], [1, 1, 0, 1, 0])
    np.testing.assert_array_equal(allowed["allowed_end"], [1, 1, 1, 1, 1])


def test_bioes_allowed_transitions_from_tag_names():
    allowed = bioes_allowed_transitions(BIOES_TAGS)
    # columns: O, B-PER, I-PER, E-PER, S-PER, S-LOC
    expected = [
        [1, 1, 0, 0, 1, 1],  # O
        [0, 0, 1, 1, 0, 0],  # B-PER: inside, I-PER or E-PER only
        [0, 0, 1, 1, 0, 0],  # I-PER
        [1, 1, 0, 0, 1, 1],  # E-PER: outside again
        [1, 1, 0, 0, 1, 1],  # S-PER
        [1, 1, 0, 0, 1, 1],  # S-LOC
    ]
    np.testing.assert_array_equal(allowed["allowed_transitions"], np.array(expected, bool))
    np.testing.assert_array_equal(allowed["allowed_start"], [1, 1, 0, 0, 1, 1])
    np.testing.assert_array_equal(allowed["allowed_end"], [1, 0, 0, 1, 1, 1])


@pytest.mark.parametrize("bad", [["O", "PER"], ["O", "X-PER"], ["O", "B-"], ["O", "O"]])
def test_bad_tag_names_raise(bad):
    with pytest.raises(ValueError, match="IOB2"):
        iob2_allowed_transitions(bad)


def path_is_allowed(path, constraints):
    if not path:
        return True
    transitions = constraints["allowed_transitions"]
    return bool(
        constraints["allowed_start"][path[0]]
        and constraints["allowed_end"][path[-1]]
        and all(transitions[a, b] for a, b in zip(path[:-1], path[1:]))
    )


@pytest.mark.parametrize(
    "helper, names",
    [(iob2_allowed_transitions, IOB2_TAGS[:3]), (bioes_allowed_transitions, BIOES_TAGS[:5])],
    ids=["iob2", "bioes"],
)
def test_constrained_decoding_never_breaks_a_constraint(helper, names, float64):
    rng = np.random.default_rng(5)
    num_tags = len(names)
    constraints = helper(names)
    params = random_params(rng, num_tags)
    layer = crf_with(params, constraints)
    emissions, _, mask, rows = padded_batch(rng, [1, 2, 3, 4, 5, 4], num_tags, time=5)
    # Emissions that favour forbidden paths: I- tags (inside tags) score highest everywhere.
    inside = [i for i, name in enumerate(names) if name.startswith(("I-", "E-"))]
    emissions[..., inside] += 5.0
    rows = [(x + np.isin(np.arange(num_tags), inside) * 5.0, y) for x, y in rows]
    decoded, best_scores = run(layer.decode, emissions, mask)
    log_partition = run(layer.log_partition, emissions, mask)
    potentials = reference_potentials(params, constraints)
    for b, (x, _) in enumerate(rows):
        path = decoded[b][mask[b]].tolist()
        assert path_is_allowed(path, constraints), (names, path)
        expected_log_z, expected_path, expected_best = brute_force(
            x, *potentials, allowed=lambda p: path_is_allowed(list(p), constraints)
        )
        assert path == expected_path
        np.testing.assert_allclose(best_scores[b], expected_best, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(log_partition[b], expected_log_z, rtol=1e-5, atol=1e-5)
    # The unconstrained CRF with the same weights does take forbidden paths here.
    free = run(crf_with(params).decode, emissions, mask)[0]
    assert not all(path_is_allowed(free[b][mask[b]].tolist(), constraints) for b in range(6))


def test_constraints_of_the_wrong_size_raise():
    layer = CRF(**iob2_allowed_transitions(IOB2_TAGS))
    with pytest.raises(ValueError, match=r"allowed_transitions must have shape \(3, 3\)"):
        layer(np.zeros((1, 2, 3), dtype="float32"))
    with pytest.raises(ValueError, match="allowed_start forbids every tag"):
        CRF(allowed_start=[False, False]).build((None, None, 2))


def test_wrong_rank_and_wrong_tags_raise():
    with pytest.raises(ValueError, match=r"\(batch, time, num_tags\).*rank 2"):
        CRF()(np.zeros((2, 5), dtype="float32"))
    layer = CRF()
    layer(np.zeros((1, 2, 4), dtype="float32"))
    with pytest.raises(ValueError, match=r"built for emissions of shape \(batch, time, 4\)"):
        layer.decode(np.zeros((1, 2, 3), dtype="float32"))


# --- training, mixed precision ------------------------------------------------------------------


def tagging_data(rng, count=64, time=6):
    """Words 1..9 (0 = padding) whose tag depends on the word and on the previous tag."""
    words = rng.integers(1, 10, size=(count, time))
    lengths = rng.integers(2, time + 1, size=count)
    words[np.arange(time)[None] >= lengths[:, None]] = 0
    tags = np.zeros_like(words)
    for b in range(count):
        for t in range(lengths[b]):
            # word 1..3 -> tag 0; 4..6 -> tag 1, or 2 right after a 1 or 2; 7..9 -> 0 or 1
            if words[b, t] <= 3:
                tags[b, t] = 0
            elif words[b, t] <= 6:
                tags[b, t] = 2 if t and tags[b, t - 1] in (1, 2) else 1
            else:
                tags[b, t] = 1 if t and tags[b, t - 1] == 0 else 0
    return words.astype("int32"), tags.astype("int32")


def tagger_models(num_tags=3, **crf_kwargs):
    words = keras.Input(shape=(None,), dtype="int32", name="words")
    gold = keras.Input(shape=(None,), dtype="int32", name="tags")
    vectors = keras.layers.Embedding(10, 8, mask_zero=True)(words)
    emissions = keras.layers.Dense(num_tags, name="emissions")(vectors)
    crf = CRF(name="crf", **crf_kwargs)
    trainer = keras.Model({"words": words, "tags": gold}, crf(emissions, tags=gold))
    tagger = keras.Model(words, crf(emissions))
    emitter = keras.Model(words, emissions)
    return trainer, tagger, emitter, crf


@pytest.mark.parametrize("jit_compile", ["auto", True], ids=["auto", "xla"])
def test_fit_with_the_added_loss_reduces_the_nll(jit_compile):
    if jit_compile is True and not backend_is_tensorflow():
        pytest.skip("JAX always compiles with XLA: the 'auto' case covers it")
    keras.utils.set_random_seed(0)
    words, tags = tagging_data(np.random.default_rng(0))
    trainer, tagger, emitter, crf = tagger_models()
    # XLA needs a fixed bound on the differentiated loop (TensorFlow): see crf._fold.
    trainer.compile(optimizer=keras.optimizers.Adam(0.1), jit_compile=jit_compile)
    features = {"words": words, "tags": tags}
    # The loss is the batch mean of the per-sequence NLL.
    expected = numpy(crf.negative_log_likelihood(emitter(words), tags, words != 0)).mean()
    before = trainer.evaluate(features, batch_size=len(words), verbose=0)
    np.testing.assert_allclose(before, expected, rtol=1e-5)
    history = trainer.fit(features, batch_size=16, epochs=15, verbose=0).history["loss"]
    after = trainer.evaluate(features, batch_size=len(words), verbose=0)
    assert np.isfinite(history).all() and after < 0.2 * before, (before, history)
    decoded = numpy(tagger.predict(words, verbose=0))
    accuracy = (decoded == tags)[words != 0].mean()
    assert accuracy > 0.95, accuracy
    np.testing.assert_array_equal(decoded[words == 0], 0)
    assert np.any(numpy(crf.transitions) != 0)  # the transitions were trained


def test_mixed_precision_runs_the_math_in_float32():
    rng = np.random.default_rng(6)
    params = [p.astype("float32") for p in random_params(rng, 4)]
    mixed = CRF(dtype="mixed_float16")
    mixed.build((None, None, 4))
    mixed.set_weights(params)
    exact = CRF(dtype="float32")
    exact.build((None, None, 4))
    exact.set_weights(params)
    emissions = rng.normal(size=(2, 3, 4)).astype("float16")  # the same in both dtypes
    gold = np.array([[0, 1, 2], [3, 3, 0]])
    assert numpy(mixed(emissions, tags=gold)).dtype == np.int32
    # The added loss: float32 math on the float32 weights, not on weights cast to float16.
    (loss,) = mixed.losses
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    expected = numpy(exact.negative_log_likelihood(emissions.astype("float32"), gold)).mean()
    np.testing.assert_allclose(numpy(loss), expected, rtol=1e-6)


# --- config, saving and export -------------------------------------------------------------------


def test_config_round_trip():
    layer = CRF(
        **iob2_allowed_transitions(IOB2_TAGS),
        transitions_initializer=keras.initializers.RandomNormal(stddev=0.3, seed=4),
        pad_tag=-1,
        disallowed_score=-500.0,
        name="crf",
    )
    assert_config_round_trip(layer)
    clone = CRF.from_config(layer.get_config())
    np.testing.assert_array_equal(clone.allowed_transitions, layer.allowed_transitions)
    assert clone.pad_tag == -1 and clone.disallowed_score == -500.0
    assert_config_round_trip(CRF())


def constrained_tagger():
    keras.utils.set_random_seed(1)
    _, tagger, _, _ = tagger_models(
        num_tags=len(IOB2_TAGS),
        **iob2_allowed_transitions(IOB2_TAGS),
        pad_tag=-1,
        transitions_initializer=keras.initializers.RandomNormal(stddev=2.0, seed=3),
    )
    return tagger


SAMPLE_WORDS = np.array([[3, 4, 5, 0, 0], [0, 0, 7, 8, 0], [1, 2, 3, 4, 5]], dtype="int32")


def test_keras_file_round_trip_decodes_the_same(tmp_path):
    tagger = constrained_tagger()
    loaded = assert_model_saves_and_loads(tagger, SAMPLE_WORDS, tmp_path)
    crf = loaded.get_layer("crf")
    assert isinstance(crf, CRF) and crf.pad_tag == -1
    np.testing.assert_array_equal(crf.allowed_start, [1, 1, 0, 1, 0])
    assert [w.name for w in crf.weights] == ["transitions", "start", "end"]


def test_saved_model_serving_functions_run_viterbi_without_nlpkit(tmp_path):
    if not backend_is_tensorflow():
        pytest.skip("SavedModel is a TensorFlow format")
    import tensorflow as tf

    tagger = constrained_tagger()
    # `model.export`, and a hand-made `tf.saved_model.save` serving function; both have a free
    # time dimension, and both run Viterbi in their graph.
    exported_dir = os.path.join(str(tmp_path), "exported")
    tagger.export(exported_dir, verbose=False)

    class Serving(tf.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32, name="words")])
        def serve(self, words):
            return {"tags": self.model(words)}

    saved_dir = os.path.join(str(tmp_path), "saved")
    module = Serving(tagger)
    tf.saved_model.save(module, saved_dir, signatures={"serving_default": module.serve})
    batches = {"short": SAMPLE_WORDS, "long": np.array([[1, 4, 5, 6, 2, 7, 9, 0]], "int32")}
    for name, words in batches.items():
        np.save(os.path.join(str(tmp_path), f"{name}.npy"), words)
    script = f"""
        import numpy as np
        import tensorflow as tf
        exported = tf.saved_model.load({exported_dir!r})
        saved = tf.saved_model.load({saved_dir!r}).signatures["serving_default"]
        for name in ("short", "long"):
            words = tf.constant(np.load({str(tmp_path)!r} + f"/{{name}}.npy"))
            np.save({str(tmp_path)!r} + f"/{{name}}_exported.npy", exported.serve(words).numpy())
            np.save({str(tmp_path)!r} + f"/{{name}}_saved.npy", saved(words=words)["tags"].numpy())
        assert "nlpkit" not in sys.modules
    """
    run_without_nlpkit(script, cwd=tmp_path)
    for name, words in batches.items():
        expected = numpy(tagger(words))
        for kind in ("exported", "saved"):
            served = np.load(os.path.join(str(tmp_path), f"{name}_{kind}.npy"))
            np.testing.assert_array_equal(served, expected, err_msg=f"{name} {kind}")
