"""`train`: builds and compiles a model under a `tf.distribute` strategy and runs the one loop.

Whatever the strategy, training runs in `nlpkit.training.loop.run_training` (one data order, one
backup format, Keras' own callbacks); `TrainingConfig.training_loop` only picks the step it calls
per batch (`nlpkit.training.steps`): Keras' train step, or the step that sums the gradients over
all replicas before clipping them, which multi-worker training and clipping over several
replicas need.

Batch size semantics: `TrainingConfig.batch_size` is the *global* batch, the number of examples
that make one optimizer step, whatever the number of replicas. `train` batches the examples with it
and `tf.distribute` splits every batch among the `strategy.num_replicas_in_sync` replicas, so each
replica sees `batch_size / replicas` examples. The learning rate is used as given: it is never
rescaled for the number of replicas. Both steps take Keras' loss (`model.compute_loss`): each
replica's mean over its share (over unmasked elements for masked outputs), divided by the number
of replicas, so the summed gradient is the mean of the replicas' means: the global batch's mean
when the shares are alike in size (and, with masks, in unmasked elements), as on one device.

Example:

    def build_model():
        return keras.Sequential([keras.Input((None,), dtype="int32"),
                                 keras.layers.Embedding(100, 8),
                                 keras.layers.GlobalAveragePooling1D(),
                                 keras.layers.Dense(2, activation="softmax")])

    config = TrainingConfig(epochs=3, batch_size=32, run_dir="runs/demo",
                            monitor="val_accuracy", monitor_mode="max")
    result = train(build_model, train_examples, config,
                   loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                   dev_data=dev_examples)
"""

import contextlib
import dataclasses
import math
import os

import keras
import tensorflow as tf

