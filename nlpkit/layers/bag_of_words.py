"""Order-free text baselines over token ids: a bag of words and a bag of embeddings.

Both read padded id batches `(batch, time)` where id 0 is padding; ids outside `[1, vocab_size)`
(padding, negative ids, ids past the vocabulary) are ignored, which keeps both layers usable inside
compiled graphs where a data-dependent error cannot be raised. Only public `keras.ops` are used, so
the layers run under every Keras backend.
"""

import keras
import numpy as np
from keras import ops

from nlpkit.layers.pooling import masked_mean

_MODES = ("multi_hot", "count", "tf_idf")


def _require_id_batch_shape(shape, layer_name):
    shape = tuple(shape)
    if len(shape) != 2:
        raise ValueError(
            f"{layer_name} expects token ids of shape (batch, time) (rank 2); "
            f"got shape {shape} (rank {len(shape)})."
        )


def _known_ids(token_ids, vocab_size):
    """`(ids, is_known)`: int32 ids with unknown ones replaced by 0, and where ids were known."""
    token_ids = ops.cast(token_ids, "int32")
    is_known = ops.logical_and(token_ids > 0, token_ids < vocab_size)
    return ops.where(is_known, token_ids, 0), is_known


@keras.saving.register_keras_serializable(package="nlpkit")
class BagOfWords(keras.layers.Layer):
    """A fixed-size vector of token occurrences, ignoring order and padding.

    With `n[b, v]` the number of times id `v` occurs in row `b` (`v >= 1`; column 0, the padding id,
    is always 0):

    - `"multi_hot"`: `y[b, v] = 1 if n[b, v] > 0 else 0`
    - `"count"`: `y[b, v] = n[b, v]`
    - `"tf_idf"`: `y[b, v] = n[b, v] * idf[v]`, with `idf` given as `idf_weights` or computed by
      `adapt` as `idf[v] = log(1 + N / (1 + df[v]))` (N documents, `df[v]` of them containing `v`;
      the formula of `keras.layers.TextVectorization`).

    The idf vector is a non-trainable weight named `idf_weights`, so it is saved with the model.

    Args:
        vocab_size: int, number of ids including the padding id 0; the output width.
        mode: `"multi_hot"`, `"count"` or `"tf_idf"`.
        idf_weights: optional sequence of `vocab_size` floats (mode `"tf_idf"` only). Without it,
            call `adapt` before using the layer.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: int tensor `(batch, time)` of token ids, 0 for padding.

    Input shape: `(batch, time)`. Output shape: `(batch, vocab_size)`, in the layer's dtype.

    Example:

    ```python
    bag = BagOfWords(vocab_size=5, mode="count")
    bag(keras.ops.convert_to_tensor([[3, 1, 3, 0]]))  # [[0., 1., 0., 2., 0.]]

    tf_idf = BagOfWords(vocab_size=20000, mode="tf_idf")
    tf_idf.adapt(train_id_batches)  # a (docs, time) array or an iterable of id batches
    ```
    """

    def __init__(self, vocab_size, mode="multi_hot", idf_weights=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(
                f"BagOfWords: vocab_size must be an int >= 2 (padding id 0 plus at least one "
                f"token); got {vocab_size!r}."
            )
        if mode not in _MODES:
            raise ValueError(f"BagOfWords: mode must be one of {_MODES}; got {mode!r}.")
        if idf_weights is not None:
            if mode != "tf_idf":
                raise ValueError(
                    f"BagOfWords: idf_weights is only used by mode='tf_idf'; got mode={mode!r}."
                )
            idf_weights = [float(v) for v in np.asarray(idf_weights, dtype="float64").reshape(-1)]
            if len(idf_weights) != vocab_size:
                raise ValueError(
                    f"BagOfWords: idf_weights must have vocab_size={vocab_size} values; "
                    f"got {len(idf_weights)}."
                )
        self.vocab_size = vocab_size
        self.mode = mode
        self.idf_weights = idf_weights
        # idf values known before build (argument or adapt); None until then.
        self._pending_idf = None if idf_weights is None else np.asarray(idf_weights, "float32")
        self._idf_ready = idf_weights is not None

    def build(self, input_shape):
        _require_id_batch_shape(input_shape, "BagOfWords")
        if self.mode == "tf_idf":
            self.idf = self.add_weight(
                name="idf_weights", shape=(self.vocab_size,), initializer="zeros", trainable=False
            )
            if self._pending_idf is not None:
                self.idf.assign(self._pending_idf)

    def adapt(self, data, steps=None):
        """Computes the idf weights from token-id batches (mode `"tf_idf"` only).

        Args:
            data: a `(docs, time)` int array or tensor, or an iterable (e.g. a `tf.data.Dataset`)
                of such batches; each row is one document, id 0 is padding.
            steps: optional int, the number of batches to read from an iterable.
        """
        if self.mode != "tf_idf":
            raise ValueError(
                f"BagOfWords.adapt computes idf weights, used only by mode='tf_idf'; "
                f"this layer has mode={self.mode!r}."
            )
        if hasattr(data, "shape") and len(data.shape) == 2:
            batches = [data]
        else:
            batches = data
        document_frequency = np.zeros(self.vocab_size, dtype="int64")
        documents = 0
        for step, batch in enumerate(batches):
            if steps is not None and step >= steps:
                break
            batch = np.asarray(keras.ops.convert_to_numpy(batch))
            if batch.ndim != 2 or not np.issubdtype(batch.dtype, np.integer):
                raise ValueError(
                    f"BagOfWords.adapt expects batches of int token ids of shape (docs, time); "
                    f"batch {step} has shape {batch.shape} and dtype {batch.dtype}."
                )
            if batch.size and (batch.min() < 0 or batch.max() >= self.vocab_size):
                raise ValueError(
                    f"BagOfWords.adapt: token ids must be in [0, {self.vocab_size}); batch {step} "
                    f"has ids in [{batch.min()}, {batch.max()}]."
                )
            # Each id counts once per document: keep only its first occurrence in a sorted row.
            ids = np.sort(batch, axis=1)
            first_occurrence = np.ones(ids.shape, dtype=bool)
            first_occurrence[:, 1:] = ids[:, 1:] != ids[:, :-1]
            np.add.at(document_frequency, ids[first_occurrence], 1)
            documents += batch.shape[0]
        if documents == 0:
            raise ValueError("BagOfWords.adapt: the data holds no documents.")
        idf = np.log1p(documents / (1.0 + document_frequency))
        idf[0] = 0.0  # padding id
        self._pending_idf = idf.astype("float32")
        if self.built:
            self.idf.assign(self._pending_idf)
        self._idf_ready = True

    def load_own_variables(self, store):
        super().load_own_variables(store)
        # The saved idf weights are the adapted ones.
        self._idf_ready = True

    def call(self, inputs):
        _require_id_batch_shape(inputs.shape, "BagOfWords")
        if self.mode == "tf_idf" and not self._idf_ready:
            raise ValueError(
                "BagOfWords(mode='tf_idf') has no idf weights yet: pass idf_weights=... "
                "or call adapt(...) first."
            )
        token_ids, is_known = _known_ids(inputs, self.vocab_size)
        batch = ops.shape(token_ids)[0]
        # shape: (batch, time, 2), the (row, id) cell each token adds to
        rows = ops.broadcast_to(
            ops.expand_dims(ops.arange(batch, dtype="int32"), 1), ops.shape(token_ids)
        )
        cells = ops.stack([rows, token_ids], axis=-1)
        # Unknown ids and padding add 0 to cell (row, 0), which therefore stays 0.
        counts = ops.scatter(
            cells, ops.cast(is_known, self.compute_dtype), (batch, self.vocab_size)
        )
        if self.mode == "multi_hot":
            return ops.cast(counts > 0, self.compute_dtype)
        if self.mode == "count":
            return counts
        return counts * ops.cast(self.idf, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        _require_id_batch_shape(input_shape, "BagOfWords")
        return (input_shape[0], self.vocab_size)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "mode": self.mode,
            "idf_weights": self.idf_weights,
        }


@keras.saving.register_keras_serializable(package="nlpkit")
class BagOfEmbeddings(keras.layers.Layer):
    """Mean of the embeddings of a text's tokens, padding ignored.

    `y[b] = sum_t [id[b, t] known] * E[id[b, t]] / max(1, sum_t [id[b, t] known])`, where known
    means `1 <= id < vocab_size`: padding (id 0) and unknown ids are left out, and a row with no
    known id gives zeros.

    Args:
        vocab_size: int, number of ids including the padding id 0.
        output_dim: int, embedding size.
        embeddings_initializer: initializer of the `(vocab_size, output_dim)` table.
        embeddings_regularizer: optional regularizer of the table.
        embeddings_constraint: optional constraint on the table.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: int tensor `(batch, time)` of token ids, 0 for padding.

    Input shape: `(batch, time)`. Output shape: `(batch, output_dim)`.

    Weights: `embeddings` `(vocab_size, output_dim)`.

    Example:

    ```python
    ids = keras.Input(shape=(None,), dtype="int32")
    text_vector = BagOfEmbeddings(vocab_size=20000, output_dim=64)(ids)
    logits = keras.layers.Dense(2)(text_vector)  # fastText-style classifier
    ```
    """

    def __init__(
        self,
        vocab_size,
        output_dim,
        embeddings_initializer="uniform",
        embeddings_regularizer=None,
        embeddings_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(
                f"BagOfEmbeddings: vocab_size must be an int >= 2 (padding id 0 plus at least "
                f"one token); got {vocab_size!r}."
            )
        if not isinstance(output_dim, int) or output_dim < 1:
            raise ValueError(
                f"BagOfEmbeddings: output_dim must be a positive int; got {output_dim!r}."
            )
        self.vocab_size = vocab_size
        self.output_dim = output_dim
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = keras.constraints.get(embeddings_constraint)

    def build(self, input_shape):
        _require_id_batch_shape(input_shape, "BagOfEmbeddings")
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.vocab_size, self.output_dim),
            initializer=self.embeddings_initializer,
            regularizer=self.embeddings_regularizer,
            constraint=self.embeddings_constraint,
        )

    def call(self, inputs):
        _require_id_batch_shape(inputs.shape, "BagOfEmbeddings")
        token_ids, is_known = _known_ids(inputs, self.vocab_size)
        # shape: (batch, time, output_dim)
        vectors = ops.take(self.embeddings, token_ids, axis=0)
        return masked_mean(vectors, is_known)

    def compute_output_shape(self, input_shape):
        _require_id_batch_shape(input_shape, "BagOfEmbeddings")
        return (input_shape[0], self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "output_dim": self.output_dim,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer),
            "embeddings_constraint": keras.constraints.serialize(self.embeddings_constraint),
        }
