"""An embedding that starts from pretrained word vectors and can keep some or all of them frozen.

Only public `keras.ops` are used, so the layer runs under every Keras backend.
"""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="nlpkit")
class PretrainedEmbedding(keras.layers.Layer):
    """Token ids -> pretrained word vectors, fine-tuned, frozen, or frozen from some id on.

    The vectors of ids below `trainable_rows` are trained; those of ids from `trainable_rows` on
    are kept frozen: they live in a separate non-trainable weight, which no optimizer, weight
    decay or weight averaging touches, so they stay bit-identical through training, saving and
    export. (Rows that vocabulary expansion appends get no gradient anyway, since their words do
    not occur in the training text; freezing them keeps them in the space of the other vectors
    while those move.)

    Two additions, concatenated after the vectors along the last axis:

    - `static_channel=True`: a second, frozen copy of the vectors, as in Kim's (2014)
      CNN-multichannel: one copy is fine-tuned, the other keeps the pretrained values.
    - `trained_dim > 0`: that many more dimensions per id, randomly initialised and trained
      (pretrained vectors concatenated with task-specific ones).

    Args:
        input_dim: int, number of ids (the vocabulary size, padding id 0 included).
        vector_dim: int, width of the pretrained vectors.
        vectors: optional float matrix `(input_dim, vector_dim)`, the initial vectors (e.g.
            `nlpkit.text.embedding_matrix(...).matrix`). Not part of `get_config()`: the values
            are weights and are saved as weights. Without it the vectors start from
            `embeddings_initializer` (e.g. before `.keras` loading fills them in).
        trainable_rows: ids `0 .. trainable_rows - 1` are trained, the others frozen; `None`
            trains all, `0` freezes all. (The layer's `trainable=False` freezes everything,
            as for any Keras layer.)
        static_channel: bool, append a frozen copy of the vectors (needs `trainable_rows > 0`).
        trained_dim: int >= 0, number of trained dimensions appended per id.
        mask_zero: bool, id 0 is padding: the layer returns a mask, as `keras.layers.Embedding`.
        embeddings_initializer: initializer of the vectors when `vectors` is not given.
        trained_initializer: initializer of the `trained_dim` dimensions.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, `trainable`, ...).

    Call arguments:
        inputs: int tensor of ids, any shape, e.g. `(batch, time)`.

    Input shape: any. Output shape: `(*input_shape, output_dim)` with
    `output_dim = vector_dim * (2 if static_channel else 1) + trained_dim`.

    Weights: `tuned_vectors` `(trainable_rows, vector_dim)` (trainable), `frozen_vectors`
    `(input_dim - trainable_rows, vector_dim)`, `static_vectors` `(trainable_rows, vector_dim)`
    (frozen), `trained_embeddings` `(input_dim, trained_dim)` (trainable); each only when it has
    rows and columns.

    Example:

    ```python
    matrix = nlpkit.text.embedding_matrix(tokenizer.vocabulary, "glove.6B.50d.txt.gz")
    ids = keras.Input(shape=(None,), dtype="int32")
    # GloVe fine-tuned, next to a frozen copy (Kim's CNN-multichannel), and 50 trained dims
    vectors = PretrainedEmbedding(len(matrix.matrix), 50, vectors=matrix.matrix,
                                  static_channel=True, trained_dim=50, mask_zero=True)(ids)
    vectors.shape  # (None, None, 150)
    ```
    """

    def __init__(
        self,
        input_dim,
        vector_dim,
        vectors=None,
        trainable_rows=None,
        static_channel=False,
        trained_dim=0,
        mask_zero=False,
        embeddings_initializer="uniform",
        trained_initializer="uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value, minimum in (("input_dim", input_dim, 1), ("vector_dim", vector_dim, 1),
                                     ("trained_dim", trained_dim, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise ValueError(f"PretrainedEmbedding: {name} must be an int >= {minimum}; "
                                 f"got {value!r}.")
        if trainable_rows is not None and not (
            isinstance(trainable_rows, int) and 0 <= trainable_rows <= input_dim
        ):
            raise ValueError(f"PretrainedEmbedding: trainable_rows must be None or an int in "
                             f"[0, input_dim={input_dim}]; got {trainable_rows!r}.")
        if static_channel and trainable_rows == 0:
            raise ValueError("PretrainedEmbedding: static_channel=True adds a frozen copy next to "
                             "fine-tuned vectors, but trainable_rows=0 freezes them all.")
        if vectors is not None:
            vectors = np.asarray(keras.ops.convert_to_numpy(vectors), dtype="float32")
            if vectors.shape != (input_dim, vector_dim):
                raise ValueError(f"PretrainedEmbedding: vectors must have shape (input_dim, "
                                 f"vector_dim) = {(input_dim, vector_dim)}; got {vectors.shape}.")
        self.input_dim = input_dim
        self.vector_dim = vector_dim
        self.trainable_rows = trainable_rows
        self.static_channel = bool(static_channel)
        self.trained_dim = trained_dim
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.trained_initializer = keras.initializers.get(trained_initializer)
        # As keras.layers.Embedding: the weights stay float32 under mixed precision; outputs are
        # cast to the compute dtype.
        self.autocast = False
        self._initial_vectors = vectors

    @property
    def output_dim(self):
        """Width of the output: the vectors, their static copy, the trained dimensions."""
        return self.vector_dim * (2 if self.static_channel else 1) + self.trained_dim

    @property
    def _split(self):
        """The first frozen id."""
        return self.input_dim if self.trainable_rows is None else self.trainable_rows

    def build(self, input_shape=None):
        if self.built:
            return
        split = self._split
        vectors = self._initial_vectors
        if vectors is None:
            vectors = keras.ops.convert_to_numpy(
                self.embeddings_initializer((self.input_dim, self.vector_dim), "float32"))
        self.tuned_vectors = self.frozen_vectors = self.static_vectors = None
        self.trained_embeddings = None
        if split > 0:
            self.tuned_vectors = self._weight("tuned_vectors", vectors[:split], trainable=True)
        if split < self.input_dim:
            self.frozen_vectors = self._weight("frozen_vectors", vectors[split:], trainable=False)
        if self.static_channel:
            self.static_vectors = self._weight("static_vectors", vectors[:split], trainable=False)
        if self.trained_dim:
            self.trained_embeddings = self.add_weight(
                name="trained_embeddings", shape=(self.input_dim, self.trained_dim),
                initializer=self.trained_initializer, trainable=True)
        self._initial_vectors = None  # the weights hold the values now
        self.built = True

    def _weight(self, name, values, trainable):
        return self.add_weight(name=name, shape=values.shape, trainable=trainable,
                               initializer=keras.initializers.Constant(values))

    def _rows(self, ids, below, above):
        """Rows of ids below the split from `below`, the others from `above`."""
        split = self._split
        if above is None:
            return ops.take(below, ids, axis=0)
        if below is None:
            return ops.take(above, ids - split, axis=0)
        # shape: (*ids.shape, 1), True where the id's row is in `below`
        is_below = ops.expand_dims(ids < split, -1)
        # Both lookups are kept in range; `where` picks the one that holds the id.
        from_below = ops.take(below, ops.minimum(ids, split - 1), axis=0)
        from_above = ops.take(above, ops.maximum(ids - split, 0), axis=0)
        return ops.where(is_below, from_below, from_above)

    def call(self, inputs):
        ids = ops.cast(inputs, "int32")
        channels = [self._rows(ids, self.tuned_vectors, self.frozen_vectors)]
        if self.static_channel:
            channels.append(self._rows(ids, self.static_vectors, self.frozen_vectors))
        if self.trained_dim:
            channels.append(ops.take(self.trained_embeddings, ids, axis=0))
        # shape: (*ids.shape, output_dim)
        outputs = channels[0] if len(channels) == 1 else ops.concatenate(channels, axis=-1)
        return ops.cast(outputs, self.compute_dtype)

    @property
    def embeddings(self):
        """The whole table `(input_dim, output_dim)`, as the layer reads it now."""
        if not self.built:
            raise AttributeError("PretrainedEmbedding: build the layer before reading embeddings")
        return self.call(ops.arange(self.input_dim, dtype="int32"))

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "vector_dim": self.vector_dim,
            "trainable_rows": self.trainable_rows,
            "static_channel": self.static_channel,
            "trained_dim": self.trained_dim,
            "mask_zero": self.mask_zero,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "trained_initializer": keras.initializers.serialize(self.trained_initializer),
        }
