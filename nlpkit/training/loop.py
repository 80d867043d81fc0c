"""The one training loop: every strategy and both steps share its data order, backups and callbacks.

`run_training` drives a compiled model through the epochs with Keras' own `CallbackList`
(progress bar, `History`, `EarlyStopping`, `TensorBoard`, ...); per batch it calls one of the two
steps of `nlpkit.training.steps`, the only thing that differs between strategies.

Data order: epoch `e` shuffles the training examples with seed `data_seed + e`, so the order of
an epoch does not depend on what ran before; a resumed run replays the interrupted epoch's order
and skips the batches it had already trained on. `data_seed` is `TrainingConfig.seed` or, without
one, a seed drawn once by the chief and shared with every worker (they must shuffle alike for
DATA sharding to split each global batch without overlap); it is saved in the backups.

Backups (`<run_dir>/backup/`): a `tf.train.Checkpoint` of the model, the optimizer, the number
of steps done, the data seed, the steps per epoch and the per-epoch history so far, managed by a
`tf.train.CheckpointManager` that keeps the last two. They are taken at the end of every epoch
and, with `TrainingConfig.backup_steps`, every that many steps. TensorFlow writes a checkpoint's
files first and then atomically updates the `checkpoint` index file, so a process killed while
saving leaves the previous backup usable. Only the chief writes to `<run_dir>/backup`; other
workers write theirs to a temporary directory removed at the end (every worker must take part in
saving), and every worker restores from the chief's, so under several machines `run_dir` must be
on a file system that all of them can read (NFS, GCS, ...). Workers that restored different
states are detected before the first step. The backup is removed when training finishes.
"""

import json
import os
import random
import shutil

import keras
import tensorflow as tf

from nlpkit.training.batching import batch_examples, count_batches
from nlpkit.training.callbacks import training_callbacks
from nlpkit.training.steps import KerasStep, SummedStep, build_training_state
from nlpkit.training.strategy import chief_write_dir

BACKUP_STATE_FILE = "checkpoint"  # the index file that tf.train.CheckpointManager maintains
KERAS_BACKUP_FILE = "training_metadata.json"  # what keras.callbacks.BackupAndRestore writes
BACKUPS_KEPT = 2


class _Backups:
    """The resumable state of a run and the `tf.train.CheckpointManager` that saves it."""

    def __init__(self, model, strategy, config, steps_per_epoch, backup_dir):
        with strategy.scope():
            # Restored below, so created now rather than lazily by the first step.
            model.optimizer.build(model.trainable_variables)
            # In the strategy's scope: the chief's draw reaches the other workers through the
            # variable's broadcast.
            self.data_seed = tf.Variable(
                config.seed if config.seed is not None else random.SystemRandom().randrange(2**31),
                dtype=tf.int64,
                trainable=False,
                name="data_seed",
            )
        self.steps_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps_done")
        self.steps_per_epoch = tf.Variable(steps_per_epoch, dtype=tf.int64, trainable=False)
        # {metric: [value per epoch]} of every epoch done, before a resume too, as JSON.
        self.history = tf.Variable("{}", dtype=tf.string, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            model=model,
            optimizer=model.optimizer,
            steps_done=self.steps_done,
            data_seed=self.data_seed,
            steps_per_epoch=self.steps_per_epoch,
            history=self.history,
        )
        self.directory = backup_dir
        self.manager = None
        self.last_saved = None

    def restore(self, expected_steps_per_epoch):
        if os.path.exists(os.path.join(self.directory, KERAS_BACKUP_FILE)) and not os.path.exists(
            os.path.join(self.directory, BACKUP_STATE_FILE)
        ):
            raise ValueError(
                f"{self.directory} holds a keras.callbacks.BackupAndRestore backup (written by an "
                "older nlpkit); it cannot be resumed from. Delete the directory to start afresh."
            )
        latest = tf.train.latest_checkpoint(self.directory)
        if latest is None:
            return
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        found = int(self.steps_per_epoch.numpy())
        if found != expected_steps_per_epoch:
            raise ValueError(
                f"the backup {latest} was taken with {found} steps per epoch, but this run has "
                f"{expected_steps_per_epoch} (other data or batch size); delete "
                f"{self.directory} to start afresh"
            )

    def add_epoch(self, logs):
        history = json.loads(self.history.numpy().decode())
        for name, value in logs.items():
            history.setdefault(name, []).append(float(value))
        self.history.assign(json.dumps(history))

    def save(self):
        done = int(self.steps_done.numpy())
        if done != self.last_saved:
            self.manager.save(checkpoint_number=done)
            self.last_saved = done


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


def _floats(logs):
    return {name: float(value) for name, value in logs.items()}


