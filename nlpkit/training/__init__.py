"""Training for every task: `train`, one resumable loop over all tf.distribute strategies.
Imports TensorFlow, Keras, nlpkit.data and nlpkit.atomic_files only: no tasks, layers or recipes.
"""

from nlpkit.training.batching import (
    batch_examples,
    count_batches,
    count_examples,
    examples_fingerprint,
)
from nlpkit.training.callbacks import (
    CHECKPOINT_PATTERN,
    EarlyStopping,
    EpochWeightsCheckpoint,
    training_callbacks,
)
from nlpkit.training.ensemble import (
    EnsembleMember,
    EnsembleResult,
    average_models,
    train_ensemble,
)
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
from nlpkit.training.loop import RESUME_MODES, ResumeMismatch
from nlpkit.training.run_lock import RunDirectoryInUse, RunDirectoryLock
from nlpkit.training.strategy import (
    STRATEGY_NAMES,
    chief_write_dir,
    configure_cpu_devices,
    is_chief,
    make_strategy,
    read_tf_config,
)

__all__ = [
    "EnsembleMember",
    "EnsembleResult",
    "average_models",
    "train_ensemble",
    "CHECKPOINT_PATTERN",
    "LEARNING_RATE_SCHEDULES",
    "MIXED_PRECISION_POLICIES",
    "OPTIMIZERS",
    "RESUME_MODES",
    "STRATEGY_NAMES",
    "TRAINING_LOOPS",
    "EarlyStopping",
    "EpochWeightsCheckpoint",
    "ResumeMismatch",
    "RunDirectoryInUse",
    "RunDirectoryLock",
    "TrainResult",
    "TrainingConfig",
    "batch_examples",
    "chief_write_dir",
    "configure_cpu_devices",
    "count_batches",
    "count_examples",
    "enable_repeatable_runs",
    "examples_fingerprint",
    "is_chief",
    "learning_rate_schedule",
    "make_optimizer",
    "make_strategy",
    "read_tf_config",
    "train",
    "training_callbacks",
    "uses_custom_loop",
]
