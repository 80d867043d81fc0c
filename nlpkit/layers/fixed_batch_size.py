"""`FixedBatchSize`: states a tensor's batch size when a function is traced (stateful models)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="nlpkit")
class FixedBatchSize(keras.layers.Layer):
    """Any tensor `(batch, ...)` -> the same tensor, with the batch dimension `batch_size` known
    when a function is traced.

    A stateful model's carried states have a fixed batch size, but the batches of a
    `tf.data` pipeline batched without `drop_remainder` (as `nlpkit.training.train` batches)
    trace with an unknown one; nlpkit's fused recurrence then sees states of shape
    `(batch_size, units)` enter its loop and `(None, units)` come out, which `tf.while_loop`
    refuses. Stating the batch size here makes both agree (and a wrong batch fails loudly).

    Args:
        batch_size: the model's fixed batch size.

    Call arguments:
        inputs: a tensor of shape `(batch_size, ...)` whose batch size may be unknown statically.

    Example:

    ```python
    ids = keras.Input((None,), dtype="int32")
    fixed = FixedBatchSize(32)(ids)          # shape (32, None)
    ```
    """

    def __init__(self, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.batch_size = int(batch_size)

    def call(self, inputs):
        # shape: (batch_size, ...): the other dimensions as they are.
        return ops.reshape(inputs, (self.batch_size, *ops.shape(inputs)[1:]))

    def compute_output_shape(self, input_shape):
        return (self.batch_size, *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "batch_size": self.batch_size}
