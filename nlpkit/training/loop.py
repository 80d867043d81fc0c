"""The one training loop: every strategy and both steps share its data order, backups and callbacks.

`run_training` drives a compiled model through the epochs with Keras' own `CallbackList`
(progress bar, `History`, `TensorBoard`, ...); per batch it calls one of the two steps of
`nlpkit.training.steps`, the only thing that differs between strategies. Early stopping is the
loop's own (`nlpkit.training.callbacks.EarlyStopping`), so that its state can be backed up.

Data order: epoch `e` shuffles the *whole* training set with seed `data_seed + e` (a uniform
permutation, whatever order the reader returns), so the order of an epoch does not depend on what
ran before (with `TrainingConfig.shuffle=False` every epoch takes the examples in the dataset's
own order, as truncated backpropagation through time needs); a resumed run replays the
interrupted epoch's order and skips the batches it had already trained on. `data_seed` is
`TrainingConfig.seed` or, without one, a seed drawn once by the chief and shared with every worker
(they must shuffle alike for DATA sharding to split each global batch without overlap); it is saved
in the backups.

Backups (`<run_dir>/backup/`): a `tf.train.Checkpoint`, managed by a `tf.train.CheckpointManager`
that keeps the last two, of everything the rest of the run depends on:

- every variable of the model (`model.variables`): the weights, non-trainable ones included, and
  the `SeedGenerator` states of dropout layers and of nlpkit's recurrent cells (Keras does not
  put those in a checkpoint of the model itself);
- the optimizer: its slots, its step count (hence the learning-rate schedule's step) and, with
  `ema_momentum`, the averaged weights;
- the running values of the epoch's metrics (a backup in the middle of an epoch resumes the
  epoch's `loss` and metrics where they were);
- the early-stopping state: best value, best epoch, epochs without improvement, whether it
  stopped, and the best epoch's weights;
- the steps done, the data seed, the steps per epoch, the history of every epoch done (JSON), and
  the run's fingerprint (JSON): the `TrainingConfig` fields that change what is computed, the
  number of replicas and of workers, the number of training examples and a digest of their
  values, and the model's layers and variables (names left out, as Keras numbers unnamed layers
  per process).

They are taken at the end of every epoch (after the dev evaluation and early stopping, before the
epoch's callbacks) and, with `TrainingConfig.backup_steps`, every that many steps. So a run killed
at any point, started again with the same settings, ends with the same weights, history and
early-stopping decisions as the run that was never interrupted (on CPU with a seed, where runs
are repeatable), and `run_training` returns the history of every epoch, those before the kill
included.

Resuming (`TrainingConfig.resume`): the backup's fingerprint is compared with this run's at
start-up, before any step. `"exact"` (the default) resumes a backup with the same fingerprint and
refuses any other with `ResumeMismatch`, which names every difference; `"continue"` resumes it
anyway, with a warning naming the differences (the same model is needed: weights must fit), at
the first step not done, or at the start of the interrupted epoch when the steps per epoch
changed; `"restart"` deletes any backup and starts from the first step.

TensorFlow writes a checkpoint's files first and then atomically updates the `checkpoint` index
file, so a process killed while saving leaves the previous backup usable. Only the chief writes to
`<run_dir>/backup`; other workers write theirs to a temporary directory removed at the end (every
worker must take part in saving), and every worker restores from the chief's, so under several
machines `run_dir` must be on a file system that all of them can read (NFS, GCS, ...). Workers
that restored different states are detected before the first step. The backup is removed when
training finishes.
"""

import dataclasses
import json
import os
import random
import shutil
import sys
import warnings

import keras
import tensorflow as tf

from nlpkit.training.batching import batch_examples, count_batches, examples_fingerprint
from nlpkit.training.callbacks import EarlyStopping, training_callbacks
from nlpkit.training.steps import KerasStep, SummedStep, build_training_state
from nlpkit.training.strategy import chief_write_dir, read_tf_config

BACKUP_STATE_FILE = "checkpoint"  # the index file that tf.train.CheckpointManager maintains
KERAS_BACKUP_FILE = "training_metadata.json"  # what keras.callbacks.BackupAndRestore writes
BACKUPS_KEPT = 2
RESUME_MODES = ("exact", "continue", "restart")
# TrainingConfig fields that do not change what training computes, left out of the fingerprint:
# where files go, how much is printed, how often backups are taken, and which of the two steps
# (the same update) runs, compiled or not.
NOT_FINGERPRINTED = ("run_dir", "verbose", "backup_steps", "training_loop", "jit_compile",
                     "resume")
