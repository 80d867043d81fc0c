"""A training loop written with `strategy.run` and `strategy.reduce`, for when `fit` cannot be used.

`train` uses it under `MultiWorkerMirroredStrategy`, where Keras 3's `model.fit` fails before the
first step (keras-team/keras#20585, tensorflow/tensorflow#72388), and when gradients are clipped
over several replicas: Keras 3 optimizers clip each replica's share of the gradient *before*
summing the shares (`BaseOptimizer.apply` clips, then the TensorFlow optimizer all-reduces), so
under `fit` the applied step can reach `replicas x clipnorm`. Here gradients are summed first and
the sum is clipped, as on one device.

What one optimizer step computes, whatever the number of replicas and workers:

- every global batch (`TrainingConfig.batch_size` examples) is split among the replicas by
  `strategy.experimental_distribute_dataset` (tf.data auto-sharding, DATA policy, gives each
  worker its share of every global batch);
- each replica's loss is the sum of its per-example (or, for masked sequence outputs,
  per-unmasked-element) losses divided by the count over the *whole* global batch
  (`tf.nn.compute_average_loss`, with the count all-reduced, so that a last, smaller batch is
  averaged over its true size); the gradient of the sum over replicas is therefore the gradient of
  the global batch's mean loss, exactly as one device would compute it;
- with `clipnorm`, the summed gradient is clipped to that global norm, then applied;
- metrics are updated on every replica and read across all of them (Keras metric variables are
  sum-on-read); the loss is summed with `strategy.reduce`.

Data order: epoch `e` shuffles with seed `data_seed + e`, so the order of an epoch does not depend
on what the process did before; a resumed run replays the interrupted epoch's order and skips the
batches it had already trained on. `data_seed` is `TrainingConfig.seed` or, without one, a seed
drawn once by the chief and shared with every worker (they must shuffle alike for sharding to
split each batch without overlap); it is saved in the backups.

Backups (`<run_dir>/backup/`): a `tf.train.Checkpoint` of the model, the optimizer, the number of
steps done and the data seed, managed by a `tf.train.CheckpointManager` that keeps the last two.
They are taken at the end of every epoch and, with `TrainingConfig.backup_steps`, every that many
steps. TensorFlow writes a checkpoint's files first and then atomically updates the `checkpoint`
index file, so a process killed while saving leaves the previous backup usable. Only the chief
writes to `<run_dir>/backup`; other workers write theirs to a temporary directory removed at the
end (every worker must take part in saving), and every worker restores from the chief's, so under
several machines `run_dir` must be on a file system that all of them can read (NFS, GCS, ...).
Workers that restored different states are detected before the first step. The backup is removed
when training finishes.
"""

import copy
import os
import random
import shutil

import keras
import tensorflow as tf

from nlpkit.training.batching import batch_examples, count_batches
from nlpkit.training.callbacks import training_callbacks
from nlpkit.training.strategy import chief_write_dir

BACKUP_STATE_FILE = "checkpoint"  # the index file that tf.train.CheckpointManager maintains
KERAS_BACKUP_FILE = "training_metadata.json"  # what keras.callbacks.BackupAndRestore writes
BACKUPS_KEPT = 2


def per_example_loss(loss):
    """Returns `loss` (a Keras loss name, function or `keras.losses.Loss`) without reduction.

    The result maps `(y_true, y_pred)` to one loss value per example (per element for sequence
    outputs).
    """
    function = keras.losses.get(loss)
    if isinstance(function, keras.losses.Loss):
        function = copy.copy(function)
        # With no reduction a Keras loss still applies y_pred's mask, as 0/1 weights.
        function.reduction = None
        return function
    if not callable(function):
        raise TypeError(f"loss must be a Keras loss name, function or Loss, got {loss!r}")
    return function


