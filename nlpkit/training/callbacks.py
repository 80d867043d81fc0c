"""The callbacks every nlpkit training run gets.

A run directory holds what one run leaves behind:

    <run_dir>/checkpoints/epoch-001.weights.h5   weights after every epoch
    <run_dir>/logs/                              TensorBoard logs (train/ and validation/)
    <run_dir>/backup/                            `BackupAndRestore` state while a run is going;
                                                 removed when `fit` finishes

Keras' progress bar is not created here: `fit(verbose=...)` adds its own `ProgbarLogger`.
TensorBoard logs need the `tensorboard` package (TensorFlow >= 2.21 no longer installs it); without
it training goes on without logs and says so.
"""

import importlib.util
import os
import warnings

import keras

CHECKPOINT_PATTERN = "epoch-{epoch:03d}.weights.h5"


def training_callbacks(
    *,
    checkpoint_dir,
    log_dir,
    backup_dir,
    monitor=None,
    monitor_mode="min",
    patience=3,
):
    """Returns the standard callbacks, in the order they should run.

    Args:
        checkpoint_dir: where `ModelCheckpoint` writes `epoch-NNN.weights.h5` after every epoch.
        log_dir: TensorBoard log directory.
        backup_dir: `BackupAndRestore` directory. If it holds a backup when `fit` starts, the
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

    Returns:
        A list of Keras callbacks.
    """
    if monitor_mode not in ("min", "max"):
        raise ValueError(f"monitor_mode must be 'min' or 'max', got {monitor_mode!r}")
    callbacks = [
        keras.callbacks.BackupAndRestore(
            backup_dir=str(backup_dir), save_freq="epoch", double_checkpoint=True
        ),
        keras.callbacks.ModelCheckpoint(
            filepath=os.path.join(str(checkpoint_dir), CHECKPOINT_PATTERN),
            save_weights_only=True,
            save_freq="epoch",
        ),
        keras.callbacks.TerminateOnNaN(),
    ]
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
