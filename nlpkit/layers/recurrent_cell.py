"""The shared base of nlpkit's recurrent cells.

Every gated cell here has the same skeleton: an input kernel `W` of shape (input_dim, gates * units),
a recurrent kernel `U` of shape (units, gates * units) and a bias, with the gates stacked along the
last axis in a documented order. A cell's step is split in two so that sequence layers can hoist the
input half out of the time loop (one large matmul for every time step):

    project_inputs(x_t)  ->  x_t W + b                      (no dependence on the previous state)
    step(x_t W + b, states)  ->  the rest of the formula     (the recurrence)

`call(inputs, states, training)` is the plain per-step contract that `keras.layers.RNN` expects; it
is `step(project_inputs(inputs), states)` with dropout applied.

A cell whose recurrence a fused loop can run (`nlpkit.layers.tensorflow_recurrence`) says so with
`fused_recurrence()`: the name of the program that computes its `step` and the tensors that
program needs, as a `FusedRecurrence`. The fused loops know programs, not cells; the cell vouches
for the match. Its vouch covers the methods it had when its class was defined
(`fused_recurrence_relies_on`): `nlpkit.layers.Recurrent` runs the fused loop only while the cell
still has those very functions, so a subclass that overrides `step` or `call`, or a patched
`LSTMCell.step`, runs the reference loop, while a subclass that only changes defaults keeps the
fused one.
"""

import collections

import keras
from keras import ops

FusedRecurrence = collections.namedtuple(
    "FusedRecurrence",
    ["program", "input_kernel", "input_bias", "recurrent_kernel", "parameters"],
)
FusedRecurrence.__doc__ = """What a fused loop needs to run a cell's recurrence, in plain terms.

Fields:
    program: the name of the formula, e.g. `"lstm"`, `"gru_reset_after"`: the gate layout, the
        activations (tanh and sigmoid) and what `parameters` hold are all part of the name.
    input_kernel: `W`, `(input_dim, gates * units)`.
    input_bias: the bias added to `x W` (None without one).
    recurrent_kernel: `U`, `(units, gates * units)`.
    parameters: tuple of the program's other weights, e.g. the peephole vectors or the GRU's
        recurrent bias, in the order the program documents.
"""


