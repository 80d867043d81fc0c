"""The callbacks every nlpkit training run gets.

A run directory holds what one run leaves behind:

    <run_dir>/checkpoints/epoch-001.weights.h5   weights after every epoch
    <run_dir>/logs/                              TensorBoard logs (train/ and validation/)
    <run_dir>/backup/                            the `tf.train.Checkpoint` an interrupted run
                                                 resumes from (see `nlpkit.training.loop`);
                                                 removed when training finishes

The backups, Keras' progress bar and `History` are not created here: the training loop takes the
backups itself and its `CallbackList` adds the other two. Nor is early stopping a callback: the
loop keeps an `EarlyStopping` state (below) whose best value, best epoch, patience counter and best
weights are variables, saved in every backup, so that a resumed run stops where the uninterrupted
one would have stopped and ends with the same best weights.
TensorBoard logs need the `tensorboard` package (TensorFlow >= 2.21 no longer installs it); without
it training goes on without logs and says so.
"""

import importlib.util
import math
import os
import warnings

import keras
import tensorflow as tf

from nlpkit.atomic_files import written_atomically

CHECKPOINT_PATTERN = "epoch-{epoch:03d}.weights.h5"


class EpochWeightsCheckpoint(keras.callbacks.Callback):
    """Saves the model's weights after every epoch as `<directory>/epoch-NNN.weights.h5`.

    Like `keras.callbacks.ModelCheckpoint(save_weights_only=True)`, except that a file is written
    under a temporary name and renamed when complete, so a process killed while saving never
    leaves a truncated `epoch-NNN.weights.h5` behind (at most a `.epoch-*` file).

    Args:
        directory: an existing directory.
    """

    def __init__(self, directory):
        super().__init__()
        self.directory = str(directory)

    def on_epoch_end(self, epoch, logs=None):
        target = os.path.join(self.directory, CHECKPOINT_PATTERN.format(epoch=epoch + 1))
        # Keras only writes weights to names ending in .weights.h5.
        with written_atomically(target, suffix=".weights.h5") as temporary:
            self.model.save_weights(temporary, overwrite=True)


class EarlyStopping(tf.Module):
    """`keras.callbacks.EarlyStopping(restore_best_weights=True)` as state that a backup holds.

    Same rule as Keras' (`min_delta=0`, no baseline): an epoch improves when its `monitor` value
    is strictly better than the best so far; training stops once `patience` epochs in a row did
    not improve (never after the first epoch); at the end the model gets the weights of the best
    epoch (or of the first epoch with a value, when none improved). Unlike Keras' callback, its
    state is made of variables (`tf.Module`, so a `tf.train.Checkpoint` saves it): the best value,
    the best epoch, the epochs without improvement, whether it stopped, and a copy of the best
    weights (in host memory: as much memory again as the model's weights).

    The training loop calls `update` while the dev set's weights are in the model (with weight
    averaging, the averaged ones) and before it backs up the epoch.

    Args:
        model: the built model whose `weights` are kept.
        monitor: the name of the metric in the epoch logs, e.g. `"val_accuracy"`.
        mode: `"max"` when larger values are better, `"min"` otherwise.
        patience: epochs without improvement before stopping.
    """

    def __init__(self, model, monitor, mode="min", patience=3):
        super().__init__(name="early_stopping")
        if mode not in ("min", "max"):
            raise ValueError(f"monitor_mode must be 'min' or 'max', got {mode!r}")
        self.monitor, self.mode, self.patience = monitor, mode, patience
        with tf.device("/cpu:0"):
            self.best = tf.Variable(math.inf if mode == "min" else -math.inf, dtype=tf.float64,
                                    trainable=False, name="best")
            self.best_epoch = tf.Variable(-1, dtype=tf.int64, trainable=False, name="best_epoch")
            self.wait = tf.Variable(0, dtype=tf.int64, trainable=False, name="wait")
            self.stopped_epoch = tf.Variable(-1, dtype=tf.int64, trainable=False,
                                             name="stopped_epoch")
            self.best_weights = [
                tf.Variable(tf.zeros(weight.shape, weight.dtype), trainable=False)
                for weight in model.weights
            ]
        self._warned = False

    @property
    def stopped(self):
        """Whether an `update` has decided to stop (the run must train no further)."""
        return int(self.stopped_epoch.numpy()) >= 0

    def _keep_weights(self, model, epoch):
        for kept, weight in zip(self.best_weights, model.weights, strict=True):
            kept.assign(weight.numpy())
        self.best_epoch.assign(epoch)

    def update(self, epoch, logs, model):
        """Takes epoch `epoch`'s logs (the model holding the weights evaluated); returns whether
        training should stop."""
        current = logs.get(self.monitor)
        if current is None:
            if not self._warned:
                warnings.warn(
                    f"early stopping watches {self.monitor!r}, which is not among the epoch's "
                    f"logs ({', '.join(sorted(logs))})",
                    stacklevel=2,
                )
                self._warned = True
            return False
        current = float(current)
        if int(self.best_epoch.numpy()) < 0:
            self._keep_weights(model, epoch)
        self.wait.assign_add(1)
        best = float(self.best.numpy())
        if current < best if self.mode == "min" else current > best:
            self.best.assign(current)
            self._keep_weights(model, epoch)
            self.wait.assign(0)
            return False
        if int(self.wait.numpy()) >= self.patience and epoch > 0:
            self.stopped_epoch.assign(epoch)
            return True
        return False

    def restore_best_weights(self, model):
        """Puts the kept weights into `model` (nothing if no epoch had a value)."""
        if int(self.best_epoch.numpy()) >= 0:
            model.set_weights([kept.numpy() for kept in self.best_weights])


def training_callbacks(
    *,
    checkpoint_dir,
    log_dir,
    swap_ema_weights=False,
):
    """Returns the standard callbacks, in the order they should run.

    Args:
        checkpoint_dir: where `EpochWeightsCheckpoint` writes `epoch-NNN.weights.h5` after every
            epoch.
        log_dir: TensorBoard log directory.
        swap_ema_weights: the optimizer averages the weights (`use_ema=True`): evaluate and
            checkpoint the averaged weights (`keras.callbacks.SwapEMAWeights`), so that the
            dev scores, the weight files and early stopping all see the averaged weights. (The
            loop backs up before calling `on_epoch_end`, where the swap happens, so a resumed run
            goes on from the raw weights.)

    Returns:
        A list of Keras callbacks.
    """
    callbacks = []
    if swap_ema_weights:
        # First: everything after it should see the averaged weights.
        callbacks.append(keras.callbacks.SwapEMAWeights(swap_on_epoch=True))
    callbacks += [EpochWeightsCheckpoint(checkpoint_dir), keras.callbacks.TerminateOnNaN()]
    if importlib.util.find_spec("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir), update_freq="epoch"))
    else:
        warnings.warn(
            "the tensorboard package is not installed, so no TensorBoard logs are written "
            "(pip install tensorboard)",
            stacklevel=2,
        )
    return callbacks
