"""The callbacks every nlpkit training run gets.

A run directory holds what one run leaves behind:

    <run_dir>/checkpoints/epoch-001.weights.h5   weights after every epoch
    <run_dir>/logs/                              TensorBoard logs (train/ and validation/)
    <run_dir>/backup/                            the state an interrupted run resumes from
                                                 (`BackupAndRestore` under `fit`, a
                                                 `tf.train.Checkpoint` under the custom loop);
                                                 removed when training finishes

Keras' progress bar is not created here: `fit(verbose=...)` adds its own `ProgbarLogger`.
TensorBoard logs need the `tensorboard` package (TensorFlow >= 2.21 no longer installs it); without
it training goes on without logs and says so.
"""

import importlib.util
import os
import tempfile
import warnings

import keras

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
        handle, temporary = tempfile.mkstemp(
            prefix=".epoch-", suffix=".weights.h5", dir=self.directory
        )
        os.close(handle)
        try:
            self.model.save_weights(temporary, overwrite=True)
            os.chmod(temporary, 0o644)  # mkstemp makes it private
            os.replace(temporary, target)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise


def training_callbacks(
    *,
    checkpoint_dir,
    log_dir,
    backup_dir=None,
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
        backup_dir: `BackupAndRestore` directory, or `None` for no `BackupAndRestore` (the custom
            training loop takes its own backups). If it holds a backup when `fit` starts, the
            weights, optimizer state and epoch counter are restored from it, so an interrupted run
            resumes at the start of the epoch that was interrupted (early stopping's patience
            count starts afresh, and the data order of a resumed epoch differs from the
            uninterrupted run's). Backups are taken at the end of
            every epoch (Keras restores mid-epoch backups as if the epoch had not begun, which
            would repeat steps, so nlpkit does not take them). Two generations are kept so that a
            process killed while writing one still finds the other.
        monitor: a metric seen by `fit` on the dev set, e.g. `"val_accuracy"`; `None` disables
            early stopping (for runs without dev data).
        monitor_mode: `"max"` when larger `monitor` values are better, `"min"` otherwise. Stated
            explicitly because Keras' `"auto"` guesses from the name and gets e.g. F1 wrong.
        patience: epochs without improvement of `monitor` before training stops; the weights of
            the best epoch are restored at the end.
        swap_ema_weights: the optimizer averages the weights (`use_ema=True`): evaluate, checkpoint
            and early-stop on the averaged weights (`keras.callbacks.SwapEMAWeights`), so that the
            model `fit` leaves behind holds the averaged weights of the best epoch. The backup is
            taken before the swap, so a resumed run continues from the raw weights.

    Returns:
        A list of Keras callbacks.
    """
    if monitor_mode not in ("min", "max"):
        raise ValueError(f"monitor_mode must be 'min' or 'max', got {monitor_mode!r}")
    callbacks = []
    if backup_dir is not None:
        callbacks.append(
            keras.callbacks.BackupAndRestore(
                backup_dir=str(backup_dir), save_freq="epoch", double_checkpoint=True
            )
        )
    if swap_ema_weights:
        # After BackupAndRestore (which must back up the raw weights and the optimizer's
        # averages as they are) and before everything that should see the averaged weights.
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
