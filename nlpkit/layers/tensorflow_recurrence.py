"""The TensorFlow fast path of nlpkit's sequence layers: XLA loops, a hand-written backward pass.

This module knows programs, not cells: `run` takes a program's name (a key of `PROGRAMS`, such as
"lstm" or "gru_reset_after"), tensors (inputs, kernels, bias, the program's extra parameters,
states, masks) and plain options, and imports nothing from nlpkit's cell modules. A cell that a
program computes says so itself (`RecurrentCell.fused_recurrence` returns the program's name and
the tensors), and `nlpkit.layers.Recurrent` decides when to use it (on the TensorFlow backend,
only while the cell's methods are the ones its class vouched for; otherwise, and on every other
backend, it runs the reference: `keras.ops.scan` over the cell's `step`). `run` computes the same
outputs, states and gradients as the reference, faster:

1. Time-major layout throughout, and the input half of every gate, `x_t W + b`, for all steps in
   one matmul (with the bias fused) before the loop.
2. The loop is one XLA computation: per step one matmul (`h_{t-1} U`) and a few fused elementwise
   kernels, without TensorFlow's per-op dispatch.
3. The backward pass through time is written by hand (`tf.custom_gradient`). The forward loop
   records the gate activations and the states each step started from; the backward loop runs
   one matmul per step (the gradient reaching `h_{t-1}`), and the gradient of the recurrent kernel
   is one large matmul after the loop, `sum_t h_{t-1}^T dz_t = H^T dZ`, instead of one small
   matmul per step. TensorFlow's automatic differentiation of a while loop is several times
   slower. Outside training (`training=False`) the forward pass records nothing; a gradient asked
   for anyway reruns it, recording.
4. On CPU, the batch is split into one independent loop per core ("chains"): rows of a batch do
   not interact, and inside a `tf.function` TensorFlow runs the chains at the same time, with no
   synchronisation per step (splitting each step's small matmul across cores would need one).
5. The LSTM-family programs compute their gates with one sigmoid, using
   tanh(z) = 2 sigmoid(2z) - 1 for the candidate block, and every sigmoid is computed as
   0.5 tanh(z / 2) + 0.5 (`_sigmoid`), which XLA's CPU code runs faster than its logistic.

A program is a formula split around the recurrent matmul (`forward`), its derivative
(`backward`) and the gradients of its extra weights (`parameter_gradients`). The formulas are
those of the stock cells' `step` methods; tests/layers/test_tensorflow_recurrence.py checks that
both paths give the same outputs, states and gradients.

XLA compiles the loops once per input shape (a few tenths of a second): pad batches to a few
fixed lengths (bucketing) rather than to every batch's own maximum. Eager calls run the same
loops without XLA.

TensorFlow Serving runs XLA-compiled functions only behind an experimental flag, so while a
SavedModel is being written the same loop is traced without XLA, without chains and without the
custom gradient.
"""

import collections
import functools
import os

import tensorflow as tf

# Static facts a loop is traced for; one compiled function per distinct value.
LoopSettings = collections.namedtuple(
    "LoopSettings",
    ["has_mask", "has_recurrent_mask", "zero_output_for_mask", "return_sequences", "save"],
)


def _split(tensor, pieces):
    return tf.split(tensor, pieces, axis=-1)


def _sigmoid(x):
    """`sigmoid(x)` as `0.5 tanh(x / 2) + 0.5`.

    XLA's CPU tanh vectorizes better than its logistic: measured 7-12% off an LSTM forward pass
    (benchmarks/README.md). The absolute error stays near float32 rounding (about 6e-8).
    """
    return 0.5 * tf.tanh(0.5 * x) + 0.5


def _units(state):
    """The last dimension of `state`: static when known (reshapes keep static shapes)."""
    return state.shape[-1] if state.shape[-1] is not None else tf.shape(state)[-1]


def _block_scale(blocks, dtype):
    """`(sum(blocks) * units,)`-broadcastable factors: 2 on the candidate block, 1 elsewhere."""
    return tf.concat([tf.fill(shape, tf.constant(factor, dtype)) for shape, factor in blocks], 0)


