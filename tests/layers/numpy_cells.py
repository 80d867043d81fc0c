"""Independent NumPy references of nlpkit's recurrent cells, written from the papers' formulas.

Each `*_step` takes one time step `x` (batch, input_dim), the previous states and the weights as
NumPy arrays (in the Keras layout: kernel, recurrent_kernel, bias, ...), and returns
`(output, new_states)`. `run_sequence` runs a step over time with Keras' masking semantics.
"""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def simple_rnn_step(x, states, weights, recurrent_mask=None):
    W, U, b = weights
    (h,) = states
    h_in = h if recurrent_mask is None else h * recurrent_mask
    h = np.tanh(x @ W + h_in @ U + b)
    return h, [h]


def lstm_step(x, states, weights, recurrent_mask=None):
    W, U, b = weights
    h, c = states
    n = h.shape[-1]
    h = h if recurrent_mask is None else h * recurrent_mask  # only feeds the matmuls
    W_i, W_f, W_c, W_o = (W[:, k * n : (k + 1) * n] for k in range(4))
    U_i, U_f, U_c, U_o = (U[:, k * n : (k + 1) * n] for k in range(4))
    b_i, b_f, b_c, b_o = (b[k * n : (k + 1) * n] for k in range(4))
    i = sigmoid(x @ W_i + h @ U_i + b_i)
    f = sigmoid(x @ W_f + h @ U_f + b_f)
    c_candidate = np.tanh(x @ W_c + h @ U_c + b_c)
    o = sigmoid(x @ W_o + h @ U_o + b_o)
    c = f * c + i * c_candidate
    h = o * np.tanh(c)
    return h, [h, c]


def peephole_lstm_step(x, states, weights, recurrent_mask=None):
    W, U, b, p_i, p_f, p_o = weights
    h, c_prev = states
    n = h.shape[-1]
    h = h if recurrent_mask is None else h * recurrent_mask  # only feeds the matmuls
    W_i, W_f, W_c, W_o = (W[:, k * n : (k + 1) * n] for k in range(4))
    U_i, U_f, U_c, U_o = (U[:, k * n : (k + 1) * n] for k in range(4))
    b_i, b_f, b_c, b_o = (b[k * n : (k + 1) * n] for k in range(4))
    i = sigmoid(x @ W_i + h @ U_i + p_i * c_prev + b_i)
    f = sigmoid(x @ W_f + h @ U_f + p_f * c_prev + b_f)
    c = f * c_prev + i * np.tanh(x @ W_c + h @ U_c + b_c)
    o = sigmoid(x @ W_o + h @ U_o + p_o * c + b_o)
    h = o * np.tanh(c)
    return h, [h, c]


def coupled_lstm_step(x, states, weights, recurrent_mask=None):
    W, U, b = weights
    h, c = states
    n = h.shape[-1]
    h = h if recurrent_mask is None else h * recurrent_mask  # only feeds the matmuls
    W_f, W_c, W_o = (W[:, k * n : (k + 1) * n] for k in range(3))
    U_f, U_c, U_o = (U[:, k * n : (k + 1) * n] for k in range(3))
    b_f, b_c, b_o = (b[k * n : (k + 1) * n] for k in range(3))
    f = sigmoid(x @ W_f + h @ U_f + b_f)
    c = f * c + (1 - f) * np.tanh(x @ W_c + h @ U_c + b_c)
    o = sigmoid(x @ W_o + h @ U_o + b_o)
    h = o * np.tanh(c)
    return h, [h, c]


def no_forget_gate_lstm_step(x, states, weights, recurrent_mask=None):
    W, U, b = weights
    h, c = states
    n = h.shape[-1]
    h = h if recurrent_mask is None else h * recurrent_mask  # only feeds the matmuls
    W_i, W_c, W_o = (W[:, k * n : (k + 1) * n] for k in range(3))
    U_i, U_c, U_o = (U[:, k * n : (k + 1) * n] for k in range(3))
    b_i, b_c, b_o = (b[k * n : (k + 1) * n] for k in range(3))
    i = sigmoid(x @ W_i + h @ U_i + b_i)
    c = c + i * np.tanh(x @ W_c + h @ U_c + b_c)
    o = sigmoid(x @ W_o + h @ U_o + b_o)
    h = o * np.tanh(c)
    return h, [h, c]


def gru_step(x, states, weights, reset_after, recurrent_mask=None):
    W, U, b = weights
    (h,) = states
    h_in = h if recurrent_mask is None else h * recurrent_mask
    n = h.shape[-1]
    W_z, W_r, W_h = (W[:, k * n : (k + 1) * n] for k in range(3))
    U_z, U_r, U_h = (U[:, k * n : (k + 1) * n] for k in range(3))
    if reset_after:
        b_in, b_rec = b[0], b[1]
    else:
        b_in, b_rec = b, np.zeros_like(b)
    bi_z, bi_r, bi_h = (b_in[k * n : (k + 1) * n] for k in range(3))
    br_z, br_r, br_h = (b_rec[k * n : (k + 1) * n] for k in range(3))
    z = sigmoid(x @ W_z + bi_z + h_in @ U_z + br_z)
    r = sigmoid(x @ W_r + bi_r + h_in @ U_r + br_r)
    if reset_after:
        h_candidate = np.tanh(x @ W_h + bi_h + r * (h_in @ U_h + br_h))
    else:
        h_candidate = np.tanh(x @ W_h + bi_h + (r * h_in) @ U_h)
    h = z * h + (1 - z) * h_candidate
    return h, [h]


def run_sequence(
    step, x, states, weights, mask=None, go_backwards=False, input_mask=None, recurrent_mask=None
):
    """Runs `step` over `x` (batch, time, dim) one sequence position at a time.

    A masked step keeps the previous states and repeats the previous output (Keras' default),
    so the final states of a padded row are those after its last real token.

    `input_mask` (batch, dim) and `recurrent_mask` (batch, units) are dropout masks, the same at
    every step.

    Returns `(outputs (batch, time, units) in processing order, final_states)`.
    """
    batch, time, _ = x.shape
    order = range(time - 1, -1, -1) if go_backwards else range(time)
    output = np.zeros_like(states[0])
    outputs = []
    for t in order:
        x_t = x[:, t] if input_mask is None else x[:, t] * input_mask
        new_output, new_states = step(x_t, states, weights, recurrent_mask=recurrent_mask)
        if mask is not None:
            keep = mask[:, t : t + 1]
            new_states = [np.where(keep, new, old) for new, old in zip(new_states, states)]
            new_output = np.where(keep, new_output, output)
        output, states = new_output, new_states
        outputs.append(output)
    return np.stack(outputs, axis=1), states