def masked_losses(loss_fn, y_true, y_pred):
    """Flat per-element losses (0 where `y_pred`'s Keras mask is off) and how many count.

    Returns:
        `(values, count)`: a float32 vector and an int32 scalar, the number of examples (or of
        unmasked elements).
    """
    mask = getattr(y_pred, "_keras_mask", None)  # a cast would drop it, so read it first
    if y_pred.dtype != tf.float32:
        y_pred = tf.cast(y_pred, tf.float32)  # mixed precision: compute the loss in float32
    values = tf.cast(loss_fn(y_true, y_pred), tf.float32)
    if mask is None:
        return tf.reshape(values, [-1]), tf.size(values, out_type=tf.int32)
    # shape: like values, e.g. (batch, time) for a sequence output
    weights = tf.broadcast_to(tf.cast(mask, tf.float32), tf.shape(values))
    count = tf.cast(tf.reduce_sum(weights), tf.int32)
    return tf.reshape(values * weights, [-1]), count


def _regularization_loss(model):
    if not model.losses:
        return tf.constant(0.0)
    return tf.add_n([tf.cast(value, tf.float32) for value in model.losses])


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


class _Steps:
    """The replicated training and evaluation steps for one compiled model."""

    def __init__(self, model, loss, strategy, clipnorm):
        self.model = model
        self.loss_fn = per_example_loss(loss)
        self.strategy = strategy
        self.clipnorm = clipnorm
        self.train = tf.function(self._train_step)
        self.evaluate = tf.function(self._evaluate_step)
        self.metric_results = tf.function(self._metric_results)

    def _losses(self, labels, predictions):
        values, count = masked_losses(self.loss_fn, labels, predictions)
        context = tf.distribute.get_replica_context()
        global_count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
        return values, global_count

    def _replica_train_step(self, features, labels):
        model, optimizer = self.model, self.model.optimizer
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            predictions = model(features, training=True)
            values, global_count = self._losses(labels, predictions)
            regularization = _regularization_loss(model)
            loss = tf.nn.compute_average_loss(values, global_batch_size=global_count)
            loss += tf.nn.scale_regularization_loss(regularization)
            scaled_loss = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled_loss, variables)
        if self.clipnorm is not None:
            gradients = _clipped_global_gradient(
                gradients, variables, self.clipnorm, optimizer, self.strategy.num_replicas_in_sync
            )
        optimizer.apply(gradients, variables)
        model.compute_metrics(features, labels, predictions)
        return tf.reduce_sum(values), global_count, regularization

    def _replica_evaluate_step(self, features, labels):
        predictions = self.model(features, training=False)
        values, global_count = self._losses(labels, predictions)
        self.model.compute_metrics(features, labels, predictions)
        return tf.reduce_sum(values), global_count, _regularization_loss(self.model)

    def _summed(self, replica_step, iterator):
        features, labels = next(iterator)
        loss_sum, count, regularization = self.strategy.run(replica_step, args=(features, labels))
        first = self.strategy.experimental_local_results
        return (
            self.strategy.reduce(tf.distribute.ReduceOp.SUM, loss_sum, axis=None),
            first(count)[0],  # already summed over all replicas
            first(regularization)[0],  # the same on every replica
        )

    def _train_step(self, iterator):
        return self._summed(self._replica_train_step, iterator)

    def _evaluate_step(self, iterator):
        return self._summed(self._replica_evaluate_step, iterator)

    def _metric_results(self):
        # Read in the cross-replica context: sum-on-read metric variables add up every replica.
        return self.model.get_metrics_result()

    def build_metrics(self, iterator):
        """Creates the compiled metrics' variables (outside the traced steps), then resets them."""
        features, labels = next(iterator)
        self.strategy.run(
            lambda x, y: self.model.compute_metrics(x, y, self.model(x, training=False)),
            args=(features, labels),
        )
        self.model.reset_metrics()


class _EpochMean:
    """The loss averaged over everything seen so far in an epoch (examples or elements)."""

    def __init__(self):
        self.total = 0.0
        self.count = 0

    def add(self, loss_sum, count, regularization):
        self.total += float(loss_sum) + float(regularization) * int(count)
        self.count += int(count)

    def result(self):
        return self.total / self.count if self.count else 0.0