# A program is a class with one instance (in `PROGRAMS`); it computes tanh and sigmoid, whatever
# the name says about the gates:
#   saved_widths: widths, in units, of the tensors `forward` saves for `backward`;
#   state_count: the number of states (h first);
#   prefetch_projected, distinct_recurrent_gradient: optional flags (see their uses);
#   parameters: the weights besides the kernels and input bias (e.g. peepholes), in the order
#       its docstring gives, passed to `run` and on to every method below;
#   forward(projected_t, recurrent_t, states, parameters) -> (new_states, saved), with
#       recurrent_t = h_{t-1} U (dropout applied);
#   backward(d_new_states, saved, new_states, states, parameters)
#       -> (d_projected_t, d_recurrent_t, d_states not through the matmul (None for zero));
#   parameter_gradients(parameters, d_recurrent, state_stacks, previous_state_stacks).


class LSTMProgram:
    """"lstm": gates i, f, c~, o; states h, C; no parameters."""

    saved_widths = (4,)
    state_count = 2

    def _scale(self, units, dtype):
        return _block_scale([((2 * units,), 1.0), ((units,), 2.0), ((units,), 1.0)], dtype)

    def forward(self, projected, recurrent, states, parameters):
        _, c_prev = states
        units = tf.shape(c_prev)[-1]
        # shape: (batch, 4 * units); the candidate block holds sigmoid(2 z_c).
        s = _sigmoid((projected + recurrent) * self._scale(units, projected.dtype))
        i, f, s_c, o = _split(s, 4)
        c = f * c_prev + i * (2.0 * s_c - 1.0)
        h = o * tf.tanh(c)
        return [h, c], [s]

    def backward(self, d_states, saved, states, previous_states, parameters):
        dh, dc = d_states
        (s,) = saved
        _, c = states
        c_prev = previous_states[1]
        units = _units(c)
        # shape: (batch, 4, units): the gate blocks side by side, so that the gradient is one
        # product of stacked factors (XLA compiles that into fewer kernels than four blocks).
        blocks = tf.reshape(s, [-1, 4, units])
        i, f, s_c, o = tf.unstack(blocks, axis=1)
        tanh_c = tf.tanh(c)
        dc = dc + dh * o * (1.0 - tanh_c * tanh_c)
        # d loss / d s of each block, times the chain factor of the pre-activation (2 for the
        # candidate block, whose value is 2 sigmoid(2 z_c) - 1).
        upstream = tf.stack([dc, dc, dc, dh], axis=1)
        partner = tf.stack([2.0 * s_c - 1.0, c_prev, 4.0 * i, tanh_c], axis=1)
        d_z = tf.reshape(upstream * partner * blocks * (1.0 - blocks), [-1, 4 * units])
        return d_z, d_z, [None, dc * f]

    def parameter_gradients(self, parameters, d_projected, state_stacks, previous_state_stacks):
        return []


class CoupledLSTMProgram(LSTMProgram):
    """"coupled_lstm": gates f, c~, o with i = 1 - f; states h, C; no parameters."""

    saved_widths = (3,)

    def _scale(self, units, dtype):
        return _block_scale([((units,), 1.0), ((units,), 2.0), ((units,), 1.0)], dtype)

    def forward(self, projected, recurrent, states, parameters):
        _, c_prev = states
        units = tf.shape(c_prev)[-1]
        s = _sigmoid((projected + recurrent) * self._scale(units, projected.dtype))
        f, s_c, o = _split(s, 3)
        c = f * c_prev + (1.0 - f) * (2.0 * s_c - 1.0)
        h = o * tf.tanh(c)
        return [h, c], [s]

    def backward(self, d_states, saved, states, previous_states, parameters):
        dh, dc = d_states
        (s,) = saved
        _, c = states
        c_prev = previous_states[1]
        units = _units(c)
        blocks = tf.reshape(s, [-1, 3, units])
        f, s_c, o = tf.unstack(blocks, axis=1)
        tanh_c = tf.tanh(c)
        dc = dc + dh * o * (1.0 - tanh_c * tanh_c)
        upstream = tf.stack([dc, dc, dh], axis=1)
        partner = tf.stack([c_prev - (2.0 * s_c - 1.0), 4.0 * (1.0 - f), tanh_c], axis=1)
        d_z = tf.reshape(upstream * partner * blocks * (1.0 - blocks), [-1, 3 * units])
        return d_z, d_z, [None, dc * f]


