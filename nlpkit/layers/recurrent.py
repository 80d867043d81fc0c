"""The shared base of nlpkit's sequence layers: a cell run over time.

`Recurrent` is a `keras.layers.RNN`, so `return_sequences`, `return_state`, `go_backwards`,
`stateful`, initial states, masking and `keras.layers.Bidirectional` behave exactly as in Keras. It
runs either a stock cell built from its subclass's `cell_class` (`LSTM(8)`), or a cell instance
(`Recurrent(cell=LSTMCell(8))`), like `keras.layers.RNN(cell)`. What it changes is the time loop
(`inner_loop`), which takes one of three paths:

- "fused" (TensorFlow backend only): the cell's `fused_recurrence()` names a program of
  `nlpkit.layers.tensorflow_recurrence`, an XLA loop with a hand-written backward pass, and hands
  it the weights. Used only while the cell's `step`, `call`, `project_inputs`, `input_bias` and
  `split_gates` are the very functions its class vouched for when it was defined (a subclass
  that only changes defaults keeps the fused path; one that overrides `step` or `call`, or a
  patched `LSTMCell.step`, does not), and without `unroll`. Tests check it gives the reference's
  outputs, states and gradients.
- "reference": `keras.ops.scan` on every backend, with two changes from Keras' loop: dropout
  masks are drawn once per sequence and reused at every step, and the input half of every gate,
  `x_t W + b`, is computed for all time steps in one matmul before the loop, so the loop body
  holds only the recurrence (`cell.step`).
- "reference" with a cell that overrides `call`: `keras.layers.RNN`'s semantics, the cell's own
  `call` at every step (its own dropout, no hoisted projection), so the override is honoured.

`use_fast_path` ("auto", True, False) chooses, as `use_cudnn` does in Keras;
`fast_path_unavailable_reason()` says why the fused path cannot run, and `last_path` records the
path the last traced call took.
"""

import inspect

import keras
from keras import ops

from nlpkit.layers.recurrent_cell import RecurrentCell

if keras.backend.backend() == "tensorflow":
    # The fused loops are TensorFlow code: on other backends, TensorFlow is never imported for them.
    from nlpkit.layers import tensorflow_recurrence
else:
    tensorflow_recurrence = None


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
        unroll: run the steps as a Python loop (the time dimension must be known) instead of
            `keras.ops.scan`.

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

    if unroll:
        steps = time_major.shape[0]
        if steps is None:
            raise ValueError(
                "unroll=True needs a known number of time steps; got inputs of shape "
                f"{tuple(projected.shape)}. Give the time dimension in `keras.Input(shape=...)`."
            )
        # A Python loop: one copy of the step per time step in the traced graph, on every
        # backend (keras.ops.scan's `unroll` only sets TensorFlow's parallel_iterations).
        carry, per_step_outputs = (initial_states, initial_output), []
        for t in range(steps):
            carry, _ = body(carry, time_major[t])
            per_step_outputs.append(carry[1])
        final_states, last_output = carry
        # shape: (batch, time, units)
        outputs = ops.stack(per_step_outputs, axis=1)
        return last_output, outputs, list(final_states)

    (final_states, last_output), (_, outputs) = ops.scan(
        body, (initial_states, initial_output), time_major
    )
    # shape: (batch, time, units)
    outputs = ops.transpose(outputs, (1, 0, 2))
    return last_output, outputs, list(final_states)


def _call_is_overridden(cell):
    """Whether `cell` has its own per-step `call`, which the reference loop must then run."""
    return "call" in vars(cell) or type(cell).call is not RecurrentCell.call


def _cell_fusion_blocker(cell):
    """Why `cell` cannot run on a fused program: a sentence, or None when it can.

    The class that defines `fused_recurrence` vouched for the functions it had when it was
    defined; the cell qualifies only while it still has those very functions, so overriding one
    in a subclass, or patching one on the class or the instance, disqualifies it.
    """
    cell_class = type(cell)
    declarer = next(k for k in cell_class.__mro__ if "fused_recurrence" in vars(k))
    if declarer is RecurrentCell:
        return cell.fused_recurrence_blocker()
    vouched = vars(declarer).get("_fused_recurrence_vouches_for")
    if vouched is None:
        return (
            f"{declarer.__name__}.fused_recurrence was set after the class was defined, so no "
            "methods are vouched for"
        )
    for name, stock in vouched.items():
        if name in vars(cell):
            return f"the cell instance has its own `{name}`, not {stock.__qualname__}"
        current = getattr(cell_class, name)
        if current is not stock:
            owner = next(k for k in cell_class.__mro__ if name in vars(k))
            current_name = getattr(current, "__qualname__", repr(current))
            if current_name == f"{owner.__qualname__}.{name}":
                change = f"{owner.__name__} overrides `{name}`"
            else:
                change = f"{owner.__name__}.{name} was replaced by {current_name}"
            return (
                f"{change}; {declarer.__name__}'s fused program stands in for "
                f"{stock.__qualname__}"
            )
    return cell.fused_recurrence_blocker()