# TrainingConfig fields added after backups existed, with the value every older run had: they
# enter the fingerprint only when set otherwise, so that the backups of those runs still resume.
FINGERPRINTED_UNLESS_DEFAULT = {"shuffle": True}
_NO_DEFAULT = object()
_FINGERPRINT_KEY = "fingerprint/.ATTRIBUTES/VARIABLE_VALUE"
_STEPS_DONE_KEY = "steps_done/.ATTRIBUTES/VARIABLE_VALUE"


class ResumeMismatch(ValueError):
    """The backup in a run directory is not one this run can resume as asked.

    Raised by `train` at start-up, before any step, when the backup was taken by a run with other
    settings, another number of replicas or workers, other data or another model (the message
    names each difference and the way out), or by an older nlpkit. Recipes turn it into a usage
    error (exit status 2).
    """


def _without_names(value):
    """`value` with the "name" entries of its dicts removed (a dict holding only a name, such as a
    dtype policy's config, keeps it)."""
    if isinstance(value, dict):
        return {key: _without_names(item) for key, item in value.items()
                if key != "name" or len(value) == 1}
    if isinstance(value, list | tuple):
        return [_without_names(item) for item in value]
    return value


def _layer_config(layer):
    try:
        return layer.get_config()
    except (NotImplementedError, TypeError, ValueError):
        return {}


def _model_description(model):
    """The model's layers (class and configuration, names left out) and variables, JSON-ready."""
    description = {
        "layers": [[type(layer).__name__, _without_names(_layer_config(layer))]
                   for layer in model.layers],
        "variables": [[list(variable.shape), str(variable.dtype), bool(variable.trainable)]
                      for variable in model.variables],
    }
    return json.loads(json.dumps(description, sort_keys=True,
                                 default=lambda value: type(value).__name__))


def _worker_count(strategy):
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    cluster = read_tf_config().get("cluster", {})
    return max(1, len(cluster.get("worker", [])) + len(cluster.get("chief", [])))


def run_fingerprint(model, config, strategy, *, examples, digest, steps_per_epoch):
    """What a backup must share with this run to be resumed exactly, as a JSON-ready dict."""
    return {
        "training": {field.name: getattr(config, field.name)
                     for field in dataclasses.fields(config)
                     if field.name not in NOT_FINGERPRINTED
                     and FINGERPRINTED_UNLESS_DEFAULT.get(field.name, _NO_DEFAULT)
                     != getattr(config, field.name)},
        "replicas": strategy.num_replicas_in_sync,
        "workers": _worker_count(strategy),
        "examples": examples,
        "data_digest": digest,
        "steps_per_epoch": steps_per_epoch,
        "model": _model_description(model),
    }


def fingerprint_differences(backed_up, now):
    """Human-readable differences between two fingerprints, `[]` when they match."""
    differences = []
    for key in sorted(set(backed_up) | set(now)):
        old, new = backed_up.get(key), now.get(key)
        if old == new:
            continue
        if key == "training" and isinstance(old, dict) and isinstance(new, dict):
            differences += [f"{name}: {old.get(name)!r} in the backup, {new.get(name)!r} now"
                            for name in sorted(set(old) | set(new))
                            if old.get(name) != new.get(name)]
        elif key == "model":
            differences.append("the model: other layers, settings or weights")
        elif key == "data_digest":
            differences.append("the training examples: other values or another order")
        else:
            differences.append(f"{key}: {old!r} in the backup, {new!r} now")
    return differences