class NoForgetGateLSTMProgram(LSTMProgram):
    """"no_forget_gate_lstm": gates i, c~, o; C_t = C_{t-1} + i * C~; states h, C."""

    saved_widths = (3,)

    def _scale(self, units, dtype):
        return _block_scale([((units,), 1.0), ((units,), 2.0), ((units,), 1.0)], dtype)

    def forward(self, projected, recurrent, states, parameters):
        _, c_prev = states
        units = tf.shape(c_prev)[-1]
        s = _sigmoid((projected + recurrent) * self._scale(units, projected.dtype))
        i, s_c, o = _split(s, 3)
        c = c_prev + i * (2.0 * s_c - 1.0)
        h = o * tf.tanh(c)
        return [h, c], [s]

    def backward(self, d_states, saved, states, previous_states, parameters):
        dh, dc = d_states
        (s,) = saved
        _, c = states
        units = _units(c)
        blocks = tf.reshape(s, [-1, 3, units])
        i, s_c, o = tf.unstack(blocks, axis=1)
        tanh_c = tf.tanh(c)
        dc = dc + dh * o * (1.0 - tanh_c * tanh_c)
        upstream = tf.stack([dc, dc, dh], axis=1)
        partner = tf.stack([2.0 * s_c - 1.0, 4.0 * i, tanh_c], axis=1)
        d_z = tf.reshape(upstream * partner * blocks * (1.0 - blocks), [-1, 3 * units])
        return d_z, d_z, [None, dc]


class PeepholeLSTMProgram(LSTMProgram):
    """"peephole_lstm": LSTM whose i and f gates see C_{t-1} and whose o gate sees C_t.

    Parameters: the peephole vectors p_i, p_f, p_o, each `(units,)`.
    """

    saved_widths = (4,)
    prefetch_projected = True

    def forward(self, projected, recurrent, states, parameters):
        _, c_prev = states
        p_i, p_f, p_o = parameters
        # Gate by gate from slices of z: XLA fuses slices and peepholes into the elementwise
        # kernels (a concatenated peephole term cost an extra copy kernel per step).
        z_i, z_f, z_c, z_o = _split(projected + recurrent, 4)
        i = _sigmoid(z_i + p_i * c_prev)
        f = _sigmoid(z_f + p_f * c_prev)
        candidate = tf.tanh(z_c)
        c = f * c_prev + i * candidate
        o = _sigmoid(z_o + p_o * c)
        h = o * tf.tanh(c)
        return [h, c], [tf.concat([i, f, candidate, o], -1)]

    def backward(self, d_states, saved, states, previous_states, parameters):
        dh, dc = d_states
        p_i, p_f, p_o = parameters
        _, c = states
        c_prev = previous_states[1]
        units = _units(c)
        blocks = tf.reshape(saved[0], [-1, 4, units])
        i, f, candidate, o = tf.unstack(blocks, axis=1)
        tanh_c = tf.tanh(c)
        d_z_o = dh * tanh_c * o * (1.0 - o)
        dc = dc + dh * o * (1.0 - tanh_c * tanh_c) + d_z_o * p_o
        upstream = tf.stack([dc * candidate, dc * c_prev, dc * i, dh * tanh_c], axis=1)
        derivative = tf.stack(
            [i * (1.0 - i), f * (1.0 - f), 1.0 - candidate * candidate, o * (1.0 - o)], axis=1
        )
        d_blocks = upstream * derivative
        d_z_i, d_z_f = d_blocks[:, 0], d_blocks[:, 1]
        d_z = tf.reshape(d_blocks, [-1, 4 * units])
        return d_z, d_z, [None, dc * f + d_z_i * p_i + d_z_f * p_f]

    def parameter_gradients(self, parameters, d_projected, state_stacks, previous_state_stacks):
        d_z_i, d_z_f, _, d_z_o = _split(d_projected, 4)
        c, c_prev = state_stacks[1], previous_state_stacks[1]
        return [
            tf.reduce_sum(d_z_i * c_prev, axis=[0, 1]),
            tf.reduce_sum(d_z_f * c_prev, axis=[0, 1]),
            tf.reduce_sum(d_z_o * c, axis=[0, 1]),
        ]


class SimpleRNNProgram:
    """"simple_rnn": h_t = tanh(x_t W + h_{t-1} U + b); no parameters."""

    saved_widths = ()
    state_count = 1

    def forward(self, projected, recurrent, states, parameters):
        h = tf.tanh(projected + recurrent)
        return [h], []

    def backward(self, d_states, saved, states, previous_states, parameters):
        (h,) = states
        d_z = d_states[0] * (1.0 - h * h)
        return d_z, d_z, [None]

    def parameter_gradients(self, parameters, d_projected, state_stacks, previous_state_stacks):
        return []


