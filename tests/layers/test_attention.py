"""Bahdanau and Luong attention against a NumPy reference written from the papers' formulas
(rank-2 and rank-3 queries, masks); masks (padding gets exactly zero weight, padded equals
unpadded, all-padding rows give zeros and finite gradients); precomputed keys; gradients against
central finite differences; building from shapes and in functional models; masks picked up from
Keras masks; config, `.keras` save/load; mixed precision; argument errors."""

import contextlib
import os

import keras
import numpy as np
import pytest

from nlpkit.layers import BahdanauAttention, LuongAttention, MeanPooling
from tests.layer_checks import assert_config_round_trip, backend_is_tensorflow

KINDS = ["bahdanau", "bahdanau_bias", "general", "dot"]


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor)


def run(function, *args):
    """`function(*args)` as NumPy; compiled as a whole under JAX, where op-by-op eager execution
    would compile every op for every new shape (slow)."""
    if keras.backend.backend() == "jax":
        import jax

        function = jax.jit(function)
    return keras.tree.map_structure(numpy, function(*args))


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


# --- the NumPy reference: one (query, source step) pair at a time -------------------------------


def reference_score(kind, params, q, m):
    """The score of one query vector `q` and one memory vector `m`, as in the papers."""
    if kind.startswith("bahdanau"):
        query_kernel, memory_kernel, v = params[:3]
        bias = params[3] if len(params) == 4 else 0.0
        return float(v @ np.tanh(query_kernel.T @ q + memory_kernel.T @ m + bias))
    if kind == "general":
        (kernel,) = params
        return float(q @ kernel @ m)
    return float(q @ m)


def reference_attention(kind, params, query, memory, mask=None):
    """`(context, weights)` of `query` `(batch, [target_time,] query_dim)` over `memory`."""
    one_step = query.ndim == 2
    queries = query[:, None] if one_step else query
    batch, target_time, _ = queries.shape
    src_time = memory.shape[1]
    if mask is None:
        mask = np.ones((batch, src_time), bool)
    weights = np.zeros((batch, target_time, src_time))
    context = np.zeros((batch, target_time, memory.shape[2]))
    for b in range(batch):
        real = np.flatnonzero(mask[b])
        for t in range(target_time):
            if len(real) == 0:
                continue
            scores = np.array(
                [reference_score(kind, params, queries[b, t], memory[b, s]) for s in real]
            )
            exp = np.exp(scores - scores.max())
            weights[b, t, real] = exp / exp.sum()
            context[b, t] = sum(weights[b, t, s] * memory[b, s] for s in real)
    if one_step:
        return context[:, 0], weights[:, 0]
    return context, weights


def make_layer(kind, query_dim, memory_dim, rng, dtype="float32", scale=0.7):
    """A built layer of `kind` with random weights; returns `(layer, params)` (float64 params)."""
    if kind.startswith("bahdanau"):
        units = 5
        use_bias = kind == "bahdanau_bias"
        # "zeros": set_weights replaces them, and JAX would compile a sampler for every shape.
        layer = BahdanauAttention(units, use_bias, kernel_initializer="zeros", dtype=dtype)
        shapes = [(query_dim, units), (memory_dim, units), (units,)] + [(units,)] * use_bias
    else:
        layer = LuongAttention(kind, kernel_initializer="zeros", dtype=dtype)
        shapes = [(query_dim, memory_dim)] if kind == "general" else []
    layer.build((None, None, query_dim), (None, None, memory_dim))
    params = [rng.normal(scale=scale, size=shape) for shape in shapes]
    layer.set_weights([p.astype(dtype) for p in params])
    return layer, params


def dims(kind):
    """`(query_dim, memory_dim)`: different sizes except for "dot"."""
    return (3, 3) if kind == "dot" else (4, 3)


def random_inputs(rng, kind, rank, batch=3, target_time=2, src_time=5, dtype="float32"):
    query_dim, memory_dim = dims(kind)
    shape = (batch, query_dim) if rank == 2 else (batch, target_time, query_dim)
    query = rng.normal(size=shape).astype(dtype)
    memory = rng.normal(size=(batch, src_time, memory_dim)).astype(dtype)
    return query, memory


MASK = np.array(
    [
        [1, 1, 1, 0, 0],  # right padding
        [0, 0, 1, 1, 1],  # left padding
        [1, 0, 1, 0, 1],  # holes
    ],
    dtype=bool,
)


