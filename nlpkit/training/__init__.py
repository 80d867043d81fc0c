"""Shared training code: strategies, the standard callbacks and one `train` function.

Every recipe trains through `train`, so each gets tf.distribute strategies, resumable runs,
TensorBoard logs, early stopping and the shared flags of `nlpkit.cli` for free.
"""

from nlpkit.training.callbacks import CHECKPOINT_PATTERN, training_callbacks
from nlpkit.training.fit import (
    LEARNING_RATE_SCHEDULES,
    MIXED_PRECISION_POLICIES,
    OPTIMIZERS,
    TrainingConfig,
    TrainResult,
    batch_examples,
    count_batches,
    enable_repeatable_runs,
    learning_rate_schedule,
    make_optimizer,
    train,
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
    "read_tf_config",
    "train",
    "training_callbacks",
]