@keras.saving.register_keras_serializable(package="nlpkit")
class Recurrent(keras.layers.RNN):
    """A recurrent cell run over sequences; base class of nlpkit's sequence layers.

    Two ways to make one:

    - a subclass that names its `cell_class` (`LSTM(8, dropout=0.1)`): the constructor takes the
      cell's arguments and the usual `keras.layers.RNN` arguments side by side, as
      `keras.layers.LSTM` does, and `get_config` returns them all flat;
    - a cell instance, as `keras.layers.RNN(cell)` takes one:
      `Recurrent(cell=LSTMCell(8), return_sequences=True)`; `get_config` serializes the cell.

    Args:
        units: Positive integer, dimensionality of the output space (with a `cell_class`).
        return_sequences: Return the full sequence `(batch, time, units)` instead of the last
            output `(batch, units)`. Default: `False`.
        return_state: Also return the final states. Default: `False`.
        go_backwards: Process the sequence backwards and return the reversed sequence.
        stateful: Carry the last state of batch i over as the initial state of batch i.
        unroll: Unroll the time loop: the reference loop runs as a Python loop, one copy of the
            step per time step (faster for short sequences, more memory; the number of time
            steps must be known). The fused path does not unroll: with `use_fast_path="auto"`
            an unrolled layer runs the reference loop, with `use_fast_path=True` it is an error.
        zero_output_for_mask: Masked steps output zeros instead of the previous output.
        cell: An `nlpkit.layers.RecurrentCell` instance to run; only without `units`, on
            `Recurrent` itself (a subclass with a `cell_class` makes its own cell).
        use_fast_path: `"auto"` (default): on the TensorFlow backend, run the cell's fused
            program (`RecurrentCell.fused_recurrence`, `nlpkit.layers.tensorflow_recurrence`)
            when it can, else the reference loop. `True`: the fused program or a `ValueError`
            saying why it cannot run (another backend, `unroll`, an overridden `step` or `call`,
            an activation or dtype the programs do not compute, ...). `False`: always the
            reference loop (`keras.ops.scan` over the cell's `step`, or over its own `call`
            when the cell overrides `call`).
        **kwargs: The cell's arguments (see the cell class; with a `cell_class` only) and base
            layer arguments.

    Call arguments:
        sequences: A 3D tensor `(batch, time, features)`.
        initial_state: Optional list of initial state tensors, `(batch, units)` each.
        mask: Optional boolean `(batch, time)`; `True` marks real time steps.
        training: Python boolean; enables dropout.

    Attributes:
        last_path: The path the last traced call took: `"fused"`, `"reference"` (`step` with
            the projection hoisted out of the loop) or `"cell_call"` (the cell's own `call` at
            every step); None before the first call.
    """

    cell_class = None

    def __init__(
        self,
        units=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        *,
        cell=None,
        use_fast_path="auto",
        **kwargs,
    ):
        if not (use_fast_path == "auto" or use_fast_path is True or use_fast_path is False):
            raise ValueError(
                f'`use_fast_path` must be "auto", True or False; got {use_fast_path!r}.'
            )
        if cell is None:
            cell = self._make_stock_cell(units, kwargs)
        else:
            self._check_cell_instance(cell, units)
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
        self.use_fast_path = use_fast_path
        self.last_path = None
        if use_fast_path is True:
            # Most reasons are known now; failing here points at the line that made the layer.
            self._raise_if_fast_path_unavailable()

    def _make_stock_cell(self, units, kwargs):
        """The `cell_class` cell, taking its arguments out of `kwargs`."""
        if self.cell_class is None:
            raise ValueError(
                f"{self.__class__.__name__} needs a cell: pass `cell=`, e.g. "
                "Recurrent(cell=LSTMCell(8)), or use a layer that names its `cell_class`, "
                "e.g. LSTM(8)."
            )
        cell_parameters = set()
        for klass in self.cell_class.__mro__:
            if issubclass(klass, RecurrentCell):
                cell_parameters.update(inspect.signature(klass.__init__).parameters)
        cell_parameters -= {"self", "units", "kwargs"}
        cell_kwargs = {name: kwargs.pop(name) for name in list(kwargs) if name in cell_parameters}
        return self.cell_class(
            units,
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="cell",
            **cell_kwargs,
        )

    def _check_cell_instance(self, cell, units):
        name = self.__class__.__name__
        if self.cell_class is not None:
            raise ValueError(
                f"{name} makes its own {self.cell_class.__name__} from `units` and the cell's "
                f"arguments; got cell={cell!r}. To run another cell, use "
                "nlpkit.layers.Recurrent(cell=...)."
            )
        if units is not None:
            raise ValueError(
                f"{name}(cell=...) takes its units from the cell; got units={units!r} as well."
            )
        if not isinstance(cell, RecurrentCell):
            raise ValueError(
                f"{name} runs nlpkit cells (subclasses of nlpkit.layers.RecurrentCell); got "
                f"{type(cell).__name__}. Use keras.layers.RNN for other cells."
            )

    def fast_path_unavailable_reason(self):
        """Why this layer would not run the fused path now: a sentence, or None when it would."""
        if self.use_fast_path is False:
            return "use_fast_path=False"
        if keras.backend.backend() != "tensorflow":
            return (
                f"the Keras backend is {keras.backend.backend()!r}; the fused loops are "
                "TensorFlow code"
            )
        if self.unroll:
            return "unroll=True asks for an unrolled loop; the fused loop is an XLA while loop"
        return _cell_fusion_blocker(self.cell)

    def _raise_if_fast_path_unavailable(self, reason=None):
        reason = reason or self.fast_path_unavailable_reason()
        if reason is not None:
            raise ValueError(
                f"{self.__class__.__name__} {self.name!r} has use_fast_path=True, but the fused "
                f"path cannot run: {reason}. Pass use_fast_path=\"auto\" to fall back to the "
                "reference loop."
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
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        initial_state = list(initial_state)
        # Checked at every trace, not only at construction: a method patched since then counts.
        reason = self.fast_path_unavailable_reason()
        if reason is not None and self.use_fast_path is True:
            self._raise_if_fast_path_unavailable(reason)
        if reason is not None and _call_is_overridden(cell):
            self.last_path = "cell_call"
            return self._cell_call_loop(sequences, initial_state, mask, training)

        input_mask, recurrent_mask = cell.dropout_masks(sequences[:, 0, :], training=training)
        if input_mask is not None:
            # shape: (batch, 1, features): one mask for every time step of a sequence.
            sequences = sequences * ops.expand_dims(input_mask, 1)
        if reason is None:
            fused = cell.fused_recurrence()
            if fused is not None:
                self.last_path = "fused"
                return tensorflow_recurrence.run(
                    fused.program,
                    sequences,
                    initial_state,
                    input_kernel=fused.input_kernel,
                    input_bias=fused.input_bias,
                    recurrent_kernel=fused.recurrent_kernel,
                    parameters=fused.parameters,
                    mask=mask,
                    recurrent_mask=recurrent_mask,
                    go_backwards=self.go_backwards,
                    return_sequences=self.return_sequences,
                    zero_output_for_mask=self.zero_output_for_mask,
                    training=training,
                )
            if self.use_fast_path is True:
                self._raise_if_fast_path_unavailable(
                    f"{type(cell).__name__}.fused_recurrence() returned None"
                )

        self.last_path = "reference"
        # shape: (batch, time, gates * units): the input half of every gate, one matmul.
        projected = cell.project_inputs(sequences)

        def step(projected_t, states):
            return cell.step(projected_t, states, recurrent_mask)

        return self._finish(
            scan_recurrence(
                step,
                projected,
                initial_state,
                mask=mask,
                go_backwards=self.go_backwards,
                zero_output_for_mask=self.zero_output_for_mask,
                unroll=self.unroll,
            )
        )

    def _cell_call_loop(self, sequences, initial_state, mask, training):
        """`keras.layers.RNN`'s loop: the cell's own `call` at every step, its own dropout."""
        cell = self.cell
        single_state = not isinstance(cell.state_size, (list, tuple))
        call_kwargs = {}
        if "training" in inspect.signature(cell.call).parameters:
            call_kwargs["training"] = training

        def step(inputs_t, states):
            output, new_states = cell.call(
                inputs_t, states[0] if single_state else states, **call_kwargs
            )
            if not isinstance(new_states, (list, tuple)):
                new_states = [new_states]
            return output, list(new_states)

        return self._finish(
            scan_recurrence(
                step,
                sequences,
                initial_state,
                mask=mask,
                go_backwards=self.go_backwards,
                zero_output_for_mask=self.zero_output_for_mask,
                unroll=self.unroll,
            )
        )

    def _finish(self, loop_results):
        last_output, outputs, states = loop_results
        if not self.return_sequences:
            outputs = last_output
        return last_output, outputs, states

    def get_config(self):
        config = {**super().get_config(), "use_fast_path": self.use_fast_path}
        if self.cell_class is None:
            # The cell instance form: keras.layers.RNN has serialized the cell under "cell".
            return config
        del config["cell"]
        cell_config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_config.pop(key, None)
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if "cell" in config:
            config["cell"] = keras.saving.deserialize_keras_object(
                config["cell"], custom_objects=custom_objects
            )
        return cls(**config)
