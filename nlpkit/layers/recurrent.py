"""The shared base of nlpkit's sequence layers: a cell run over time.

`Recurrent` is a `keras.layers.RNN`, so `return_sequences`, `return_state`, `go_backwards`,
`stateful`, initial states, masking and `keras.layers.Bidirectional` behave exactly as in Keras. What
it changes is the time loop (`inner_loop`):

1. dropout masks are drawn once per sequence and reused at every step;
2. the input half of every gate, `x_t W + b`, is computed for all time steps in one matmul before
   the loop, so the loop body holds only the recurrence (`cell.step`).

The loop itself is `keras.ops.scan`, so the layers run on every Keras backend. On the TensorFlow
backend the cells with a program in `nlpkit.layers.tensorflow_recurrence` (LSTM, its variants, GRU
with `reset_after=True`, SimpleRNN; default activations, float32/float64) run the same computation
as XLA loops with a hand-written backward pass instead; tests check both give the same results.
"""

import inspect

import keras
from keras import ops

from nlpkit.layers.recurrent_cell import RecurrentCell


def scan_recurrence(
    step_fn,
    projected,
    initial_states,
    mask=None,
    go_backwards=False,
    zero_output_for_mask=False,
    unroll=False,
):
    """Runs `step_fn` over time with Keras' masking semantics.

    Args:
        step_fn: `(projected_t, states) -> (output_t, new_states)`, states a list of tensors.
        projected: `(batch, time, features)`: the per-step inputs of `step_fn`.
        initial_states: list of `(batch, units_i)` tensors.
        mask: optional boolean `(batch, time)`; at a masked step the states are carried over and
            the output is the previous output (or zeros when `zero_output_for_mask`).
        go_backwards: process the sequence from its last step to its first; the returned
            outputs are then in processing (reversed) order, as in Keras.
        zero_output_for_mask: see `mask`.
        unroll: passed to `keras.ops.scan`.

    Returns:
        `(last_output, outputs, final_states)` with outputs `(batch, time, units)`.
    """
    if mask is not None:
        # The mask rides along as one more feature column: keras.ops.scan on TensorFlow fails on
        # several scanned tensors when the time dimension is unknown.
        # shape: (batch, time, features + 1)
        mask_column = ops.expand_dims(ops.cast(mask, projected.dtype), -1)
        projected = ops.concatenate([projected, mask_column], axis=-1)
    # shape: (time, batch, features [+ 1]): scan walks the leading axis.
    time_major = ops.transpose(projected, (1, 0, 2))
    if go_backwards:
        time_major = ops.flip(time_major, axis=0)

    initial_states = list(initial_states)
    # The first state has the output's shape in every cell here (h); its zeros stand in for the
    # "previous output" before the first step.
    initial_output = ops.zeros_like(initial_states[0])

    def body(carry, projected_t):
        states, previous_output = carry
        if mask is None:
            output, new_states = step_fn(projected_t, list(states))
        else:
            # shape: (batch, 1), broadcast against every state and output.
            mask_t = projected_t[:, -1:] > 0.5
            output, new_states = step_fn(projected_t[:, :-1], list(states))
            new_states = [ops.where(mask_t, new, old) for new, old in zip(new_states, states)]
            held = ops.zeros_like(output) if zero_output_for_mask else previous_output
            output = ops.where(mask_t, output, held)
        new_carry = (list(new_states), output)
        # TensorFlow's scan wants the per-step outputs to mirror the carry.
        return new_carry, new_carry

    (final_states, last_output), (_, outputs) = ops.scan(
        body, (initial_states, initial_output), time_major, unroll=unroll
    )
    # shape: (batch, time, units)
    outputs = ops.transpose(outputs, (1, 0, 2))
    return last_output, outputs, list(final_states)


class Recurrent(keras.layers.RNN):
    """Base class of nlpkit's sequence layers; a subclass names its `cell_class`.

    The constructor takes the cell's arguments (units, activation, dropout, ...) and the usual
    `keras.layers.RNN` arguments side by side, as `keras.layers.LSTM` does, and `get_config`
    returns them all flat.

    Args:
        units: Positive integer, dimensionality of the output space.
        return_sequences: Return the full sequence `(batch, time, units)` instead of the last
            output `(batch, units)`. Default: `False`.
        return_state: Also return the final states. Default: `False`.
        go_backwards: Process the sequence backwards and return the reversed sequence.
        stateful: Carry the last state of batch i over as the initial state of batch i.
        unroll: Unroll the time loop (faster for short sequences, more memory).
        zero_output_for_mask: Masked steps output zeros instead of the previous output.
        **kwargs: The cell's arguments (see the cell class) and base layer arguments.

    Call arguments:
        sequences: A 3D tensor `(batch, time, features)`.
        initial_state: Optional list of initial state tensors, `(batch, units)` each.
        mask: Optional boolean `(batch, time)`; `True` marks real time steps.
        training: Python boolean; enables dropout.
    """

    cell_class = None

    def __init__(
        self,
        units,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        cell_parameters = set()
        for klass in self.cell_class.__mro__:
            if issubclass(klass, RecurrentCell):
                cell_parameters.update(inspect.signature(klass.__init__).parameters)
        cell_parameters -= {"self", "units", "kwargs"}
        cell_kwargs = {name: kwargs.pop(name) for name in list(kwargs) if name in cell_parameters}
        cell = self.cell_class(
            units,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="cell",
            **cell_kwargs,
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            **kwargs,
        )

    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 3 or sequences_shape[-1] is None:
            raise ValueError(
                f"{self.__class__.__name__} expects inputs of shape (batch, time, features) with a "
                f"known number of features; got shape {tuple(sequences_shape)}."
            )
        super().build(sequences_shape, initial_state_shape)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if len(sequences.shape) != 3:
            raise ValueError(
                f"{self.__class__.__name__} expects inputs of shape (batch, time, features); "
                f"got shape {tuple(sequences.shape)}."
            )
        expected = self.cell.kernel.shape[0]
        if sequences.shape[-1] is not None and sequences.shape[-1] != expected:
            raise ValueError(
                f"{self.__class__.__name__} was built for {expected} input features per step; "
                f"got inputs of shape {tuple(sequences.shape)}."
            )
        if mask is not None:
            # Keras passes a mask per input of a multi-input call; the sequences' mask is first.
            mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        input_mask, recurrent_mask = cell.dropout_masks(sequences[:, 0, :], training=training)
        if input_mask is not None:
            # shape: (batch, 1, features): one mask for every time step of a sequence.
            sequences = sequences * ops.expand_dims(input_mask, 1)
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        if keras.backend.backend() == "tensorflow":
            # The same computation as below, as one XLA loop with a hand-written backward pass.
            from nlpkit.layers import tensorflow_recurrence

            if tensorflow_recurrence.program_for(cell) is not None:
                last_output, outputs, states = tensorflow_recurrence.run(
                    self, sequences, list(initial_state), mask, recurrent_mask, training
                )
                if not self.return_sequences:
                    outputs = last_output
                return last_output, outputs, states
        # shape: (batch, time, gates * units): the input half of every gate, one matmul.
        projected = cell.project_inputs(sequences)

        def step(projected_t, states):
            return cell.step(projected_t, states, recurrent_mask)

        last_output, outputs, states = scan_recurrence(
            step,
            projected,
            initial_state,
            mask=mask,
            go_backwards=self.go_backwards,
            zero_output_for_mask=self.zero_output_for_mask,
            unroll=self.unroll,
        )
        if not self.return_sequences:
            outputs = last_output
        return last_output, outputs, states

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
