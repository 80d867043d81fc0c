"""A worker SIGKILLed in the middle of an epoch: the cluster is restarted and resumes from the backup.

Two workers (`tests.training.multi_worker_worker`) train for 2 epochs of 6 steps with a backup
every 2 steps. Both stop right after step 9 (epoch 1, batch 2) and wait for a file that never
comes (`--pause-at`); once both have said so, worker 1 is killed with SIGKILL, then worker 0 as
well, so what the test sees does not depend on the machine's speed. (A surviving worker could
not go on without its peer: TensorFlow aborts its collective ops once the peer stops sending
heartbeats, and a cluster manager restarts the whole job.) Both are started again with the same
command and finish from the last backup, taken after step 8 (after a first restart in which
worker 1 cannot see that backup, which both workers must refuse).
"""

import os
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.training.local_cluster import (
    free_ports,
    load_report,
    run_args,
    start_workers,
    stop_all,
)
from tests.training.tiny_training import build_token_classifier

pytestmark = pytest.mark.slow

TIME_LIMIT = 300  # seconds for everything; the processes are killed after that


def test_workers_restarted_after_a_kill_resume_from_the_backup_with_the_same_total_steps(
    tmp_path,
):
    deadline = time.monotonic() + TIME_LIMIT
    args = [*run_args(tmp_path, "cluster"), "--backup-steps", "2"]
    ports = free_ports(2)
    run = tmp_path / "cluster" / "run"
    gate = tmp_path / "gate"
    gate.mkdir()
    workers = start_workers(tmp_path, [*args, "--pause-at", "1 2", "--pause-dir", gate],
                            ports=ports, tag="first")
    try:
        for index, worker in enumerate(workers):
            assert worker.wait_for_file(gate / f"paused-{index}", deadline), worker.log_tail()
        workers[1].kill()  # SIGKILL in the middle of epoch 1
        workers[0].kill()
    finally:
        stop_all(workers)

    # What the killed run left: intact backups up to step 8, the weights of epoch 1, no export.
    backup = run / "backup"
    state = tf.train.get_checkpoint_state(str(backup))
    assert os.path.basename(state.model_checkpoint_path) == "ckpt-8"
    for path in state.all_model_checkpoint_paths:
        reader = tf.train.load_checkpoint(os.path.join(backup, os.path.basename(path)))
        steps = reader.get_tensor("steps_done/.ATTRIBUTES/VARIABLE_VALUE")
        assert f"ckpt-{steps}" == os.path.basename(path)
    assert sorted(os.listdir(run / "checkpoints")) == ["epoch-001.weights.h5"]
    assert not (tmp_path / "cluster" / "export").exists()

    # A worker that cannot read the chief's backup (a run directory that is not shared) would
    # start from step 0 while the chief resumes: both stop before training, saying why.
    workers = start_workers(tmp_path, args, ports=ports, tag="unshared",
                            extra_args={1: ["--run-dir", tmp_path / "elsewhere"]})
    try:
        for worker in workers:
            assert worker.wait(deadline) not in (0, None), worker.log_tail()
            assert "the workers disagree on the steps already done" in worker.log_tail(20000)
    finally:
        stop_all(workers)
    assert tf.train.latest_checkpoint(str(backup)).endswith("ckpt-8")

    workers = start_workers(tmp_path, args, ports=ports, tag="second")
    try:
        for worker in workers:
            code = worker.wait(deadline)
            assert code == 0, f"exit code {code}:\n{worker.log_tail()}"
    finally:
        stop_all(workers)

    (chief, chief_weights), (other, other_weights) = (
        load_report(tmp_path, "cluster", i) for i in (0, 1))
    for report in (chief, other):
        # resumed at the step after the backup, not at the start of the epoch or of training
        assert report["first_step_here"] == [1, 2]
        assert report["batches_run_here"] == 4
        # the same number of optimizer steps in all as a run that was never interrupted
        assert report["optimizer_steps"] == 12 and report["steps_per_epoch"] == 6
    for a, b in zip(chief_weights, other_weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert os.listdir(tmp_path / "cluster" / "export") == ["1"]
    assert not backup.exists()
    # Both epochs' weight files load; the last one holds the final weights.
    models = {epoch: build_token_classifier() for epoch in (1, 2)}
    for epoch, model in models.items():
        model.load_weights(str(run / "checkpoints" / f"epoch-00{epoch}.weights.h5"))
    for a, b in zip(models[2].get_weights(), chief_weights, strict=True):
        np.testing.assert_array_equal(a, b)