class GRUProgram:
    """"gru_reset_after": Keras' GRU with `reset_after=True`, gates z, r, h~.

    Parameters: the recurrent half's own bias b', `(3 * units,)`, or none without a bias.
    """

    saved_widths = (4,)
    state_count = 1
    # The gradient reaching `h U + b'` differs from the one reaching `x W + b` (the reset gate
    # multiplies the recurrent candidate block), so the backward loop keeps both.
    distinct_recurrent_gradient = True
    prefetch_projected = True

    def forward(self, projected, recurrent, states, parameters):
        (h_prev,) = states
        if parameters:
            recurrent = recurrent + parameters[0]
        units = tf.shape(h_prev)[-1]
        x_zr, x_h = tf.split(projected, [2 * units, units], axis=-1)
        r_zr, r_h = tf.split(recurrent, [2 * units, units], axis=-1)
        z, r = _split(_sigmoid(x_zr + r_zr), 2)
        candidate = tf.tanh(x_h + r * r_h)
        h = z * h_prev + (1.0 - z) * candidate
        return [h], [tf.concat([z, r, candidate, r_h], -1)]

    def backward(self, d_states, saved, states, previous_states, parameters):
        (dh,) = d_states
        (h_prev,) = previous_states
        z, r, candidate, r_h = _split(saved[0], 4)
        d_a_h = dh * (1.0 - z) * (1.0 - candidate * candidate)
        d_a_z = dh * (h_prev - candidate) * z * (1.0 - z)
        d_a_r = d_a_h * r_h * r * (1.0 - r)
        d_projected = tf.concat([d_a_z, d_a_r, d_a_h], -1)
        d_recurrent = tf.concat([d_a_z, d_a_r, d_a_h * r], -1)
        return d_projected, d_recurrent, [dh * z]

    def parameter_gradients(self, parameters, d_recurrent, state_stacks, previous_state_stacks):
        if not parameters:
            return []
        return [tf.reduce_sum(d_recurrent, axis=[0, 1])]


PROGRAMS = {
    "lstm": LSTMProgram(),
    "coupled_lstm": CoupledLSTMProgram(),
    "no_forget_gate_lstm": NoForgetGateLSTMProgram(),
    "peephole_lstm": PeepholeLSTMProgram(),
    "gru_reset_after": GRUProgram(),
    "simple_rnn": SimpleRNNProgram(),
}


# --------------------------------------------------------------------------------------------------
# The loops.
#
# XLA runs a loop body as a handful of kernels per step; what costs at small sizes is their number,
# so the loops carry as few values as possible and keep per-step reads out of the elementwise
# kernels (a value read at step t is fetched at the end of step t - 1 and carried).


def forward_loop(program, settings, projected, initial_states, recurrent_kernel, parameters,
                 recurrent_mask, mask, input_kernel=None, input_bias=None):
    """Runs `program` over time-major `projected` (time, batch, gates * units).

    With `input_kernel`, `projected` holds the inputs themselves, `(time, batch, features)`, and
    each step projects its own (`x_t W + b`, with `input_bias` when not None): no
    `(time, batch, gates * units)` tensor is written and read back, which pays at inference.

    Returns `(last_output, outputs, final_states, record)`: `outputs` time-major (None without
    `settings.return_sequences`); `record` (None without `settings.save`) is
    `(time, batch, width)`: at each step what `program.forward` saved, then the states the step
    started from, concatenated along the last axis (what `backward_loop` needs).
    """
    steps = tf.shape(projected)[0]
    initial_states = list(initial_states)
    dtype = projected.dtype
    batch_shape = tf.TensorShape([initial_states[0].shape[0], None])
    # Fetching step t's input one step ahead keeps the slicing out of the elementwise kernel, which
    # XLA otherwise compiles badly when the kernel also slices the gates apart (the GRU's). When
    # the step projects its own input, the slice feeds the matmul instead, and the carried copy
    # only costs (GRU forward 2-6% slower with it at 32x100x128x256, single core).
    prefetch = getattr(program, "prefetch_projected", False) and input_kernel is None
    carried = {"states": initial_states}
    if prefetch:
        carried["projected"] = projected[0]
    if settings.has_mask:
        carried["output"] = tf.zeros_like(initial_states[0])
        carried["mask"] = mask[0]
    if settings.return_sequences:
        carried["outputs"] = tf.TensorArray(dtype, size=steps, element_shape=batch_shape)
    if settings.save:
        carried["record"] = tf.TensorArray(dtype, size=steps, element_shape=batch_shape)

    def body(t, carried):
        states = carried["states"]
        h_in = states[0]
        if settings.has_recurrent_mask:
            h_in = h_in * recurrent_mask
        recurrent = tf.matmul(h_in, recurrent_kernel)
        carried = dict(carried)
        following = tf.minimum(t + 1, steps - 1)
        if prefetch:
            projected_t = carried["projected"]
            carried["projected"] = projected[following]
        else:
            projected_t = projected[t]
        if input_kernel is not None:
            projected_t = tf.matmul(projected_t, input_kernel)
            if input_bias is not None:
                projected_t = projected_t + input_bias
        new_states, saved = program.forward(projected_t, recurrent, states, parameters)
        output = new_states[0]
        if settings.has_mask:
            # shape: (batch, 1), broadcast against every state and output.
            keep = carried["mask"]
            carried["mask"] = mask[following]
            new_states = [tf.where(keep, new, old) for new, old in zip(new_states, states)]
            held = tf.zeros_like(output) if settings.zero_output_for_mask else carried["output"]
            output = tf.where(keep, output, held)
            carried["output"] = output
        if settings.return_sequences:
            carried["outputs"] = carried["outputs"].write(t, output)
        if settings.save:
            carried["record"] = carried["record"].write(t, tf.concat(saved + states, -1))
        carried["states"] = new_states
        return t + 1, carried

    _, carried = tf.while_loop(lambda t, _: t < steps, body, (0, carried))
    final_states = list(carried["states"])
    last_output = carried["output"] if settings.has_mask else final_states[0]
    outputs = carried["outputs"].stack() if settings.return_sequences else None
    record = carried["record"].stack() if settings.save else None
    return last_output, outputs, final_states, record