class RecurrentCell(keras.layers.Layer):
    """Base class of nlpkit's recurrent cells; subclasses define the gates.

    A subclass sets `gate_names` (the order of the gate blocks in the kernels), `state_names` (the
    order of its states) and implements `step`. Everything else — weights, dropout masks,
    regularizers, constraints, config — lives here, so a new cell is its formula and little else.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation for the candidate / output. Default: `"tanh"`.
        recurrent_activation: Activation for the gates. Default: `"sigmoid"`.
        use_bias: Whether the cell has a bias vector. Default: `True`.
        kernel_initializer: Initializer for `kernel` (input weights). Default: `"glorot_uniform"`.
        recurrent_initializer: Initializer for `recurrent_kernel`. Default: `"orthogonal"`.
        bias_initializer: Initializer for `bias`. Default: `"zeros"`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Optional regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: Optional constraints.
        dropout: Float in [0, 1): fraction of the inputs dropped (same mask at every time step
            when run by an nlpkit sequence layer, Gal & Ghahramani 2016).
        recurrent_dropout: Float in [0, 1): fraction of the previous hidden state dropped before
            the recurrent matmul.
        seed: Random seed for the dropout masks.

    Call arguments:
        inputs: A 2D tensor `(batch, input_dim)`: one time step.
        states: The previous states, a list of 2D tensors `(batch, units)` (see `state_names`).
        training: Python boolean; dropout is applied only when True.
    """

    gate_names = ()
    state_names = ("h",)

    # The methods a fused program stands in for. A class that defines `fused_recurrence` vouches
    # for the versions of these it has when it is defined (recorded by `__init_subclass__`); a
    # cell whose methods are no longer those functions runs the reference loop. `dropout_masks`
    # is not among them: both loops draw their masks through it, once per sequence.
    fused_recurrence_relies_on = ("call", "step", "project_inputs", "input_bias", "split_gates")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "fused_recurrence" in vars(cls):
            cls._fused_recurrence_vouches_for = {
                name: getattr(cls, name) for name in cls.fused_recurrence_relies_on
            }

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive integer, got units={units!r}.")
        for name, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"`{name}` must be in [0, 1), got {name}={rate!r}.")
        self.units = units
        self.activation = keras.activations.get(activation)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    # ----------------------------------------------------------------------------------------------
    # The cell contract that keras.layers.RNN relies on.

    @property
    def state_size(self):
        if len(self.state_names) == 1:
            return self.units
        return [self.units] * len(self.state_names)

    @property
    def output_size(self):
        return self.units

    def get_initial_state(self, batch_size=None):
        zeros = [ops.zeros((batch_size, self.units), dtype=self.compute_dtype) for _ in self.state_names]
        return zeros

    # ----------------------------------------------------------------------------------------------
    # Weights.

    def build(self, input_shape):
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"{self.__class__.__name__} expects one time step of shape (batch, input_dim) with a "
                f"known input_dim; got input shape {tuple(input_shape)}."
            )
        input_dim = input_shape[-1]
        width = len(self.gate_names) * self.units
        self.kernel = self.add_weight(
            shape=(input_dim, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self.bias_shape(),
                name="bias",
                initializer=self.initial_bias(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None

    def bias_shape(self):
        return (len(self.gate_names) * self.units,)

    def initial_bias(self):
        """The initializer `build` uses for `bias`; cells with a forget gate override it."""
        return self.bias_initializer

    # ----------------------------------------------------------------------------------------------
    # The step, split into the part that does not depend on the state and the recurrence.

    def project_inputs(self, inputs):
        """Returns `inputs W + b`: the input half of every gate, for one step or a whole sequence.

        Args:
            inputs: `(batch, input_dim)` or `(batch, time, input_dim)`.

        Returns:
            `(..., len(gate_names) * units)`, gate blocks in `gate_names` order.
        """
        projected = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            projected = projected + self.input_bias()
        return projected

    def input_bias(self):
        """The part of the bias added to `inputs W` (all of it, except in `GRUCell(reset_after=True)`)."""
        return self.bias

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        """The recurrence: previous states and `x_t W + b` -> `(output, new_states)`.

        Subclasses write their formula here. `recurrent_dropout_mask` (or None) multiplies the
        previous hidden state before it enters the recurrent matmul.
        """
        raise NotImplementedError(f"{self.__class__.__name__} must implement `step`.")

    def dropout_masks(self, inputs, training=False):
        """Draws `(input_mask, recurrent_mask)` for a batch; either is None when not needed.

        The masks are scaled by 1 / (1 - rate), as in inverted dropout. Sequence layers draw them
        once per sequence and reuse them at every time step.

        Args:
            inputs: `(batch, input_dim)`: gives the batch size, dtype and input width.
            training: Python boolean; outside training there are no masks.
        """
        if not training:
            return None, None
        input_mask = recurrent_mask = None
        if self.dropout > 0:
            input_mask = keras.random.dropout(
                ops.ones_like(inputs), rate=self.dropout, seed=self.seed_generator
            )
        if self.recurrent_dropout > 0:
            ones = ops.ones((ops.shape(inputs)[0], self.units), dtype=inputs.dtype)
            recurrent_mask = keras.random.dropout(
                ones, rate=self.recurrent_dropout, seed=self.seed_generator
            )
        return input_mask, recurrent_mask

    def call(self, inputs, states, training=False):
        # Called step by step (e.g. by keras.layers.RNN) the cell draws fresh masks at every step;
        # nlpkit's sequence layers draw one mask per sequence instead.
        input_mask, recurrent_mask = self.dropout_masks(inputs, training=training)
        if input_mask is not None:
            inputs = inputs * input_mask
        single_state = not isinstance(states, (list, tuple))
        states = [states] if single_state else list(states)
        output, new_states = self.step(self.project_inputs(inputs), states, recurrent_mask)
        return output, (new_states[0] if single_state else new_states)

    def split_gates(self, tensor):
        """Splits `(..., gates * units)` into one `(..., units)` tensor per gate, in gate order."""
        return ops.split(tensor, len(self.gate_names), axis=-1)

    # ----------------------------------------------------------------------------------------------
    # What a fused loop may run instead of `step`.

    def fused_recurrence(self):
        """A `FusedRecurrence` naming the program that computes this cell's `step`, or None.

        A cell class that defines this method promises that the named program computes exactly
        its `step` (as it is when the class is defined; see `fused_recurrence_relies_on`) for
        every configuration in which this method returns a description. Called on a built cell.
        The base class has no program.
        """
        return None

    def fused_recurrence_blocker(self):
        """Why `fused_recurrence()` returns None: a short sentence, or None when it does not."""
        if type(self).fused_recurrence is RecurrentCell.fused_recurrence:
            return f"{type(self).__name__} declares no fused program (`fused_recurrence`)"
        return None

    def describe_fused_recurrence(self, program, parameters=()):
        """A `FusedRecurrence` of `program` with this cell's kernels, bias and `parameters`."""
        return FusedRecurrence(
            program=program,
            input_kernel=self.kernel,
            input_bias=self.input_bias() if self.use_bias else None,
            recurrent_kernel=self.recurrent_kernel,
            parameters=tuple(parameters),
        )

    def activation_and_dtype_blocker(self, gated=True):
        """The blockers the stock programs share: they compute tanh (and, when `gated`, sigmoid
        gates) in float32 or float64, with weights in the compute dtype."""
        name = type(self).__name__
        if self.activation is not keras.activations.tanh:
            return (
                f"{name} has activation={keras.activations.serialize(self.activation)!r}; "
                "the fused programs compute tanh"
            )
        if gated and self.recurrent_activation is not keras.activations.sigmoid:
            activation = keras.activations.serialize(self.recurrent_activation)
            return (
                f"{name} has recurrent_activation={activation!r}; the fused programs compute "
                "sigmoid"
            )
        if self.compute_dtype not in ("float32", "float64"):
            return f"{name} computes in {self.compute_dtype}; the fused programs need float32/64"
        if self.compute_dtype != self.variable_dtype:
            return (
                f"{name} computes in {self.compute_dtype} with {self.variable_dtype} weights; "
                "the fused programs need one dtype"
            )
        return None

    # ----------------------------------------------------------------------------------------------

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": keras.constraints.serialize(self.recurrent_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }


def unit_forget_bias_initializer(cell):
    """`cell.bias_initializer` with the forget-gate block set to ones (Jozefowicz et al. 2015).

    A forget gate that starts near sigmoid(1) ~ 0.73 lets gradients flow through the cell state
    early in training instead of starting half-closed.
    """
    forget_index = cell.gate_names.index("f")

    def initializer(shape, dtype=None):
        blocks = [
            cell.bias_initializer((cell.units,), dtype=dtype) for _ in cell.gate_names
        ]
        blocks[forget_index] = ops.ones((cell.units,), dtype=dtype)
        return ops.concatenate(blocks, axis=0)

    return initializer
