"""MultiWorkerMirroredStrategy with 2 worker processes on 127.0.0.1, against one device.

The workers (`tests.training.multi_worker_worker`) train the tiny token classifier through
`nlpkit.training.train` (the strategy.run loop) with plain SGD, where the size of every step
matters, so that a worker taking the whole global batch instead of its share, or gradients
summed wrongly, would show; the one-device process trains the same way in the same time.
"""

import os
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  registers the TF Text ops the exports' preprocessing uses

from tests.training.local_cluster import (
    Worker,
    free_ports,
    load_report,
    run_args,
    start_workers,
    stop_all,
)

pytestmark = pytest.mark.slow

TIME_LIMIT = 300  # seconds for everything; the processes are killed after that


def test_two_workers_train_like_one_device_and_only_the_chief_exports(tmp_path):
    deadline = time.monotonic() + TIME_LIMIT
    workers = start_workers(tmp_path, run_args(tmp_path, "cluster"), ports=free_ports(2),
                            tag="cluster")
    single = Worker([*run_args(tmp_path, "single"), "--strategy", "one_device"],
                    tf_config_json=None, tmpdir=tmp_path / "tmp-single",
                    log_path=tmp_path / "single.log")
    try:
        for process in [*workers, single]:
            code = process.wait(deadline)
            assert code == 0, f"exit code {code}:\n{process.log_tail()}"
    finally:
        stop_all([*workers, single])

    (chief, chief_weights), (other, other_weights) = (
        load_report(tmp_path, "cluster", i) for i in (0, 1))
    reference, reference_weights = load_report(tmp_path, "single", 0)
    assert chief["replicas"] == other["replicas"] == 2 and reference["replicas"] == 1
    for report in (chief, other, reference):
        assert report["steps_per_epoch"] == 6
        assert report["optimizer_steps"] == report["batches_run_here"] == 12
    # Both workers end with the very same weights ...
    for a, b in zip(chief_weights, other_weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert chief["history"] == other["history"]
    # ... which are the one-device run's, up to float summation order: every global batch was
    # split between the workers, and the summed gradient was clipped and applied once.
    for a, b in zip(chief_weights, reference_weights, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for name, values in reference["history"].items():
        np.testing.assert_allclose(chief["history"][name], values, atol=1e-6, err_msg=name)
    assert reference["history"]["loss"][1] < reference["history"]["loss"][0]

    # Exactly one export, by the chief, serving what the model computes.
    export_base = tmp_path / "cluster" / "export"
    assert os.listdir(export_base) == ["1"]
    assert chief["export"] == str(export_base / "1") and other["export"] is None
    served = tf.saved_model.load(chief["export"]).signatures["serving_default"](
        text=tf.constant(["1 2 3", "", "7 25 3 3 9 28"]))
    np.testing.assert_allclose(served["probabilities"].numpy(), chief["predictions"], atol=1e-6)
    np.testing.assert_allclose(chief["predictions"], reference["predictions"], atol=1e-6)

    # Only the chief wrote the run directory; the other worker removed its temporary copies.
    run = tmp_path / "cluster" / "run"
    assert sorted(os.listdir(run / "checkpoints")) == ["epoch-001.weights.h5",
                                                       "epoch-002.weights.h5"]
    assert not (run / "backup").exists()  # removed once training finished
    assert [name for name in os.listdir(tmp_path / "tmp-cluster-1")
            if name.startswith("nlpkit-worker-")] == []