class _Backups:
    """The resumable state of a run and the `tf.train.CheckpointManager` that saves it."""

    def __init__(self, model, strategy, config, steps_per_epoch, backup_dir, early_stopping):
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
        self.model = model
        self.early_stopping = early_stopping
        self.steps_done = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps_done")
        self.steps_per_epoch = tf.Variable(steps_per_epoch, dtype=tf.int64, trainable=False)
        # {metric: [value per epoch]} of every epoch done, before a resume too, as JSON.
        self.history = tf.Variable("{}", dtype=tf.string, trainable=False)
        self.fingerprint = tf.Variable("{}", dtype=tf.string, trainable=False)
        self.checkpoint = None
        self.directory = backup_dir
        self.manager = None
        self.last_saved = None

    def _make_checkpoint(self):
        # After build_training_state: the compiled metrics' variables exist by then.
        parts = {
            "model_variables": list(self.model.variables),
            "optimizer": self.model.optimizer,
            "metrics": list(self.model.metrics_variables),
            "steps_done": self.steps_done,
            "data_seed": self.data_seed,
            "steps_per_epoch": self.steps_per_epoch,
            "history": self.history,
            "fingerprint": self.fingerprint,
        }
        if self.early_stopping is not None:
            parts["early_stopping"] = self.early_stopping
        self.checkpoint = tf.train.Checkpoint(**parts)

    def _refuse(self, what, mode, differences=()):
        listed = "".join(f"\n  - {difference}" for difference in differences)
        way_out = (
            "Run with the settings of the backup, or set TrainingConfig.resume (a recipe's "
            "--resume flag) to 'continue' to go on from it anyway, or to 'restart' to delete it "
            "and start afresh."
            if mode == "exact"
            else "Set TrainingConfig.resume (a recipe's --resume flag) to 'restart' to delete it "
            "and start afresh."
        )
        return ResumeMismatch(f"{self.directory}: {what}{listed}\n{way_out}")

    def _latest(self, fingerprint, mode, chief, say):
        """The backup to resume (None: start afresh), after the checks of `mode`."""
        if mode == "restart":
            if chief and os.path.isdir(self.directory) and os.listdir(self.directory):
                say(f"deleting the backup in {self.directory} (resume='restart'): training "
                    "starts from the first step")
                shutil.rmtree(self.directory)
            return None
        if os.path.exists(os.path.join(self.directory, KERAS_BACKUP_FILE)) and not os.path.exists(
            os.path.join(self.directory, BACKUP_STATE_FILE)
        ):
            raise self._refuse(
                "holds a keras.callbacks.BackupAndRestore backup (written by an older nlpkit), "
                "which cannot be resumed from.", "continue")
        latest = tf.train.latest_checkpoint(self.directory)
        if latest is None:
            return None
        reader = tf.train.load_checkpoint(latest)
        if not reader.has_tensor(_FINGERPRINT_KEY):
            raise self._refuse(
                f"the backup {os.path.basename(latest)} was written by an older nlpkit, without "
                "a record of the run that took it, so it cannot be resumed exactly.", "continue")
        backed_up = json.loads(reader.get_tensor(_FINGERPRINT_KEY).decode())
        differences = fingerprint_differences(backed_up, fingerprint)
        if differences and (mode == "exact" or backed_up.get("model") != fingerprint["model"]):
            raise self._refuse(
                f"the backup {os.path.basename(latest)} was taken by a different run, so this run "
                "cannot resume it exactly:", mode, differences)
        return latest

    def resume(self, fingerprint, mode, chief, say, strategy):
        """Restores the latest backup as `mode` allows; returns the number of steps done.

        Every worker checks that all found a backup of the same step before restoring it
        (restoring distributed variables can take collective operations, which would not match
        on a worker that found none).
        """
        self._make_checkpoint()
        self.fingerprint.assign(json.dumps(fingerprint, sort_keys=True))
        latest = self._latest(fingerprint, mode, chief, say)
        if latest is None:
            _check_workers_agree(strategy, 0, "the steps already done")
            return 0
        reader = tf.train.load_checkpoint(latest)
        _check_workers_agree(strategy, int(reader.get_tensor(_STEPS_DONE_KEY)),
                             "the steps already done")
        backed_up = json.loads(reader.get_tensor(_FINGERPRINT_KEY).decode())
        differences = fingerprint_differences(backed_up, fingerprint)
        status = self.checkpoint.restore(latest)
        if differences:
            # resume="continue": e.g. early stopping newly turned on has nothing to restore.
            status.expect_partial()
        else:
            status.assert_existing_objects_matched()
        self.fingerprint.assign(json.dumps(fingerprint, sort_keys=True))
        done = int(self.steps_done.numpy())
        backed_up_per_epoch = int(self.steps_per_epoch.numpy())
        if differences:
            message = (f"resuming the backup {latest} of a different run (resume='continue'); "
                       "the result is not the one either run would give uninterrupted:"
                       + "".join(f"\n  - {difference}" for difference in differences))
            warnings.warn(message, stacklevel=3)
            say(message)
            steps_per_epoch = fingerprint["steps_per_epoch"]
            if backed_up_per_epoch != steps_per_epoch:
                # The interrupted epoch starts again, with this run's number of steps.
                epochs_done = done // backed_up_per_epoch
                done = epochs_done * steps_per_epoch
                self.steps_done.assign(done)
                self.steps_per_epoch.assign(steps_per_epoch)
                self.model.reset_metrics()
        per_epoch = int(self.steps_per_epoch.numpy())
        say(f"resuming from the backup {latest}: {done} steps done (epoch {done // per_epoch + 1}"
            f", batch {done % per_epoch + 1} next)")
        return done

    def add_epoch(self, logs):
        history = json.loads(self.history.numpy().decode())
        for name, value in logs.items():
            history.setdefault(name, []).append(float(value))
        self.history.assign(json.dumps(history))

    def full_history(self):
        return json.loads(self.history.numpy().decode())

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
    examples=None,
    data_digest=None,
):
    """Trains a compiled model for `config.epochs`; returns the history of every epoch.

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
        examples, data_digest: the number of training examples and their digest
            (`examples_fingerprint`), computed here when not given.

    Returns:
        `{metric: [value per epoch]}` of every epoch of the run, those trained before a resume
        included (also left in `model.history`).

    Raises:
        ResumeMismatch: the backup cannot be resumed as `config.resume` asks.
    """
    if examples is None or data_digest is None:
        examples, data_digest = examples_fingerprint(train_data)
    shuffle_buffer = config.shuffle_buffer if config.shuffle_buffer is not None else examples
    verbose = 1 if config.verbose == "auto" else config.verbose

    def say(message):
        if chief and verbose != 0:
            print(message, file=sys.stderr, flush=True)

    if config.shuffle and shuffle_buffer < examples:
        say(f"the shuffle buffer ({shuffle_buffer}) is smaller than the training set ({examples} "
            "examples): examples far apart in the source never meet in a batch")
    monitor = config.monitor if dev_data is not None else None
    early_stopping = (EarlyStopping(model, monitor, config.monitor_mode, config.patience)
                      if monitor is not None else None)
    backups = _Backups(model, strategy, config, steps_per_epoch,
                       os.path.join(str(config.run_dir), "backup"), early_stopping)

    def epoch_iterator(epoch, skip=0):
        batches = batch_examples(
            train_data,
            config.batch_size,
            shuffle=config.shuffle,
            seed=int(backups.data_seed.numpy()) + epoch,
            shuffle_buffer=max(1, shuffle_buffer),
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
    fingerprint = run_fingerprint(model, config, strategy, examples=examples, digest=data_digest,
                                  steps_per_epoch=steps_per_epoch)
    first_step = backups.resume(fingerprint, config.resume, chief, say, strategy)

    step = SummedStep(model, strategy, config.clipnorm) if summed_step else KerasStep(model)
    callback_list = keras.callbacks.CallbackList(
        training_callbacks(
            checkpoint_dir=checkpoint_dir,
            log_dir=log_dir,
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

    def evaluate(epoch, train_logs):
        model.reset_metrics()
        callback_list.on_test_begin()
        iterator = iter(dev_batches)
        for batch in range(dev_steps):
            callback_list.on_test_batch_begin(batch)
            logs = step.evaluate(iterator)
            callback_list.on_test_batch_end(batch, logs)
        logs = _floats(model.get_metrics_result())
        dev_logs = {f"val_{name}": value for name, value in logs.items()}
        # Here, between on_test_begin and on_test_end, the model holds the weights just
        # evaluated (with weight averaging, SwapEMAWeights has put the averages in): those are
        # the weights early stopping keeps.
        if early_stopping is not None and early_stopping.update(
                epoch, {**train_logs, **dev_logs}, model):
            model.stop_training = True
        callback_list.on_test_end(logs)
        return dev_logs

    with chief_write_dir(backups.directory, chief) as backup_write_dir:
        backups.manager = tf.train.CheckpointManager(
            backups.checkpoint, backup_write_dir, max_to_keep=BACKUPS_KEPT, checkpoint_name="ckpt"
        )
        backups.last_saved = first_step
        model.stop_training = False
        callback_list.on_train_begin()
        epoch_logs = None
        first_epoch = first_step // steps_per_epoch
        if early_stopping is not None and early_stopping.stopped:
            first_epoch = config.epochs  # the backup was taken after early stopping decided
        for epoch in range(first_epoch, config.epochs):
            skip = max(0, first_step - epoch * steps_per_epoch)
            if not skip:
                # (A backup from the middle of an epoch restored the epoch's running metrics.)
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
                epoch_logs.update(evaluate(epoch, epoch_logs))
            backups.add_epoch(epoch_logs)
            # Before on_epoch_end, where SwapEMAWeights puts the averaged weights into the model:
            # a resumed run must go on from the raw ones.
            backups.save()
            callback_list.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        # As model.fit: with use_ema the model ends with the averaged weights; as Keras'
        # EarlyStopping(restore_best_weights=True): with the best epoch's weights.
        model.optimizer.finalize_variable_values(model.trainable_variables)
        if early_stopping is not None:
            early_stopping.restore_best_weights(model)
        history = backups.full_history()
        model.history.history = history
        model.history.epoch = list(range(len(history.get("loss", []))))
        callback_list.on_train_end(epoch_logs)
    if chief:
        shutil.rmtree(backups.directory, ignore_errors=True)
    return history
