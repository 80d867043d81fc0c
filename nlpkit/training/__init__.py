"""Shared training code: strategies, the standard callbacks and one `train` function.

Every recipe trains through `train`, so each gets tf.distribute strategies (multi-worker
included, through the `strategy.run` loop of `custom_loop`), resumable runs, TensorBoard logs,
early stopping and the shared flags of `nlpkit.cli` for free.
"""

from nlpkit.training.batching import batch_examples, count_batches
from nlpkit.training.callbacks import (
    CHECKPOINT_PATTERN,
    EpochWeightsCheckpoint,
    training_callbacks,
)
from nlpkit.training.custom_loop import masked_losses, per_example_loss, train_with_custom_loop
from nlpkit.training.fit import (
    LEARNING_RATE_SCHEDULES,
    MIXED_PRECISION_POLICIES,
    OPTIMIZERS,
    TRAINING_LOOPS,
    TrainingConfig,
    TrainResult,
    enable_repeatable_runs,
    learning_rate_schedule,
    make_optimizer,
    train,
    uses_custom_loop,
)
from nlpkit.training.strategy import (
    STRATEGY_NAMES,
    chief_write_dir,
    configure_cpu_devices,
    is_chief,
    make_strategy,
    read_tf_config,
)

__all__ = [
    "CHECKPOINT_PATTERN",
    "LEARNING_RATE_SCHEDULES",
    "MIXED_PRECISION_POLICIES",
    "OPTIMIZERS",
    "STRATEGY_NAMES",
    "TRAINING_LOOPS",
    "EpochWeightsCheckpoint",
    "TrainResult",
    "TrainingConfig",
    "batch_examples",
    "chief_write_dir",
    "configure_cpu_devices",
    "count_batches",
    "enable_repeatable_runs",
    "is_chief",
    "learning_rate_schedule",
    "make_optimizer",
    "make_strategy",
    "masked_losses",
    "per_example_loss",
    "read_tf_config",
    "train",
    "train_with_custom_loop",
    "training_callbacks",
    "uses_custom_loop",
]