from nlpkit.training.batching import batch_examples, examples_fingerprint
from nlpkit.training.loop import RESUME_MODES, run_training
from nlpkit.training.strategy import chief_write_dir, is_chief, make_strategy

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}
LEARNING_RATE_SCHEDULES = ("constant", "cosine", "linear")
TRAINING_LOOPS = ("auto", "fit", "custom")
MIXED_PRECISION_POLICIES = ("mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass
class TrainingConfig:
    """How to train: everything the shared command-line flags control.

    Attributes:
        epochs: number of passes over the training data.
        batch_size: the global batch size (examples per optimizer step, over all replicas).
        learning_rate: peak learning rate, never rescaled for the number of replicas.
        lr_schedule: `"constant"`, `"cosine"` (cosine decay to 0 over the whole run) or `"linear"`
            (linear decay to 0 over the whole run).
        optimizer: one of `OPTIMIZERS`.
        clipnorm: if set, gradients are clipped so that their global norm (over all weights
            together, and over all replicas) is at most this (Keras' `global_clipnorm` with the
            Keras step; the summed step clips the gradient summed over the replicas).
        mixed_precision: `None`, `"mixed_float16"` (GPUs) or `"mixed_bfloat16"` (CPUs, TPUs,
            recent GPUs). The model is built under this Keras dtype policy; `mixed_float16` gets
            loss scaling from Keras automatically. Keep the model's last layer in float32.
        jit_compile: `"auto"` (Keras' choice: XLA on GPUs without tf.distribute), `True` or
            `False`.
        run_dir: where checkpoints, TensorBoard logs and the resume backup go.
        seed: shuffling seed of the training data: epoch `e` is shuffled with `seed + e`
            (`None`: a seed drawn once per run, kept in the backup); full repeatability also
            needs `enable_repeatable_runs(seed)` at program start.
        monitor: dev metric for early stopping, e.g. `"val_accuracy"`; `None` disables it.
        monitor_mode: `"max"` if larger `monitor` is better, else `"min"`.
        patience: epochs without improvement of `monitor` before stopping.
        shuffle_buffer: size of the shuffle buffer for the training examples; `None` (the
            default): the whole training set, so every epoch is a uniform random permutation of
            all examples, whatever order the reader returns them in (e.g. folders sorted by
            class). A smaller buffer only mixes examples that are close in the source.
        shuffle: shuffle the training examples every epoch (the default). `False` feeds them
            in the order the dataset gives, every epoch alike (`seed` and `shuffle_buffer` are
            then unused): what truncated backpropagation through time needs, where batch k+1
            continues the text of batch k and stateful layers carry their state across them
            (`nlpkit.data.stateful_batches`). The dev set is never shuffled.
        verbose: verbosity on the chief (`"auto"`, 0, 1 = progress bar, 2 = one line per
            epoch); other workers are silent.
        training_loop: which step the one training loop takes per batch (the loop, its data
            order, backups and callbacks are the same for all): `"fit"` (Keras' own train step,
            `model.train_step`, as `model.fit` runs it), `"custom"` (`SummedStep` of
            `nlpkit.training.steps`: its own `strategy.run`, gradients summed over all replicas
            and then clipped) or `"auto"`: the summed step under `MultiWorkerMirroredStrategy`
            (where Keras' cannot run) and when `clipnorm` is set with several replicas (where
            Keras clips each replica's share instead of the sum), otherwise Keras' step.
        backup_steps: besides the backup at the end of every epoch, back up every this many
            steps, so that a killed run loses at most that many steps; `None` backs up once per
            epoch.
        weight_decay: if set, decoupled weight decay (Loshchilov & Hutter): before every update
            each trainable weight `w` becomes `w - learning_rate * weight_decay * w`, for every
            optimizer (with `"adam"` this is AdamW). `None` uses the optimizer's own default
            (0.004 for `"adamw"`, none for the others).
        ema_momentum: if set (0 < m < 1), the optimizer keeps an exponential moving average of
            the trainable weights, `average = m * average + (1 - m) * weights` after every step
            (Polyak averaging), and the averaged weights are the ones evaluated on the dev set,
            checkpointed, kept by early stopping and returned. `None` (the default) trains
            without averaging.
        resume: what to do with a backup in `run_dir/backup` left by an interrupted run (see
            `nlpkit.training.loop`): `"exact"` (the default) resumes it when it was taken by the
            same run (same settings except `run_dir`, `verbose`, `backup_steps`,
            `training_loop` and `jit_compile`; same number of replicas and workers; same
            training examples; same model) and otherwise refuses with `ResumeMismatch`, naming
            the differences; `"continue"` resumes a backup of the same model even when the rest
            differs, with a warning; `"restart"` deletes any backup and trains from the first
            step.
    """

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    optimizer: str = "adam"
    clipnorm: float | None = None
    mixed_precision: str | None = None
    jit_compile: str | bool = "auto"
    run_dir: str = os.path.join("runs", "default")
    seed: int | None = None
    monitor: str | None = "val_loss"
    monitor_mode: str = "min"
    patience: int = 3
    shuffle_buffer: int | None = None
    shuffle: bool = True
    verbose: str | int = "auto"
    training_loop: str = "auto"
    backup_steps: int | None = None
    weight_decay: float | None = None
    ema_momentum: float | None = None
    resume: str = "exact"

    def __post_init__(self):
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.learning_rate > 0:
            problems.append(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.lr_schedule not in LEARNING_RATE_SCHEDULES:
            problems.append(
                f"lr_schedule must be one of {LEARNING_RATE_SCHEDULES}, got {self.lr_schedule!r}"
            )
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"optimizer must be one of {tuple(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.clipnorm is not None and not self.clipnorm > 0:
            problems.append(f"clipnorm must be > 0, got {self.clipnorm}")
        if self.mixed_precision not in (None,) + MIXED_PRECISION_POLICIES:
            problems.append(
                f"mixed_precision must be None or one of {MIXED_PRECISION_POLICIES}, "
                f"got {self.mixed_precision!r}"
            )
        if self.jit_compile not in ("auto", True, False):
            problems.append(f"jit_compile must be 'auto', True or False, got {self.jit_compile!r}")
        if self.monitor_mode not in ("min", "max"):
            problems.append(f"monitor_mode must be 'min' or 'max', got {self.monitor_mode!r}")
        if self.training_loop not in TRAINING_LOOPS:
            problems.append(
                f"training_loop must be one of {TRAINING_LOOPS}, got {self.training_loop!r}"
            )
        if self.backup_steps is not None and (
            isinstance(self.backup_steps, bool) or not isinstance(self.backup_steps, int)
            or self.backup_steps < 1
        ):
            problems.append(f"backup_steps must be None or >= 1, got {self.backup_steps!r}")
        if self.weight_decay is not None and not self.weight_decay >= 0:
            problems.append(f"weight_decay must be None or >= 0, got {self.weight_decay!r}")
        if self.ema_momentum is not None and not 0 < self.ema_momentum < 1:
            problems.append(f"ema_momentum must be None or in (0, 1), got {self.ema_momentum!r}")
        if self.shuffle_buffer is not None and (
            isinstance(self.shuffle_buffer, bool) or not isinstance(self.shuffle_buffer, int)
            or self.shuffle_buffer < 1
        ):
            problems.append(f"shuffle_buffer must be None or >= 1, got {self.shuffle_buffer!r}")
        if not isinstance(self.shuffle, bool):
            problems.append(f"shuffle must be True or False, got {self.shuffle!r}")
        if self.resume not in RESUME_MODES:
            problems.append(f"resume must be one of {RESUME_MODES}, got {self.resume!r}")
        if problems:
            raise ValueError("invalid training config: " + "; ".join(problems))


@dataclasses.dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
        model: the trained, compiled model (best dev epoch when early stopping is on).
        history: per-epoch `loss`, metrics and `val_*` of every epoch of the run: a resumed
            run lists the epochs trained before the interruption too, so it reads as the
            uninterrupted run's.
        steps_per_epoch: optimizer steps per epoch (= ceil(examples / global batch size)).
        strategy: the strategy the model was built under.
    """

    model: keras.Model
    history: dict
    steps_per_epoch: int
    strategy: tf.distribute.Strategy

    def summary(self, training_seconds, monitor="val_accuracy", mode="max"):
        """How training went, JSON-ready: epochs run, the best epoch by `monitor` (1-based;
        None when the history lacks it), the per-epoch history and `training_seconds`."""
        scores = self.history.get(monitor, [])
        best = (max if mode == "max" else min)(scores) if scores else None
        return {
            "epochs_run": len(self.history.get("loss", [])),
            "best_epoch": 1 + scores.index(best) if scores else None,
            "history": {name: [float(v) for v in values] for name, values in self.history.items()},
            "training_seconds": round(training_seconds, 1),
        }


def enable_repeatable_runs(seed):
    """Makes a run repeatable: same seed, same CPU, same weights.

    Seeds Python, NumPy, TensorFlow and Keras (`keras.utils.set_random_seed`) and turns on
    TensorFlow's deterministic ops (`tf.config.experimental.enable_op_determinism`), which can make
    some ops slower or unavailable on GPUs. Global process state: call it from a program's entry
    point (the `--seed` flag does), never from library code.
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def learning_rate_schedule(config, total_steps):
    """The learning rate (a float or a Keras schedule) for `config` over `total_steps` steps."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, total_steps)
    return keras.optimizers.schedules.PolynomialDecay(
        config.learning_rate, total_steps, end_learning_rate=0.0, power=1.0
    )


def make_optimizer(config, total_steps):
    """The optimizer `config` asks for: its schedule, global-norm clipping, weight decay and
    weight averaging."""
    kwargs = {"learning_rate": learning_rate_schedule(config, total_steps)}
    if config.clipnorm is not None:
        kwargs["global_clipnorm"] = config.clipnorm
    if config.weight_decay is not None:
        kwargs["weight_decay"] = config.weight_decay
    if config.ema_momentum is not None:
        kwargs.update(use_ema=True, ema_momentum=config.ema_momentum)
    return OPTIMIZERS[config.optimizer](**kwargs)


@contextlib.contextmanager
def _dtype_policy(name):
    """Builds layers under Keras dtype policy `name` (if any) and restores the previous one."""
    previous = keras.config.dtype_policy()
    if name is not None:
        keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def uses_custom_loop(config, strategy):
    """Whether `train` trains with the summed `strategy.run` step rather than Keras' train step.

    (The name is historical: both steps run in the same loop.)

    Raises:
        NotImplementedError: `config.training_loop == "fit"` under `MultiWorkerMirroredStrategy`.
        ValueError: a setting the chosen step does not support.
    """
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    if config.training_loop == "auto":
        custom = multi_worker or (
            config.clipnorm is not None and strategy.num_replicas_in_sync > 1
        )
    else:
        custom = config.training_loop == "custom"
    if multi_worker and not custom:
        # Keras' train function reduces its logs with strategy.reduce(..., axis=0), which fails
        # on scalars under this strategy (and fit() fails before that: keras-team/keras#20585).
        raise NotImplementedError(
            "Keras' train step cannot run under MultiWorkerMirroredStrategy "
            "(keras-team/keras#20585); use training_loop 'auto' or 'custom'"
        )
    if custom and config.jit_compile is True:
        raise ValueError(
            "jit_compile=True (--jit-compile on) is not available with the summed strategy.run "
            "step, which multi-worker training and clipping over several replicas use; use "
            "'auto' or off"
        )
    return custom


def train(
    build_model,
    train_data,
    config,
    *,
    loss,
    metrics=(),
    dev_data=None,
    strategy=None,
    callbacks=(),
    chief=None,
):
    """Builds the model under `strategy`, compiles it and trains it with the standard callbacks.

    Training runs in `nlpkit.training.loop.run_training` with Keras' train step, or with the
    summed `strategy.run` step under `MultiWorkerMirroredStrategy` and when clipping over several
    replicas (see `TrainingConfig.training_loop`). Running `train` again with the same
    `config.run_dir` after an interruption resumes from the last backup, at the step after it,
    and ends as the uninterrupted run would have (see `TrainingConfig.resume`).

    Args:
        build_model: a callable returning a new, uncompiled `keras.Model` that maps a batch of
            features to predictions; called inside `strategy.scope()` and the dtype policy.
        train_data: a finite `tf.data.Dataset` of *unbatched* `(features, label)` (or
            `(features, label, sample_weight)`) examples; `train` shuffles it and batches it
            with the global batch size (padding variable-length features with 0).
        config: a `TrainingConfig`.
        loss: a Keras loss (name or object) for `compile`.
        metrics: Keras metrics for `compile`; on the dev set they appear as `val_<name>`.
        dev_data: optional unbatched dev examples evaluated after every epoch.
        strategy: a `tf.distribute.Strategy`; `None` uses `make_strategy("auto")`.
        callbacks: extra callbacks, run after the standard ones.
        chief: whether this process writes checkpoints, logs and backups; `None` asks
            `is_chief()`.

    Returns:
        A `TrainResult`.

    Raises:
        NotImplementedError: `config.training_loop == "fit"` under `MultiWorkerMirroredStrategy`.
        ResumeMismatch: a backup in `config.run_dir` that `config.resume` does not allow to
            resume (another run's settings, replicas, data or model); a `ValueError`.
        ValueError: the global batch size does not split evenly among the replicas, a setting
            the chosen step does not support, or empty or infinite training data.
        FloatingPointError: the loss became NaN or infinite (training was stopped).
    """
    strategy = make_strategy("auto") if strategy is None else strategy
    summed_step = uses_custom_loop(config, strategy)
    chief = is_chief() if chief is None else chief
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ValueError(
            f"the global batch size {config.batch_size} does not split evenly among "
            f"{replicas} replicas; use a multiple of {replicas}"
        )
    # One pass over the examples: their number and a digest of their values for the backups.
    examples, data_digest = examples_fingerprint(train_data)
    if examples == 0:
        raise ValueError("the training dataset is empty")
    steps_per_epoch = -(-examples // config.batch_size)

    with strategy.scope(), _dtype_policy(config.mixed_precision):
        model = build_model()
        if not model.built:
            # Backups can only be restored into a model whose weights exist.
            model(next(iter(batch_examples(train_data, config.batch_size).take(1)))[0])
        # The summed step clips the gradient summed over all replicas itself; the optimizer
        # would clip each replica's share.
        optimizer_config = dataclasses.replace(config, clipnorm=None) if summed_step else config
        model.compile(
            optimizer=make_optimizer(optimizer_config, steps_per_epoch * config.epochs),
            loss=loss,
            metrics=list(metrics),
            jit_compile=False if summed_step else config.jit_compile,
        )

    run_dir = str(config.run_dir)
    with (
        chief_write_dir(os.path.join(run_dir, "checkpoints"), chief) as checkpoint_dir,
        chief_write_dir(os.path.join(run_dir, "logs"), chief) as log_dir,
    ):
        history = run_training(
            model,
            train_data,
            config,
            dev_data=dev_data,
            strategy=strategy,
            chief=chief,
            callbacks=callbacks,
            steps_per_epoch=steps_per_epoch,
            summed_step=summed_step,
            checkpoint_dir=checkpoint_dir,
            log_dir=log_dir,
            examples=examples,
            data_digest=data_digest,
        )
    losses = history.get("loss", [])
    if losses and not math.isfinite(losses[-1]):
        raise FloatingPointError(
            f"training stopped: the loss became {losses[-1]} in epoch {len(losses)}; "
            "try a lower learning rate or gradient clipping (clipnorm)"
        )
    return TrainResult(
        model=model, history=history, steps_per_epoch=steps_per_epoch, strategy=strategy
    )