def _record_widths(program, units):
    return [width * units for width in program.saved_widths] + [units] * program.state_count


def backward_loop(program, settings, d_last_output, d_outputs, d_final_states, record,
                  final_states, transposed_kernel, parameters, recurrent_mask, mask):
    """The backward pass through time of `forward_loop`, given its results' gradients.

    Returns `(d_projected, d_recurrent, d_initial_states, d_parameters)`: the time-major
    gradients reaching `x_t W + b` and `h_{t-1} U` (the same tensor unless
    `program.distinct_recurrent_gradient`), those of the initial states and of the program's
    parameters. `transposed_kernel` is `U` transposed.
    """
    steps = tf.shape(record)[0]
    widths = _record_widths(program, _units(final_states[0]))
    n_saved = len(program.saved_widths)
    distinct = getattr(program, "distinct_recurrent_gradient", False)
    batch_shape = tf.TensorShape([final_states[0].shape[0], None])
    d_states = [tf.zeros_like(s) if d is None else d for d, s in zip(d_final_states, final_states)]
    if d_last_output is None:
        d_last_output = tf.zeros_like(final_states[0])
    carried = {
        # The states after step t and step t's inputs, fetched one step ahead.
        "states": list(final_states),
        "record": record[steps - 1],
        "d_projected": tf.TensorArray(record.dtype, size=steps, element_shape=batch_shape),
    }
    if distinct:
        carried["d_recurrent"] = tf.TensorArray(record.dtype, size=steps, element_shape=batch_shape)
    if d_outputs is not None:
        carried["d_outputs"] = d_outputs[steps - 1]
    if settings.has_mask:
        carried["mask"] = mask[steps - 1]
        # The gradient reaching the output held from an earlier step.
        carried["d_output"] = d_last_output
    else:
        # Without a mask the last output is the last h.
        d_states[0] = d_states[0] + d_last_output
    carried["d_states"] = d_states

    def body(k, carried):
        t = steps - 1 - k
        carried = dict(carried)
        pieces = tf.split(carried["record"], widths, axis=-1)
        saved, previous_states = pieces[:n_saved], pieces[n_saved:]
        d_states = list(carried["d_states"])
        before = tf.maximum(t - 1, 0)
        if d_outputs is not None:
            d_output_t = carried["d_outputs"]
            carried["d_outputs"] = d_outputs[before]
        if d_outputs is not None and not settings.has_mask:
            d_states[0] = d_states[0] + d_output_t
        carried_through = None
        if settings.has_mask:
            keep = carried["mask"]
            carried["mask"] = mask[before]
            gradient = carried["d_output"]
            if d_outputs is not None:
                gradient = gradient + d_output_t
            zero = tf.zeros_like(gradient)
            d_states[0] = d_states[0] + tf.where(keep, gradient, zero)
            # A masked step passes its states (and, unless it outputs zeros, its output) through.
            carried_through = [tf.where(keep, tf.zeros_like(d), d) for d in d_states]
            d_states = [tf.where(keep, d, tf.zeros_like(d)) for d in d_states]
            if settings.zero_output_for_mask:
                carried["d_output"] = zero
            else:
                carried["d_output"] = tf.where(keep, zero, gradient)
        d_p, d_m, d_previous = program.backward(
            d_states, saved, carried["states"], previous_states, parameters
        )
        # shape: (batch, units): the gradient reaching h_{t-1} through the recurrent matmul.
        d_h_in = tf.matmul(d_m, transposed_kernel)
        if settings.has_recurrent_mask:
            d_h_in = d_h_in * recurrent_mask
        new_d_states = []
        for index, direct in enumerate(d_previous):
            total = d_h_in if index == 0 else None
            for extra in (direct, None if carried_through is None else carried_through[index]):
                if extra is not None:
                    total = extra if total is None else total + extra
            new_d_states.append(tf.zeros_like(d_states[index]) if total is None else total)
        carried["d_states"] = new_d_states
        carried["d_projected"] = carried["d_projected"].write(t, d_p)
        if distinct:
            carried["d_recurrent"] = carried["d_recurrent"].write(t, d_m)
        carried["states"] = previous_states
        carried["record"] = record[before]
        return k + 1, carried

    _, carried = tf.while_loop(lambda k, _: k < steps, body, (0, carried))
    d_projected = carried["d_projected"].stack()
    d_recurrent = carried["d_recurrent"].stack() if distinct else d_projected
    d_parameters = []
    if parameters:
        # shape: (time, batch, units) each: the states every step started from, and ended with.
        previous_state_stacks = tf.split(record, widths, axis=-1)[n_saved:]
        state_stacks = [
            tf.concat([previous[1:], final[None]], axis=0)
            for previous, final in zip(previous_state_stacks, final_states)
        ]
        d_parameters = program.parameter_gradients(
            parameters, d_recurrent, state_stacks, previous_state_stacks
        )
    return d_projected, d_recurrent, list(carried["d_states"]), d_parameters