def _logs(steps, mean, prefix=""):
    logs = {name: float(value) for name, value in steps.metric_results().items()}
    logs["loss"] = mean.result()  # the compiled loss tracker is not used by this loop
    return {prefix + name: value for name, value in logs.items()}


def _check_backup_format(backup_dir):
    if os.path.exists(os.path.join(backup_dir, KERAS_BACKUP_FILE)) and not os.path.exists(
        os.path.join(backup_dir, BACKUP_STATE_FILE)
    ):
        raise ValueError(
            f"{backup_dir} holds a keras.callbacks.BackupAndRestore backup (from a run that "
            "trained with model.fit, i.e. another strategy); the strategy.run loop cannot resume "
            "from it. Resume with the strategy that wrote it, or delete the directory."
        )


def _check_workers_agree(strategy, value, what):
    """Raises if the replicas (on all workers) do not hold the same number `value`."""
    per_replica = strategy.run(lambda: tf.constant([float(value), float(value) ** 2], tf.float64))
    total, squares = strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None).numpy()
    replicas = strategy.num_replicas_in_sync
    if replicas * squares != total * total:  # equal iff every replica holds the same value
        raise RuntimeError(
            f"the workers disagree on {what} (this worker: {value}, mean over replicas: "
            f"{total / replicas}); every worker must read the chief's backup, so run_dir must be "
            "on a file system that all workers share"
        )


def _draw_seed():
    # The chief's draw reaches the other workers through the variable's broadcast.
    return random.SystemRandom().randrange(2**31)