# --- values against the reference ----------------------------------------------------------------


@pytest.mark.parametrize("rank", [2, 3], ids=["one_step", "all_steps"])
@pytest.mark.parametrize("kind", KINDS)
def test_matches_the_numpy_reference(kind, rank):
    rng = np.random.default_rng(1)
    layer, params = make_layer(kind, *dims(kind), rng)
    query, memory = random_inputs(rng, kind, rank)
    for mask in (None, MASK):
        context, weights = layer(query, memory, memory_mask=mask)
        expected_context, expected_weights = reference_attention(kind, params, query, memory, mask)
        assert context.shape == expected_context.shape and weights.shape == expected_weights.shape
        np.testing.assert_allclose(numpy(weights), expected_weights, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(numpy(context), expected_context, rtol=1e-5, atol=1e-5)
    # The weights are not uniform: the scores did matter.
    assert np.ptp(expected_weights[0, ..., :3]) > 0.01


# --- masks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_padding_gets_zero_weight_and_padded_equals_unpadded(kind):
    rng = np.random.default_rng(2)
    layer, _ = make_layer(kind, *dims(kind), rng)
    query, memory = random_inputs(rng, kind, rank=3)
    # Garbage at padded steps: large enough to dominate any score that let it in.
    garbage = memory + 1e3 * rng.normal(size=memory.shape).astype("float32")
    padded = np.where(MASK[..., None], memory, garbage)
    context, weights = (numpy(t) for t in layer(query, padded, memory_mask=MASK))
    # shape: (batch, src_time, target_time), so that the mask picks source steps
    np.testing.assert_array_equal(weights.transpose(0, 2, 1)[~MASK], 0.0)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-6)
    for b in range(len(MASK)):
        alone = memory[b : b + 1, MASK[b]]
        context_alone, weights_alone = (numpy(t) for t in layer(query[b : b + 1], alone))
        np.testing.assert_allclose(context[b], context_alone[0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(weights[b][:, MASK[b]], weights_alone[0], rtol=1e-5, atol=1e-6)
    # Without the mask the garbage does change the result.
    unmasked = numpy(layer(query, padded)[0])
    assert np.abs(unmasked - context).max() > 1.0


@pytest.mark.parametrize("kind", KINDS)
def test_an_all_padding_row_gives_zeros(kind):
    rng = np.random.default_rng(3)
    layer, _ = make_layer(kind, *dims(kind), rng)
    mask = np.array([[0, 0, 0, 0, 0], [1, 1, 0, 1, 0]], dtype=bool)
    for rank in (2, 3):
        query, memory = random_inputs(rng, kind, rank=rank, batch=2)
        context, weights = (numpy(t) for t in layer(query, memory, memory_mask=mask))
        assert np.all(np.isfinite(context)) and np.all(np.isfinite(weights))
        np.testing.assert_array_equal(context[0], 0.0)
        np.testing.assert_array_equal(weights[0], 0.0)
        np.testing.assert_allclose(weights[1].sum(axis=-1), 1.0, rtol=1e-6)
    # (Its gradients: test_gradients_match_finite_differences has an all-padding row.)


# --- precomputed keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_precomputed_keys_give_the_same_result(kind):
    rng = np.random.default_rng(4)
    layer, params = make_layer(kind, *dims(kind), rng)
    query, memory = random_inputs(rng, kind, rank=2)
    keys = layer.project_memory(memory)
    expected_keys = {
        "bahdanau": lambda: memory @ params[1],
        "bahdanau_bias": lambda: memory @ params[1] + params[3],
        "general": lambda: memory @ params[0].T,
        "dot": lambda: memory,
    }[kind]()
    np.testing.assert_allclose(numpy(keys), expected_keys, rtol=1e-5, atol=1e-5)
    for step in range(2):  # what a decoder does: the same keys at every step
        step_query = query + step
        given = layer(step_query, memory, memory_mask=MASK, keys=keys)
        computed = layer(step_query, memory, memory_mask=MASK)
        for a, b in zip(given, computed):
            np.testing.assert_allclose(numpy(a), numpy(b), rtol=1e-6, atol=1e-7)
    # The keys given are the keys used.
    wrong = layer(query, memory, memory_mask=MASK, keys=numpy(keys) + 1.0)[1]
    assert np.abs(numpy(wrong) - numpy(computed[1])).max() > 1e-3


# --- gradients -----------------------------------------------------------------------------------


def autodiff_gradients(layer, query, memory, mask, context_direction, weights_direction):
    """Gradients of `sum(context * cd) + sum(weights * wd)` w.r.t. the query, the memory and
    every weight (by weight name)."""
    variables = list(layer.trainable_weights)
    names = ["query", "memory"] + [v.name for v in variables]

    def loss(context, weights):
        ops = keras.ops
        return ops.sum(context * ops.cast(context_direction, context.dtype)) + ops.sum(
            weights * ops.cast(weights_direction, weights.dtype)
        )

    if backend_is_tensorflow():
        import tensorflow as tf

        query_variable, memory_variable = tf.Variable(query), tf.Variable(memory)
        with tf.GradientTape() as tape:
            value = loss(*layer(query_variable, memory_variable, memory_mask=mask))
        gradients = tape.gradient(value, [query_variable, memory_variable, *variables])
        return {n: g.numpy() for n, g in zip(names, gradients)}
    if keras.backend.backend() == "jax":
        import jax

        def function(q, m, *values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return loss(*layer(q, m, memory_mask=mask))

        values = [numpy(v) for v in variables]
        argnums = tuple(range(2 + len(values)))
        gradients = jax.jit(jax.grad(function, argnums=argnums))(query, memory, *values)
        return {n: np.asarray(g) for n, g in zip(names, gradients)}
    pytest.skip(f"no gradient check for the {keras.backend.backend()} backend")


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


@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_finite_differences(kind, float64):
    rng = np.random.default_rng(5)
    layer, params = make_layer(kind, *dims(kind), rng, dtype="float64")
    query, memory = random_inputs(rng, kind, rank=3, batch=3, src_time=4, dtype="float64")
    mask = np.array([[1, 1, 0, 1], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=bool)
    context_direction = rng.normal(size=(3, 2, memory.shape[-1]))
    weights_direction = rng.normal(size=(3, 2, 4))
    gradients = autodiff_gradients(
        layer, query, memory, mask, context_direction, weights_direction
    )

    def reference_loss(q, m, *p):
        context, weights = reference_attention(kind, p, q, m, mask)
        return np.sum(context * context_direction) + np.sum(weights * weights_direction)

    expected = finite_differences(reference_loss, [query, memory, *params])
    assert list(gradients) == ["query", "memory"] + [w.name for w in layer.trainable_weights]
    assert len(gradients) == 2 + len(params)
    # Keras' JAX tanh runs float64 in float32 (its result_type demotes 64-bit floats unless JAX's
    # x64 mode is on globally), so there Bahdanau's float64 gradients have float32 precision.
    coarse = kind.startswith("bahdanau") and keras.backend.backend() == "jax"
    rtol, atol = (1e-5, 1e-6) if coarse else (1e-6, 1e-8)
    for (name, actual), wanted in zip(gradients.items(), expected):
        assert np.abs(wanted).max() > 1e-3, name  # a check that can fail
        assert np.all(np.isfinite(actual)), name
        np.testing.assert_allclose(actual, wanted, rtol=rtol, atol=atol, err_msg=name)
    # Padding, and the all-padding row 2 entirely, get exactly no gradient.
    np.testing.assert_array_equal(gradients["memory"][~mask], 0.0)
    np.testing.assert_array_equal(gradients["query"][2], 0.0)


# --- building, functional models, Keras masks ----------------------------------------------------


def test_builds_on_the_first_call_and_from_shapes():
    query = np.zeros((2, 6), "float32")
    memory = np.zeros((2, 4, 3), "float32")
    layer = BahdanauAttention(5, kernel_initializer="zeros")
    with pytest.raises(ValueError, match=r"project_memory needs the layer's weights"):
        layer.project_memory(memory)
    layer(query, memory)
    assert layer.built
    assert [tuple(w.shape) for w in layer.weights] == [(6, 5), (3, 5), (5,)]
    assert [w.name for w in layer.weights] == ["query_kernel", "memory_kernel", "score_vector"]
    with pytest.raises(ValueError, match=r"built for query_dim 6 and memory_dim 3"):
        layer(np.zeros((2, 7), "float32"), memory)

    general = LuongAttention(kernel_initializer="zeros")
    general.build((None, None, 6), (None, None, 3))
    assert [tuple(w.shape) for w in general.weights] == [(6, 3)]
    assert numpy(general.project_memory(memory)).shape == (2, 4, 6)
    assert general(query, memory)[1].shape == (2, 4)
    with pytest.raises(ValueError, match="got no memory_shape"):
        LuongAttention().build((None, 6))
    with pytest.raises(ValueError, match=r"query of shape \(batch, query_dim\)"):
        LuongAttention()(np.zeros((1, 2, 3, 4), "float32"), memory)
    with pytest.raises(ValueError, match=r"\(batch, src_time, memory_dim\).*rank 2"):
        LuongAttention()(query, np.zeros((2, 3), "float32"))


def attention_model():
    """Bahdanau over every target step, Luong "general" for one step, and "dot" self-attention
    over the memory, on symbolic inputs."""
    states = keras.Input(shape=(None, 4), name="states")
    state = keras.Input(shape=(4,), name="state")
    memory = keras.Input(shape=(None, 3), name="memory")
    mask = keras.Input(shape=(None,), dtype="bool", name="mask")
    # "zeros", then random weights below: JAX would compile a sampler for every shape.
    bahdanau = BahdanauAttention(6, use_bias=True, kernel_initializer="zeros", name="bahdanau")
    general = LuongAttention("general", kernel_initializer="zeros", name="general")
    dot = LuongAttention("dot", name="dot")
    outputs = [
        *bahdanau(states, memory, memory_mask=mask),
        *general(state, memory, memory_mask=mask),
        *dot(memory, memory, memory_mask=mask),
    ]
    model = keras.Model([states, state, memory, mask], outputs)
    rng = np.random.default_rng(8)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.weights])
    return model


def model_inputs(rng):
    return [
        rng.normal(size=(3, 2, 4)).astype("float32"),
        rng.normal(size=(3, 4)).astype("float32"),
        rng.normal(size=(3, 5, 3)).astype("float32"),
        MASK,
    ]


def test_functional_model_shapes_and_keras_file_round_trip(tmp_path):
    model = attention_model()
    assert [tuple(o.shape) for o in model.outputs] == [
        (None, None, 3),
        (None, None, None),
        (None, 3),
        (None, None),
        (None, None, 3),
        (None, None, None),
    ]
    inputs = model_inputs(np.random.default_rng(6))
    expected = run(model, inputs)
    shapes = [(3, 2, 3), (3, 2, 5), (3, 3), (3, 5), (3, 5, 3), (3, 5, 5)]
    assert [e.shape for e in expected] == shapes
    # The model runs the layers' own math: the general layer as called directly.
    direct = model.get_layer("general")(inputs[1], inputs[2], memory_mask=MASK)
    np.testing.assert_allclose(expected[2], numpy(direct[0]), rtol=1e-6, atol=1e-7)

    path = os.path.join(str(tmp_path), "attention.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    classes = {"bahdanau": BahdanauAttention, "general": LuongAttention, "dot": LuongAttention}
    for name, cls in classes.items():
        assert isinstance(loaded.get_layer(name), cls)
    names = [w.name for w in loaded.get_layer("bahdanau").weights]
    assert names == ["query_kernel", "memory_kernel", "score_vector", "bias"]
    assert loaded.get_layer("dot").score == "dot"
    for actual, wanted in zip(run(loaded, inputs), expected):
        np.testing.assert_allclose(actual, wanted, rtol=1e-6, atol=1e-6)


def test_keras_masks_are_picked_up():
    """`memory`'s Keras mask becomes `memory_mask`; the query's mask stays on both outputs."""
    source = keras.Input(shape=(None,), dtype="int32")
    target = keras.Input(shape=(None,), dtype="int32")
    # "zeros", then random weights below: JAX would compile a sampler for every shape.
    memory = keras.layers.Embedding(10, 3, embeddings_initializer="zeros", mask_zero=True)(source)
    states = keras.layers.Embedding(10, 4, embeddings_initializer="zeros", mask_zero=True)(target)
    attention = LuongAttention("general", kernel_initializer="zeros", name="attention")
    context, weights = attention(states, memory)
    # MeanPooling reads the mask the context carries.
    pooled = MeanPooling()(context)
    model = keras.Model([source, target], [context, weights, pooled])
    rng = np.random.default_rng(9)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.weights])
    vectors = keras.Model([source, target], [memory, states])

    source_ids = np.array([[1, 2, 3, 0, 0], [0, 4, 5, 6, 7]], "int32")
    target_ids = np.array([[3, 4, 0], [5, 0, 0]], "int32")
    context, weights, pooled = run(model, [source_ids, target_ids])
    memory_vectors, state_vectors = run(vectors, [source_ids, target_ids])
    expected_context, expected_weights = model.get_layer("attention")(
        state_vectors, memory_vectors, memory_mask=source_ids != 0
    )
    np.testing.assert_array_equal(weights.transpose(0, 2, 1)[source_ids == 0], 0.0)
    np.testing.assert_allclose(weights, numpy(expected_weights), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(context, numpy(expected_context), rtol=1e-6, atol=1e-7)
    real = target_ids != 0
    expected_pooled = [context[b][real[b]].mean(axis=0) for b in range(2)]
    np.testing.assert_allclose(pooled, expected_pooled, rtol=1e-6, atol=1e-7)


# --- mixed precision, config, errors -------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bahdanau", "general"])
def test_mixed_precision_runs_the_softmax_in_float32(kind):
    rng = np.random.default_rng(7)
    exact, params = make_layer(kind, *dims(kind), rng)
    policy = "mixed_float16"
    if kind == "bahdanau":
        mixed = BahdanauAttention(5, kernel_initializer="zeros", dtype=policy)
    else:
        mixed = LuongAttention(kind, kernel_initializer="zeros", dtype=policy)
    mixed.build((None, None, dims(kind)[0]), (None, None, dims(kind)[1]))
    mixed.set_weights([p.astype("float32") for p in params])
    query, memory = (x.astype("float16") for x in random_inputs(rng, kind, rank=3))
    # Row 1 is all padding: its masked scores would be -inf in float16, and its softmax NaN.
    mask = MASK.copy()
    mask[1] = False
    context, weights = mixed(query, memory, memory_mask=mask)
    assert keras.backend.standardize_dtype(weights.dtype) == "float16"
    assert keras.backend.standardize_dtype(context.dtype) == "float16"
    dtypes = {keras.backend.standardize_dtype(w.dtype) for w in mixed.weights}
    assert dtypes == {"float32"}
    context, weights = numpy(context), numpy(weights)
    np.testing.assert_array_equal(weights.transpose(0, 2, 1)[~mask], 0.0)
    np.testing.assert_array_equal(context[1], 0.0)
    expected = exact(query.astype("float32"), memory.astype("float32"), memory_mask=mask)
    np.testing.assert_allclose(weights, numpy(expected[1]), atol=5e-3)
    np.testing.assert_allclose(context, numpy(expected[0]), atol=5e-3)


def test_config_round_trip():
    bahdanau = BahdanauAttention(
        7,
        use_bias=True,
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.2, seed=1),
        bias_initializer="ones",
        name="additive",
    )
    assert_config_round_trip(bahdanau)
    clone = BahdanauAttention.from_config(bahdanau.get_config())
    assert clone.units == 7 and clone.use_bias and clone.name == "additive"
    clone.build((None, 2), (None, None, 3))
    np.testing.assert_array_equal(numpy(clone.bias), 1.0)
    for score in ("general", "dot"):
        layer = LuongAttention(score, kernel_initializer="orthogonal")
        assert_config_round_trip(layer)
        assert LuongAttention.from_config(layer.get_config()).score == score
    assert_config_round_trip(BahdanauAttention(3))


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"unknown score 'concat'.*\['dot', 'general'\]"):
        LuongAttention("concat")
    mismatch = r"needs query_dim == memory_dim; got query_dim 4 and memory_dim 3"
    with pytest.raises(ValueError, match=mismatch):
        LuongAttention("dot").build((None, 4), (None, None, 3))
    with pytest.raises(ValueError, match="needs query_dim == memory_dim"):
        LuongAttention("dot")(np.zeros((2, 4), "float32"), np.zeros((2, 5, 3), "float32"))
    with pytest.raises(ValueError, match="units must be a positive int"):
        BahdanauAttention(0)
    layer = LuongAttention()
    layer.build((None, 4), (None, None, 3))
    with pytest.raises(ValueError, match=r"keys must be the output of project_memory"):
        keys = np.zeros((2, 5, 3), "float32")  # memory-sized, not query-sized
        layer(np.zeros((2, 4), "float32"), np.zeros((2, 5, 3), "float32"), keys=keys)
