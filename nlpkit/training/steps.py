"""The two training steps of the one loop (`nlpkit.training.loop`): Keras' own, and a summed one.

Both take one global batch from a `tf.distribute` iterator, train on it and return the batch
logs; both leave the epoch's metrics (the `loss` tracker included) in `model.metrics`, so the
loop reads them the same way whatever the step.

- `KerasStep` runs Keras' own train function (`model.make_train_function()`), i.e.
  `model.train_step` under the model's strategy: `jit_compile`, loss scaling, EMA, weight decay
  and a model's own `train_step` work exactly as under `model.fit`.
- `SummedStep` is that train step with one change, made for what Keras cannot do:
  its gradients are summed over all replicas *before* `clipnorm` clips them (Keras 3 optimizers
  clip each replica's share, `BaseOptimizer.apply`, and all-reduce afterwards, so the applied
  step can reach `replicas x clipnorm`), and it runs its own `strategy.run`, which works under
  `MultiWorkerMirroredStrategy` where Keras' train and test functions fail (they reduce their
  logs with `strategy.reduce(..., axis=0)`, which fails on scalars there; `model.fit` fails even
  earlier, keras-team/keras#20585). The loss is Keras' `model.compute_loss` (compiled losses,
  masks, sample weights, regularization), scaled for the replicas as Keras scales it, so on one
  device both steps compute the same update.
"""

import keras
import tensorflow as tf


def build_training_state(model, strategy, batch):
    """Creates the compiled loss's and metrics' variables, once, before the first step.

    `model.fit` does this symbolically before its first step (a private Keras method); here the
    model runs eagerly on one real batch under `strategy.run`, outside any traced step, where
    creating variables would fail. The metrics are reset afterwards.

    Args:
        model: a built, compiled model created under `strategy`.
        strategy: the model's `tf.distribute.Strategy`.
        batch: one element of `strategy.experimental_distribute_dataset(...)`.
    """

    def build(data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = model(x, training=False)
        model.compute_loss(x, y, y_pred, sample_weight, training=False)
        model.compute_metrics(x, y, y_pred, sample_weight)

    strategy.run(build, args=(batch,))
    model.reset_metrics()


class KerasStep:
    """`model.train_step` through Keras' own (possibly XLA-compiled) train function."""

    def __init__(self, model):
        self.model = model
        model.make_train_function()
        model.make_test_function()

    def train(self, iterator):
        return self.model.train_function(iterator)

    def evaluate(self, iterator):
        return self.model.test_function(iterator)


class SummedStep:
    """Keras' train step with gradients summed over all replicas, then clipped to `clipnorm`.

    Evaluation is Keras' test step, also run by `strategy.run` here: Keras' own test function
    reduces its logs with `strategy.reduce(..., axis=0)`, which fails on scalars under
    `MultiWorkerMirroredStrategy`.

    Args:
        model: a compiled model whose optimizer does *not* clip (`train` compiles it so).
        strategy: the model's strategy.
        clipnorm: the global norm the summed gradient is clipped to, or `None`.
    """

    def __init__(self, model, strategy, clipnorm):
        self.model = model
        self.strategy = strategy
        self.clipnorm = clipnorm
        # Keras' compile() adds a Mean called "loss" that its steps feed; these steps feed the
        # same tracker the same way, so both kinds of step log the same loss.
        self.loss_tracker = next((m for m in model.metrics if m.name == "loss"), None)
        self.train = tf.function(lambda iterator: self._run(self._replica_train, iterator))
        self.evaluate = tf.function(lambda iterator: self._run(self._replica_test, iterator))

    def _run(self, replica_step, iterator):
        self.strategy.run(replica_step, args=(next(iterator),))
        # Read in the cross-replica context: the metric variables are summed over replicas.
        return self.model.get_metrics_result()

    def _loss(self, x, y, y_pred, sample_weight, training):
        # This replica's mean loss divided by the number of replicas, as in Keras' steps.
        loss = self.model.compute_loss(x, y, y_pred, sample_weight, training=training)
        if self.loss_tracker is not None:
            examples = tf.shape(tf.nest.flatten(x)[0])[0]
            replicas = self.strategy.num_replicas_in_sync
            self.loss_tracker.update_state(loss * replicas, sample_weight=examples)
        return loss

    def _replica_train(self, data):
        model, optimizer = self.model, self.model.optimizer
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            scaled_loss = optimizer.scale_loss(self._loss(x, y, y_pred, sample_weight, True))
        gradients = tape.gradient(scaled_loss, variables)
        if self.clipnorm is not None:
            gradients = _clipped_global_gradient(
                gradients, variables, self.clipnorm, optimizer, self.strategy.num_replicas_in_sync
            )
        optimizer.apply(gradients, variables)
        model.compute_metrics(x, y, y_pred, sample_weight)

    def _replica_test(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self.model(x, training=False)
        self._loss(x, y, y_pred, sample_weight, False)
        self.model.compute_metrics(x, y, y_pred, sample_weight)


def _clipped_global_gradient(gradients, variables, clipnorm, optimizer, replicas):
    """All-reduces gradients, clips their sum to `clipnorm`, returns each replica's share of it.

    The optimizer sums the returned shares over the replicas once more, which gives back the
    clipped sum (Keras optimizers always all-reduce in a replica context).
    """
    context = tf.distribute.get_replica_context()
    # Dense, for the exact norm of embedding gradients that repeat rows, and with static shapes:
    # an IndexedSlices made dense has an unknown shape, and the all-reduce then packs the
    # gradients differently on different replicas.
    dense = [
        tf.reshape(tf.convert_to_tensor(gradient), variable.shape)
        for gradient, variable in zip(gradients, variables, strict=True)
    ]
    summed = context.all_reduce(tf.distribute.ReduceOp.SUM, dense)
    # Under a LossScaleOptimizer the gradients are scaled; the norm must be the true one.
    scale = (
        tf.cast(optimizer.dynamic_scale, tf.float32)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        else tf.constant(1.0)
    )
    clipped, _ = tf.clip_by_global_norm([gradient / scale for gradient in summed], clipnorm)
    return [gradient * (scale / replicas) for gradient in clipped]