def train_with_custom_loop(
    model,
    train_data,
    config,
    *,
    loss,
    dev_data,
    strategy,
    chief,
    callbacks,
    steps_per_epoch,
    checkpoint_dir,
    log_dir,
):
    """Trains a compiled model with `strategy.run` steps; returns the `History.history` dict.

    Called by `nlpkit.training.train` (which builds and compiles the model under `strategy`),
    not meant to be called directly.

    Args:
        model: a built, compiled Keras model with a single output, created under `strategy`.
        train_data: unbatched `(features, label)` examples.
        config: the `TrainingConfig`.
        loss: the Keras loss given to `train`.
        dev_data: unbatched dev examples or `None`.
        strategy: the `tf.distribute.Strategy` the model lives in.
        chief: whether this process writes the backups, checkpoints and logs.
        callbacks: extra Keras callbacks, run after the standard ones.
        steps_per_epoch: global batches per epoch.
        checkpoint_dir, log_dir: where this process writes epoch weights and TensorBoard logs
            (temporary directories on non-chief workers).
    """
    if len(getattr(model, "outputs", None) or ()) > 1:
        raise ValueError("the strategy.run training loop supports models with a single output")
    for name, data in (("train_data", train_data), ("dev_data", dev_data)):
        if data is not None and not (
            isinstance(data.element_spec, tuple) and len(data.element_spec) == 2
        ):
            raise ValueError(
                f"{name} must hold (features, label) pairs for the strategy.run training loop "
                f"(sample weights are not supported), found elements {data.element_spec}"
            )
    backup_dir = os.path.join(str(config.run_dir), "backup")
    _check_backup_format(backup_dir)

    with strategy.scope():
        model.optimizer.build(model.trainable_variables)  # restored below, not created lazily
        data_seed = tf.Variable(
            config.seed if config.seed is not None else _draw_seed(),
            dtype=tf.int64,
            trainable=False,
            name="data_seed",
        )
    steps_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps_done")
    batches_per_epoch = tf.Variable(steps_per_epoch, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(
        model=model,
        optimizer=model.optimizer,
        steps_done=steps_done,
        data_seed=data_seed,
        steps_per_epoch=batches_per_epoch,
    )
    latest = tf.train.latest_checkpoint(backup_dir)
    if latest is not None:
        checkpoint.restore(latest).assert_existing_objects_matched()
        if int(batches_per_epoch.numpy()) != steps_per_epoch:
            raise ValueError(
                f"the backup {latest} was taken with {int(batches_per_epoch.numpy())} steps per "
                f"epoch, but this run has {steps_per_epoch} (other data or batch size); delete "
                f"{backup_dir} to start afresh"
            )
    _check_workers_agree(strategy, int(steps_done.numpy()), "the steps already done")

    steps = _Steps(model, loss, strategy, config.clipnorm)
    dev_batches = None
    if dev_data is not None:
        dev_batches = batch_examples(dev_data, config.batch_size)
        dev_steps = count_batches(dev_batches, "dev dataset")
        dev_batches = strategy.experimental_distribute_dataset(dev_batches)

    def epoch_batches(epoch, skip):
        batches = batch_examples(
            train_data,
            config.batch_size,
            shuffle=True,
            seed=int(data_seed.numpy()) + epoch,
            shuffle_buffer=config.shuffle_buffer,
        )
        return iter(strategy.experimental_distribute_dataset(batches.skip(skip)))

    steps.build_metrics(epoch_batches(0, 0))

    history = keras.callbacks.History()
    verbose = 1 if config.verbose == "auto" else config.verbose
    callback_list = keras.callbacks.CallbackList(
        training_callbacks(
            checkpoint_dir=checkpoint_dir,
            log_dir=log_dir,
            monitor=config.monitor if dev_data is not None else None,
            monitor_mode=config.monitor_mode,
            patience=config.patience,
        )
        + list(callbacks)
        + [history],
        add_progbar=chief and verbose != 0,
        model=model,
        verbose=verbose if chief else 0,
        epochs=config.epochs,
        steps=steps_per_epoch,
    )

    with chief_write_dir(backup_dir, chief) as backup_write_dir:
        manager = tf.train.CheckpointManager(
            checkpoint, backup_write_dir, max_to_keep=BACKUPS_KEPT, checkpoint_name="ckpt"
        )
        last_backup = int(steps_done.numpy())

        def back_up():
            nonlocal last_backup
            done = int(steps_done.numpy())
            if done != last_backup:
                manager.save(checkpoint_number=done)
                last_backup = done

        model.stop_training = False
        first_step = int(steps_done.numpy())
        callback_list.on_train_begin()
        logs = {}
        for epoch in range(first_step // steps_per_epoch, config.epochs):
            skip = max(0, first_step - epoch * steps_per_epoch)
            callback_list.on_epoch_begin(epoch)
            model.reset_metrics()
            mean = _EpochMean()
            iterator = epoch_batches(epoch, skip)
            for batch in range(skip, steps_per_epoch):
                callback_list.on_train_batch_begin(batch)
                mean.add(*steps.train(iterator))
                steps_done.assign_add(1)
                logs = _logs(steps, mean)
                callback_list.on_train_batch_end(batch, logs)
                if config.backup_steps and int(steps_done.numpy()) % config.backup_steps == 0:
                    back_up()
                if model.stop_training:
                    break
            if dev_batches is not None and not model.stop_training:
                model.reset_metrics()
                dev_mean = _EpochMean()
                callback_list.on_test_begin()
                dev_iterator = iter(dev_batches)
                for batch in range(dev_steps):
                    callback_list.on_test_batch_begin(batch)
                    dev_mean.add(*steps.evaluate(dev_iterator))
                    callback_list.on_test_batch_end(batch)
                val_logs = _logs(steps, dev_mean, prefix="val_")
                callback_list.on_test_end({k[4:]: v for k, v in val_logs.items()})
                logs = {**logs, **val_logs}
            callback_list.on_epoch_end(epoch, logs)
            back_up()
            if model.stop_training:
                break
        callback_list.on_train_end(logs)
    if chief:
        shutil.rmtree(backup_dir, ignore_errors=True)
    return history.history