@functools.lru_cache(maxsize=None)
def _compiled(function, program, settings, jit_compile):
    return tf.function(
        functools.partial(function, program, settings),
        jit_compile=jit_compile,
        reduce_retracing=True,
    )


def _writing_saved_model():
    """Whether TensorFlow is tracing functions into a SavedModel right now."""
    try:
        from tensorflow.python.saved_model import save_context
    except ImportError:  # pragma: no cover - TensorFlow moved it; stay servable.
        return True
    return save_context.in_save_context()


# Fewer rows per chain than this and a second chain costs more than it saves.
MIN_ROWS_PER_CHAIN = 8


def chain_count(batch_size):
    """How many independent loops to split a batch into: one per CPU core, none on a GPU.

    The rows of a batch do not interact, so the recurrence of each part of the batch is its own
    loop; inside a `tf.function` TensorFlow runs those loops at the same time, one per core,
    without the per-step synchronisation that splitting each step's small matmul would cost.
    """
    if tf.executing_eagerly() or tf.config.list_logical_devices("GPU"):
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    # The chains run on TensorFlow's inter-op threads (0 means one per core).
    inter_op_threads = tf.config.threading.get_inter_op_parallelism_threads()
    if inter_op_threads > 0:
        cores = min(cores, inter_op_threads)
    if batch_size is not None:
        cores = min(cores, batch_size // MIN_ROWS_PER_CHAIN)
    return max(cores, 1)


def _split_batch(tensor, chains, axis=0):
    """`tensor` split into `chains` parts along `axis` (the first parts at most one row shorter)."""
    if tensor is None:
        return [None] * chains
    if chains == 1:
        return [tensor]
    size = tensor.shape[axis]
    if size is None:
        size = tf.shape(tensor)[axis]
    sizes = [(size + index) // chains for index in range(chains)]
    if isinstance(size, int):
        return tf.split(tensor, sizes, axis=axis)
    return tf.split(tensor, tf.stack(sizes), num=chains, axis=axis)


def project(inputs, kernel, bias):
    """`inputs W + b` for time-major `inputs`, as one 2-D matmul with a fused bias."""
    # shape: (time * batch, features)
    flat = tf.reshape(inputs, [-1, kernel.shape[0]])
    projected = tf.matmul(flat, kernel)
    if bias is not None:
        projected = tf.nn.bias_add(projected, bias)
    shape = tf.concat([tf.shape(inputs)[:2], [kernel.shape[1]]], axis=0)
    projected = tf.reshape(projected, shape)
    projected.set_shape(inputs.shape[:2].concatenate([kernel.shape[1]]))
    return projected


def run(
    program_name,
    sequences,
    initial_states,
    *,
    input_kernel,
    input_bias,
    recurrent_kernel,
    parameters=(),
    mask=None,
    recurrent_mask=None,
    go_backwards=False,
    return_sequences=False,
    zero_output_for_mask=False,
    training=False,
):
    """Runs the program `program_name` over a sequence: `(last_output, outputs, states)`.

    Keras' `RNN.inner_loop` contract: `outputs` is `(batch, time, units)` in processing order
    with `return_sequences`, else `last_output` again.

    Args:
        program_name: a key of `PROGRAMS`.
        sequences: `(batch, time, features)`, input dropout already applied.
        initial_states: list of `(batch, units)`, h first.
        input_kernel: `W`, `(features, gates * units)`.
        input_bias: the bias added to `x W`, or None.
        recurrent_kernel: `U`, `(units, gates * units)`.
        parameters: the program's other weights (see its docstring).
        mask: optional boolean `(batch, time)`, Keras' masking semantics.
        recurrent_mask: optional `(batch, units)` recurrent dropout mask, multiplying h_{t-1}
            before the recurrent matmul at every step.
        go_backwards: process the sequence from its last step to its first.
        return_sequences: whether to return the outputs of every step.
        zero_output_for_mask: masked steps output zeros instead of the previous output.
        training: whether the forward pass keeps what the backward pass needs (when False and a
            gradient is asked for anyway, the backward pass recomputes it).
    """
    if program_name not in PROGRAMS:
        raise ValueError(
            f"No fused program named {program_name!r}; the programs are {sorted(PROGRAMS)}."
        )
    program = PROGRAMS[program_name]
    settings = LoopSettings(
        has_mask=mask is not None,
        has_recurrent_mask=recurrent_mask is not None,
        zero_output_for_mask=bool(zero_output_for_mask),
        return_sequences=bool(return_sequences),
        save=bool(training),
    )
    input_kernel = tf.convert_to_tensor(input_kernel)
    input_bias = None if input_bias is None else tf.convert_to_tensor(input_bias)
    recurrent_kernel = tf.convert_to_tensor(recurrent_kernel)
    parameters = [tf.convert_to_tensor(p) for p in parameters]
    initial_states = [tf.convert_to_tensor(s) for s in initial_states]
    portable = _writing_saved_model()
    chains = 1 if portable else chain_count(sequences.shape[0])
    # shape: (time, batch, features), in processing order.
    sequences = tf.transpose(sequences, [1, 0, 2])
    if mask is not None:
        # shape: (time, batch, 1)
        mask = tf.cast(tf.transpose(mask), tf.bool)[:, :, None]
    if go_backwards:
        sequences = tf.reverse(sequences, [0])
        mask = None if mask is None else tf.reverse(mask, [0])
    # Each chain's inputs come out of one split op, so that TensorFlow's executor finds all the
    # chains' loops ready at once and runs them on different threads (prepared one after the
    # other, the first loop would start, and hold the thread, before the second was ready).
    parts = zip(
        _split_batch(sequences, chains, axis=1),
        zip(*[_split_batch(s, chains) for s in initial_states]),
        _split_batch(mask, chains, axis=1),
        _split_batch(recurrent_mask, chains),
    )
    results = []
    for part_sequences, part_states, part_mask, part_recurrent_mask in parts:
        if portable:
            # shape: (time, batch, gates * units): the input half of every gate, one matmul.
            projected = project(part_sequences, input_kernel, input_bias)
            last_output, outputs, states, _ = forward_loop(
                program, settings, projected, list(part_states), recurrent_kernel, parameters,
                part_recurrent_mask, part_mask,
            )
        else:
            last_output, outputs, states = _differentiable_loop(
                program, settings, part_sequences, input_kernel, input_bias, list(part_states),
                recurrent_kernel, parameters, part_recurrent_mask, part_mask,
            )
        results.append((last_output, outputs, states))
    if chains == 1:
        last_output, outputs, states = results[0]
    else:
        last_output = tf.concat([r[0] for r in results], 0)
        outputs = None if results[0][1] is None else tf.concat([r[1] for r in results], 1)
        states = [tf.concat(s, 0) for s in zip(*[r[2] for r in results])]
    if outputs is None:
        outputs = last_output
    else:
        # shape: (batch, time, units)
        outputs = tf.transpose(outputs, [1, 0, 2])
    return last_output, outputs, states


def _differentiable_loop(program, settings, inputs, input_kernel, input_bias, initial_states,
                         recurrent_kernel, parameters, recurrent_mask, mask):
    """The projection and `forward_loop` (under XLA inside a tf.function), with `backward_loop`
    as their gradient. `inputs` is time-major, `(time, batch, features)`."""
    n_states = len(initial_states)
    n_parameters = len(parameters)
    has_bias = input_bias is not None
    # XLA compiles once per input shape (a few tenths of a second each): worth it inside
    # tf.function (fit, predict), not for one eager call.
    jit_compile = not tf.executing_eagerly()
    saving = settings._replace(save=True)
    forward = _compiled(forward_loop, program, settings, jit_compile)
    forward_saving = _compiled(forward_loop, program, saving, jit_compile)
    backward = _compiled(backward_loop, program, saving, jit_compile)
    units = recurrent_kernel.shape[0]
    n_saved = len(program.saved_widths)

    @tf.custom_gradient
    def loop(inputs, input_kernel, recurrent_kernel, *rest):
        # The tape must not differentiate the loop itself (that is what `gradient` is for).
        inputs, input_kernel, recurrent_kernel, *rest = [
            tf.stop_gradient(t) for t in (inputs, input_kernel, recurrent_kernel, *rest)
        ]
        input_bias = rest.pop(0) if has_bias else None
        initial_states = list(rest[:n_states])
        parameters = list(rest[n_states : n_states + n_parameters])
        recurrence = (initial_states, recurrent_kernel, parameters, recurrent_mask, mask)

        def recorded_forward():
            # shape: (time, batch, gates * units): the input half of every gate, one matmul.
            return forward_saving(project(inputs, input_kernel, input_bias), *recurrence)

        if settings.save:
            last_output, outputs, final_states, record = recorded_forward()
        else:
            last_output, outputs, final_states, record = forward(
                inputs, *recurrence, input_kernel=input_kernel, input_bias=input_bias
            )
        results = [last_output] + ([outputs] if settings.return_sequences else []) + final_states

        def gradient(*d_results):
            d_results = list(d_results)
            d_last_output = d_results.pop(0)
            d_outputs = d_results.pop(0) if settings.return_sequences else None
            # Outside training the forward pass kept nothing: run it again, keeping the gates.
            kept = record if record is not None else recorded_forward()[3]
            d_projected, d_recurrent, d_initial, d_parameters = backward(
                d_last_output, d_outputs, d_results, kept, final_states,
                tf.transpose(recurrent_kernel), parameters, recurrent_mask, mask,
            )
            # The projection's gradients, each one matmul over every step.
            # shape: (time * batch, gates * units)
            d_flat = tf.reshape(d_projected, [-1, input_kernel.shape[1]])
            flat_inputs = tf.reshape(inputs, [-1, input_kernel.shape[0]])
            d_input_kernel = tf.matmul(flat_inputs, d_flat, transpose_a=True)
            d_inputs = tf.reshape(
                tf.matmul(d_flat, input_kernel, transpose_b=True), tf.shape(inputs)
            )
            d_input_bias = [tf.reduce_sum(d_flat, axis=0)] if has_bias else []
            # shape: (time, batch, units): h_{t-1} at every step, sliced out of the record
            # (splitting the record whole would copy all of it).
            offset = sum(_record_widths(program, units)[:n_saved])
            h_in = kept[:, :, offset : offset + units]
            if recurrent_mask is not None:
                h_in = h_in * recurrent_mask
            # shape: (units, gates * units): sum over t and batch of h_{t-1}^T dz_t, one matmul.
            d_kernel = tf.matmul(
                tf.reshape(h_in, [-1, units]),
                tf.reshape(d_recurrent, [-1, recurrent_kernel.shape[-1]]),
                transpose_a=True,
            )
            return [
                d_inputs, d_input_kernel, d_kernel, *d_input_bias, *d_initial, *d_parameters
            ]

        return results, gradient

    bias = [input_bias] if has_bias else []
    results = list(
        loop(inputs, input_kernel, recurrent_kernel, *bias, *initial_states, *parameters)
    )
    # The compiled functions are traced for any shape; give the results back their static ones.
    state_shape = initial_states[0].shape
    shapes = [state_shape]
    if settings.return_sequences:
        shapes.append(inputs.shape[:1].concatenate(state_shape))
    shapes.extend(s.shape for s in initial_states)
    for result, shape in zip(results, shapes):
        result.set_shape(shape)
    last_output = results.pop(0)
    outputs = results.pop(0) if settings.return_sequences else None
    return last_output, outputs, results