def run_training(
    model,
    train_data,
    config,
    *,
    dev_data,
    strategy,
    chief,
    callbacks,
    steps_per_epoch,
    summed_step,
    checkpoint_dir,
    log_dir,
):
    """Trains a compiled model for `config.epochs`; returns the `History.history` of this call.

    Called by `nlpkit.training.train`, which builds and compiles the model under `strategy`.

    Args:
        model: a built, compiled Keras model created under `strategy`.
        train_data: unbatched training examples, `(x, y)` or `(x, y, sample_weight)`.
        config: the `TrainingConfig`.
        dev_data: unbatched dev examples or `None`.
        strategy: the `tf.distribute.Strategy` the model lives in.
        chief: whether this process writes the backups, checkpoints and logs.
        callbacks: extra Keras callbacks, run after the standard ones.
        steps_per_epoch: global batches per epoch.
        summed_step: train with `SummedStep` (gradients summed over replicas, then clipped to
            `config.clipnorm`) rather than `KerasStep`.
        checkpoint_dir, log_dir: where this process writes epoch weights and TensorBoard logs
            (temporary directories on non-chief workers).
    """
    backups = _Backups(
        model, strategy, config, steps_per_epoch, os.path.join(str(config.run_dir), "backup")
    )
    backups.restore(steps_per_epoch)
    first_step = int(backups.steps_done.numpy())
    _check_workers_agree(strategy, first_step, "the steps already done")

    def epoch_iterator(epoch, skip=0):
        batches = batch_examples(
            train_data,
            config.batch_size,
            shuffle=True,
            seed=int(backups.data_seed.numpy()) + epoch,
            shuffle_buffer=config.shuffle_buffer,
        )
        return iter(strategy.experimental_distribute_dataset(batches.skip(skip)))

    dev_batches = None
    if dev_data is not None:
        dev_batches = batch_examples(dev_data, config.batch_size)
        dev_steps = count_batches(dev_batches, "dev dataset")
        dev_batches = strategy.experimental_distribute_dataset(dev_batches)

    first_batch = batch_examples(train_data, config.batch_size).take(1)
    build_training_state(model, strategy, next(iter(strategy.experimental_distribute_dataset(
        first_batch))))
    step = SummedStep(model, strategy, config.clipnorm) if summed_step else KerasStep(model)
    verbose = 1 if config.verbose == "auto" else config.verbose
    callback_list = keras.callbacks.CallbackList(
        training_callbacks(
            checkpoint_dir=checkpoint_dir,
            log_dir=log_dir,
            monitor=config.monitor if dev_data is not None else None,
            monitor_mode=config.monitor_mode,
            patience=config.patience,
            swap_ema_weights=config.ema_momentum is not None,
        )
        + list(callbacks),
        add_history=True,
        add_progbar=chief and verbose != 0,
        model=model,
        verbose=verbose if chief else 0,
        epochs=config.epochs,
        steps=steps_per_epoch,
    )

    def evaluate():
        model.reset_metrics()
        callback_list.on_test_begin()
        iterator = iter(dev_batches)
        for batch in range(dev_steps):
            callback_list.on_test_batch_begin(batch)
            logs = step.evaluate(iterator)
            callback_list.on_test_batch_end(batch, logs)
        logs = _floats(model.get_metrics_result())
        callback_list.on_test_end(logs)
        return {f"val_{name}": value for name, value in logs.items()}

    with chief_write_dir(backups.directory, chief) as backup_write_dir:
        backups.manager = tf.train.CheckpointManager(
            backups.checkpoint, backup_write_dir, max_to_keep=BACKUPS_KEPT, checkpoint_name="ckpt"
        )
        backups.last_saved = first_step
        model.stop_training = False
        callback_list.on_train_begin()
        epoch_logs = None
        for epoch in range(first_step // steps_per_epoch, config.epochs):
            skip = max(0, first_step - epoch * steps_per_epoch)
            model.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            iterator = epoch_iterator(epoch, skip)
            for batch in range(skip, steps_per_epoch):
                callback_list.on_train_batch_begin(batch)
                logs = step.train(iterator)
                backups.steps_done.assign_add(1)
                callback_list.on_train_batch_end(batch, logs)
                # (The epoch's last step is backed up below, with the epoch's logs.)
                if (
                    config.backup_steps
                    and batch + 1 < steps_per_epoch
                    and int(backups.steps_done.numpy()) % config.backup_steps == 0
                ):
                    backups.save()
                if model.stop_training:
                    break
            epoch_logs = _floats(model.get_metrics_result())
            if dev_batches is not None and not model.stop_training:
                epoch_logs.update(evaluate())
            backups.add_epoch(epoch_logs)
            # Before on_epoch_end, where SwapEMAWeights puts the averaged weights into the model:
            # a resumed run must go on from the raw ones.
            backups.save()
            callback_list.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        # As model.fit: with use_ema the model ends with the averaged weights.
        model.optimizer.finalize_variable_values(model.trainable_variables)
        callback_list.on_train_end(epoch_logs)
    if chief:
        shutil.rmtree(backups.directory, ignore_errors=True)
    return model.history.history
