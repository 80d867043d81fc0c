"""Choosing a `tf.distribute` strategy, and knowing who may write files.

The `--strategy` flag of every recipe ends up in `make_strategy`. Under
`MultiWorkerMirroredStrategy` every worker runs the same program, so every worker also runs the code
that saves checkpoints, logs and exports; TensorFlow's guidance is that all of them still call the
saving code (it may take part in collective ops) but only the chief writes to the real location,
while the others write to temporary directories that are removed. `chief_write_dir` does exactly
that, and `is_chief` reads the role from the standard `TF_CONFIG` environment variable.

Example:

    configure_cpu_devices(2)          # first thing in the program, before any tensor exists
    strategy = make_strategy("mirrored")
    print(strategy.num_replicas_in_sync)  # 2
"""

import contextlib
import json
import os
import shutil
import tempfile

import tensorflow as tf

STRATEGY_NAMES = ("auto", "one_device", "mirrored", "multi_worker")


def configure_cpu_devices(count):
    """Splits the (first) physical CPU into `count` logical devices.

    This lets `MirroredStrategy` run several replicas on a machine without GPUs, which is how the
    distributed code paths are tested. TensorFlow only accepts the split before it initialises its
    devices, i.e. before the first tensor, model or strategy is created; call this first thing in
    the program.

    Args:
        count: number of logical CPU devices (>= 1), or `None` to leave TensorFlow's default.

    Raises:
        ValueError: `count` is not a positive integer.
        RuntimeError: TensorFlow has already initialised its devices with a different split.
    """
    if count is None:
        return
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"cpu_devices must be a positive integer, got {count!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == count:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError as error:
        now = len(tf.config.list_logical_devices("CPU"))
        raise RuntimeError(
            f"cannot split the CPU into {count} logical devices: TensorFlow has already "
            f"initialised its devices ({now} logical CPU device(s)). Call "
            "configure_cpu_devices() (the --cpu-devices flag) before anything creates a tensor, "
            "model or strategy."
        ) from error


def make_strategy(name="auto", cpu_devices=None):
    """Returns the `tf.distribute.Strategy` called `name`.

    Args:
        name: one of
            - `"auto"`: `MirroredStrategy` over all GPUs when more than one is visible, otherwise
              one device (the GPU if there is one, else the CPU).
            - `"one_device"`: `OneDeviceStrategy` on the first GPU, or the CPU.
            - `"mirrored"`: `MirroredStrategy` over all GPUs or, without GPUs, over all logical
              CPU devices (see `cpu_devices`).
            - `"multi_worker"`: `MultiWorkerMirroredStrategy`, cluster and role read from the
              `TF_CONFIG` environment variable. Create it at program start, before other
              TensorFlow work.
        cpu_devices: if given, `configure_cpu_devices(cpu_devices)` is applied first.

    Returns:
        A `tf.distribute.Strategy`; `strategy.num_replicas_in_sync` replicas share each global
        batch.

    Raises:
        ValueError: unknown `name`, or `"multi_worker"` without a usable `TF_CONFIG`.
    """
    if name not in STRATEGY_NAMES:
        raise ValueError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGY_NAMES)}")
    configure_cpu_devices(cpu_devices)
    if name == "multi_worker":
        # Checked first: the collective ops of this strategy can only be configured before
        # anything (even listing logical devices) initialises the TensorFlow runtime.
        tf_config = read_tf_config()
        if not tf_config.get("cluster") or "task" not in tf_config:
            raise ValueError(
                "strategy 'multi_worker' needs the TF_CONFIG environment variable with a "
                '\'cluster\' and a \'task\', e.g. {"cluster": {"worker": ["host1:12345", '
                '"host2:12345"]}, "task": {"type": "worker", "index": 0}}'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one_device"
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    if gpus:
        return tf.distribute.MirroredStrategy()  # all visible GPUs
    return tf.distribute.MirroredStrategy(
        devices=[device.name for device in tf.config.list_logical_devices("CPU")]
    )


def read_tf_config(environ=None):
    """Returns the parsed `TF_CONFIG` environment variable (`{}` when unset or empty).

    Raises:
        ValueError: `TF_CONFIG` is set but is not a JSON object.
    """
    environ = os.environ if environ is None else environ
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from error
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object, found {type(config).__name__}")
    return config


def is_chief(tf_config=None):
    """Whether this process is the one that writes checkpoints, logs and exports.

    Follows TensorFlow's convention: without a cluster, the single process is chief; in a cluster,
    the task of type `"chief"` is, or worker 0 when the cluster has no `"chief"` task.

    Args:
        tf_config: a parsed `TF_CONFIG` dict; `None` reads the environment variable.
    """
    tf_config = read_tf_config() if tf_config is None else tf_config
    task = tf_config.get("task") or {}
    task_type = task.get("type")
    if not tf_config.get("cluster") or task_type is None:
        return True
    if task_type == "chief":
        return True
    return task_type == "worker" and int(task.get("index", 0)) == 0 and (
        "chief" not in tf_config["cluster"]
    )


@contextlib.contextmanager
def chief_write_dir(path, chief=None):
    """Yields the directory this process should write `path`'s content to.

    On the chief that is `path` itself (created if needed). On any other worker it is a fresh
    temporary directory, removed when the block ends, so that every worker can run the same
    saving code without two processes writing the same files.

    Args:
        path: the directory the chief writes to.
        chief: whether this process is the chief; `None` asks `is_chief()`.
    """
    chief = is_chief() if chief is None else chief
    if chief:
        os.makedirs(path, exist_ok=True)
        yield str(path)
        return
    scratch = tempfile.mkdtemp(prefix="nlpkit-worker-")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
