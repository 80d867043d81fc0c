"""A mask-aware multi-width CNN text encoder (Kim, 2014, "Convolutional Neural Networks for
Sentence Classification").

Only public `keras.ops` are used, so the layer runs under every Keras backend.
"""

import keras
from keras import ops

from nlpkit.layers.pooling import (
    masked_max,
    masked_mean,
    real_token_span,
    require_sequence_shape,
    sequence_mask,
)

_PADDINGS = ("valid", "same")
_POOLINGS = {"max": masked_max, "mean": masked_mean}
_MERGE_MODES = ("concat", "sum")


@keras.saving.register_keras_serializable(package="nlpkit")
class MultiWidthConv1D(keras.layers.Layer):
    """Parallel 1D convolutions of several widths, each pooled over time, then merged.

    For each width `w` in `widths`, with kernel `K_w` of shape `(w, dim, filters)` and bias `b_w`,
    a window starting at `s` gives

        c_w[b, s] = activation(sum_{i<w} x[b, s + i] @ K_w[i] + b_w)

    where masked positions of `x` are read as zeros. Each map is pooled over the windows that
    belong to the text, `h_w = max_s c_w[b, s]` (or the mean), and the `h_w` are concatenated
    (`filters * len(widths)` features) or summed (`filters` features). Dropout, when set, applies
    to that merged vector, as in Kim (2014).

    A text is the span from its first to its last real position (any masked position inside the
    span reads as zero). Which windows belong to it depends on `padding`:

    - `"valid"`: windows lying inside the text. A text shorter than `w` is zero-extended to `w`,
      so it still has one window per width instead of none.
    - `"same"`: one window centred on each position of the text, zero-padded as
      `keras.layers.Conv1D(padding="same")` does (`(w - 1) // 2` positions before, the rest after).

    Windows that reach into batch padding beyond that (the padding added to line texts up in a
    batch) never win the max and never enter the mean, so a padded batch with its mask gives each
    text the same features it gets alone. A text with no real position gives zeros before
    dropout.

    Args:
        filters: int, number of feature maps per width.
        widths: sequence of distinct positive ints, the kernel widths (default `(3, 4, 5)`).
        activation: activation applied to each map (name or callable; default `"relu"`).
        padding: `"valid"` or `"same"`, see above.
        pooling: `"max"` or `"mean"`, the reduction of each map over time.
        merge_mode: `"concat"` or `"sum"`, how the pooled maps of the widths are merged.
        dropout: float in `[0, 1)`, dropout rate on the merged features (training only).
        use_bias: bool, whether each width has a bias.
        kernel_initializer, bias_initializer: initializers for the kernels and biases.
        kernel_regularizer, bias_regularizer: optional regularizers.
        kernel_constraint, bias_constraint: optional constraints.
        seed: optional int, seed of the dropout.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor `(batch, time, dim)`, e.g. embedded tokens.
        mask: optional boolean `(batch, time)`, `True` for real tokens. Picked up automatically
            from `Embedding(mask_zero=True)`; when absent every position is real.
        training: bool, whether dropout is active.

    Input shape: `(batch, time, dim)`. Output shape: `(batch, filters * len(widths))` with
    `merge_mode="concat"`, `(batch, filters)` with `"sum"`. Returns no mask.

    Weights: `kernel_{w}` `(w, dim, filters)` and `bias_{w}` `(filters,)` for each width `w`.

    Example:

    ```python
    ids = keras.Input(shape=(None,), dtype="int32")
    vectors = keras.layers.Embedding(20000, 128, mask_zero=True)(ids)
    features = MultiWidthConv1D(filters=100, dropout=0.5)(vectors)  # (batch, 300)
    logits = keras.layers.Dense(2)(features)
    ```
    """

    def __init__(
        self,
        filters,
        widths=(3, 4, 5),
        activation="relu",
        padding="valid",
        pooling="max",
        merge_mode="concat",
        dropout=0.0,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"MultiWidthConv1D: filters must be a positive int; got {filters!r}.")
        widths = (widths,) if isinstance(widths, int) else tuple(widths)
        if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(
                f"MultiWidthConv1D: widths must be a non-empty sequence of positive ints; "
                f"got {widths!r}."
            )
        if len(set(widths)) != len(widths):
            raise ValueError(f"MultiWidthConv1D: widths must be distinct; got {widths!r}.")
        if padding not in _PADDINGS:
            raise ValueError(
                f"MultiWidthConv1D: padding must be one of {_PADDINGS}; got {padding!r}."
            )
        if pooling not in _POOLINGS:
            raise ValueError(
                f"MultiWidthConv1D: pooling must be one of {tuple(_POOLINGS)}; got {pooling!r}."
            )
        if merge_mode not in _MERGE_MODES:
            raise ValueError(
                f"MultiWidthConv1D: merge_mode must be one of {_MERGE_MODES}; got {merge_mode!r}."
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MultiWidthConv1D: dropout must be in [0, 1); got {dropout!r}.")
        self.filters = filters
        self.widths = widths
        self.activation = keras.activations.get(activation)
        self.padding = padding
        self.pooling = pooling
        self.merge_mode = merge_mode
        self.dropout = float(dropout)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.seed = seed
        self.supports_masking = True
        self._dropout_layer = (
            keras.layers.Dropout(self.dropout, seed=seed, name="dropout") if self.dropout else None
        )

    def build(self, input_shape):
        require_sequence_shape(input_shape, "MultiWidthConv1D", what="(batch, time, dim)")
        self._input_dim = input_shape[-1]
        self._kernels, self._biases = [], []
        for width in self.widths:
            self._kernels.append(
                self.add_weight(
                    name=f"kernel_{width}",
                    shape=(width, self._input_dim, self.filters),
                    initializer=self.kernel_initializer,
                    regularizer=self.kernel_regularizer,
                    constraint=self.kernel_constraint,
                )
            )
            if self.use_bias:
                self._biases.append(
                    self.add_weight(
                        name=f"bias_{width}",
                        shape=(self.filters,),
                        initializer=self.bias_initializer,
                        regularizer=self.bias_regularizer,
                        constraint=self.bias_constraint,
                    )
                )

    def _padding_of(self, width):
        """Zeros added (before, after) the time axis: a valid conv then gives one window per
        position."""
        if self.padding == "same":
            before = (width - 1) // 2
            return before, width - 1 - before
        return 0, width - 1

    def _windows_of_text(self, width, first, end, time):
        """Boolean (batch, time): which window starts belong to each row's text."""
        # shape: (1, time)
        positions = ops.expand_dims(ops.arange(time, dtype="int32"), 0)
        first, end = ops.expand_dims(first, 1), ops.expand_dims(end, 1)
        if self.padding == "same":
            last_start = end - 1
        else:
            # A text shorter than the kernel keeps the one window starting at its first token.
            last_start = ops.maximum(end - width, first)
        return ops.logical_and(positions >= first, positions <= last_start)

    def call(self, inputs, mask=None, training=None):
        require_sequence_shape(inputs.shape, "MultiWidthConv1D", what="(batch, time, dim)")
        if inputs.shape[-1] != self._input_dim:
            raise ValueError(
                f"MultiWidthConv1D was built for inputs of shape (batch, time, {self._input_dim}); "
                f"got shape {tuple(inputs.shape)}."
            )
        mask = sequence_mask(inputs, mask)
        time = ops.shape(inputs)[1]
        # shape: (batch, time, dim), padded positions zeroed so they read like the conv's own zeros
        inputs = ops.where(ops.expand_dims(mask, -1), inputs, ops.zeros_like(inputs))
        first, end = real_token_span(mask)
        pool = _POOLINGS[self.pooling]
        pooled = []
        for index, width in enumerate(self.widths):
            before, after = self._padding_of(width)
            # shape: (batch, time + width - 1, dim)
            padded = ops.pad(inputs, [[0, 0], [before, after], [0, 0]])
            # shape: (batch, time, filters), one window per start position
            maps = ops.conv(padded, self._kernels[index], strides=1, padding="valid")
            if self.use_bias:
                maps = maps + self._biases[index]
            maps = self.activation(maps)
            pooled.append(pool(maps, self._windows_of_text(width, first, end, time)))
        if self.merge_mode == "concat":
            features = ops.concatenate(pooled, axis=-1)
        else:
            features = ops.sum(ops.stack(pooled, axis=0), axis=0)
        if self._dropout_layer is not None:
            features = self._dropout_layer(features, training=training)
        return features

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        require_sequence_shape(input_shape, "MultiWidthConv1D", what="(batch, time, dim)")
        units = self.filters * len(self.widths) if self.merge_mode == "concat" else self.filters
        return (input_shape[0], units)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "widths": list(self.widths),
            "activation": keras.activations.serialize(self.activation),
            "padding": self.padding,
            "pooling": self.pooling,
            "merge_mode": self.merge_mode,
            "dropout": self.dropout,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            "seed": self.seed,
        }
