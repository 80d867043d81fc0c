"""The callbacks every nlpkit training run gets.

A run directory holds what one run leaves behind:

    <run_dir>/checkpoints/epoch-001.weights.h5   weights after every epoch
    <run_dir>/logs/                              TensorBoard logs (train/ and validation/)
    <run_dir>/backup/                            the `tf.train.Checkpoint` an interrupted run
                                                 resumes from (see `nlpkit.training.loop`);
                                                 removed when training finishes

The backups, Keras' progress bar and `History` are not created here: the training loop takes the
backups itself and its `CallbackList` adds the other two.
TensorBoard logs need the `tensorboard` package (TensorFlow >= 2.21 no longer installs it); without
it training goes on without logs and says so.
"""

import importlib.util
import os
import warnings

import keras

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


def training_callbacks(
    *,
    checkpoint_dir,
    log_dir,
    monitor=None,
    monitor_mode="min",
    patience=3,
    swap_ema_weights=False,
):
    """Returns the standard callbacks, in the order they should run.

    Args:
        checkpoint_dir: where `EpochWeightsCheckpoint` writes `epoch-NNN.weights.h5` after every
            epoch.
        log_dir: TensorBoard log directory.
        monitor: a metric of the epoch logs on the dev set, e.g. `"val_accuracy"`; `None` disables
            early stopping (for runs without dev data).
        monitor_mode: `"max"` when larger `monitor` values are better, `"min"` otherwise. Stated
            explicitly because Keras' `"auto"` guesses from the name and gets e.g. F1 wrong.
        patience: epochs without improvement of `monitor` before training stops; the weights of
            the best epoch are restored at the end.
        swap_ema_weights: the optimizer averages the weights (`use_ema=True`): evaluate, checkpoint
            and early-stop on the averaged weights (`keras.callbacks.SwapEMAWeights`), so that the
            trained model holds the averaged weights of the best epoch. (The loop backs up before
            calling `on_epoch_end`, where the swap happens, so a resumed run goes on from the raw
            weights.)

    Returns:
        A list of Keras callbacks.
    """
    if monitor_mode not in ("min", "max"):
        raise ValueError(f"monitor_mode must be 'min' or 'max', got {monitor_mode!r}")
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
    if monitor is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor,
                mode=monitor_mode,
                patience=patience,
                restore_best_weights=True,
            )
        )
    return callbacks
