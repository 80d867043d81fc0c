"""Exact resume: a run killed at any point and started again ends as the uninterrupted run.

The killed runs are fresh processes (`tests.training.resume_child`: dropout, an nlpkit recurrent
layer with dropout, a learning-rate schedule, weight averaging and early stopping) stopped with
SIGKILL at points of their own progress: each writes a marker file there and blocks, and the test
kills it once the marker exists (no sleeps that guess the machine's speed). The same command then
goes on from the backup; the final weights, history and summary must be those of an uninterrupted
run, started at the same time in parallel. The in-process tests cover what needs no kill: the
model's seed-generator and non-trainable states in the backup, and the resume modes.
"""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlpkit.layers import SimpleRNN
from nlpkit.training import ResumeMismatch, TrainingConfig, train
from tests.training.tiny_training import REPO_ROOT, VOCAB_SIZE, token_examples

LOSS = "sparse_categorical_crossentropy"
TIME_LIMIT = 240  # seconds for each test's processes together


class Child:
    """One `resume_child` process, its output in `<tmp_path>/<tag>.log`."""

    def __init__(self, tmp_path, tag, run, *args, pause_at=None):
        self.log_path = tmp_path / f"{tag}.log"
        self.report = tmp_path / f"{tag}.json"
        self.marker = tmp_path / f"{tag}.paused"
        command = [sys.executable, "-m", "tests.training.resume_child", "--run-dir", str(run),
                   "--report", str(self.report), *args]
        if pause_at:
            command += ["--pause-at", pause_at, "--marker", str(self.marker)]
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
                   PYTHONPATH=str(REPO_ROOT))
        env.pop("TF_CONFIG", None)
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log,
                                            stderr=subprocess.STDOUT)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def kill_when_paused(self, deadline):
        """Waits until the process has written its marker, then SIGKILLs it."""
        try:
            while not self.marker.exists():
                assert self.process.poll() is None, f"ended before pausing:\n{self.log()[-3000:]}"
                assert time.monotonic() < deadline, f"never paused:\n{self.log()[-3000:]}"
                time.sleep(0.05)
        finally:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        assert self.process.returncode == -signal.SIGKILL

    def finish(self, deadline):
        """Waits for the end; returns the exit code."""
        try:
            return self.process.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    def result(self, deadline):
        code = self.finish(deadline)
        assert code == 0, f"exit code {code}:\n{self.log()[-3000:]}"
        return json.loads(self.report.read_text())


def latest_backup(run):
    return os.path.basename(tf.train.latest_checkpoint(str(run / "backup")))


def assert_same_run(resumed, reference):
    assert resumed["steps"] == reference["steps"]
    assert len(resumed["weights"]) == len(reference["weights"])
    for a, b in zip(resumed["weights"], reference["weights"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for report in (resumed, reference):
        report["summary"].pop("history")
    assert resumed["summary"] == reference["summary"]  # epochs run, best epoch
    assert set(resumed["history"]) == set(reference["history"])
    for name, values in reference["history"].items():
        np.testing.assert_allclose(resumed["history"][name], values, atol=1e-6, err_msg=name)


def test_a_run_killed_mid_epoch_between_epochs_and_in_the_dev_evaluation_ends_as_if_never_killed(
    tmp_path,
):
    # 48 examples, batch 8: 6 steps per epoch, a backup every 2 steps. Uninterrupted, early
    # stopping (patience 1) ends it after 4 of 5 epochs, with the weights of epoch 3 (index 2).
    deadline = time.monotonic() + TIME_LIMIT
    reference = Child(tmp_path, "reference", tmp_path / "reference")
    run = tmp_path / "run"
    # After step 5 (epoch 0, batch 4): the backup of step 4 is the latest.
    Child(tmp_path, "kill-1", run, pause_at="batch:0:4").kill_when_paused(deadline)
    assert latest_backup(run) == "ckpt-4"
    # Between epochs: in epoch 1's callbacks, after its backup.
    Child(tmp_path, "kill-2", run, pause_at="epoch_end:1").kill_when_paused(deadline)
    assert latest_backup(run) == "ckpt-12"
    # In the dev evaluation of epoch 3, the one where early stopping will stop: the best epoch,
    # its weights and the patience counter come from before the kill.
    Child(tmp_path, "kill-3", run, pause_at="dev:3").kill_when_paused(deadline)
    assert latest_backup(run) == "ckpt-22"
    resumed = Child(tmp_path, "resumed", run).result(deadline)
    reference = reference.result(deadline)
    assert reference["summary"]["epochs_run"] == 4 and reference["summary"]["best_epoch"] == 3
    assert resumed["first"] == [3, 4]  # only the 2 steps after the last backup were replayed
    assert_same_run(resumed, reference)
    assert not (run / "backup").exists()


def test_two_logical_cpus_resume_exactly_and_refuse_one_device(tmp_path):
    deadline = time.monotonic() + TIME_LIMIT
    mirrored = ["--strategy", "mirrored", "--cpu-devices", "2"]
    reference = Child(tmp_path, "reference", tmp_path / "reference", *mirrored)
    run = tmp_path / "run"
    Child(tmp_path, "kill-1", run, *mirrored, pause_at="dev:1").kill_when_paused(deadline)
    assert latest_backup(run) == "ckpt-10"
    # One replica instead of two cannot give the same run: refused at start-up, backup intact.
    one_device = Child(tmp_path, "one-device", run)
    assert one_device.finish(deadline) != 0
    assert "ResumeMismatch" in one_device.log()
    assert "replicas: 2 in the backup, 1 now" in one_device.log()
    assert latest_backup(run) == "ckpt-10"
    # Uninterrupted over 2 replicas (other dropout masks than on one device), early stopping
    # ends the run after 3 epochs, with the weights of epoch 2. Killed after it decided to stop
    # (in epoch 3's callbacks, after its backup), the resumed run trains no further step and
    # ends with the best epoch's weights.
    Child(tmp_path, "kill-2", run, *mirrored, pause_at="epoch_end:2").kill_when_paused(deadline)
    assert latest_backup(run) == "ckpt-18"
    resumed = Child(tmp_path, "resumed", run, *mirrored).result(deadline)
    reference = reference.result(deadline)
    assert reference["replicas"] == resumed["replicas"] == 2
    assert reference["summary"]["epochs_run"] == 3 and reference["summary"]["best_epoch"] == 2
    assert resumed["first"] is None
    assert_same_run(resumed, reference)


def build_noisy_classifier():
    """Seeded dropout in two kinds of layer, and non-trainable weights (batch normalization)."""
    model = keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(VOCAB_SIZE, 8,
                               embeddings_initializer=keras.initializers.RandomNormal(seed=1)),
        SimpleRNN(8, dropout=0.3, recurrent_dropout=0.3, seed=2,
                  kernel_initializer=keras.initializers.GlorotUniform(seed=3),
                  recurrent_initializer=keras.initializers.Orthogonal(seed=4)),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.4, seed=5),
        keras.layers.Dense(2, activation="softmax",
                           kernel_initializer=keras.initializers.GlorotUniform(seed=6)),
    ])
    return model


class Interrupted(Exception):
    pass


class InterruptAt(keras.callbacks.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.stop, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.stop:
            raise Interrupted


def config_for(tmp_path, name="run", **overrides):
    settings = {"epochs": 2, "batch_size": 8, "run_dir": str(tmp_path / name), "verbose": 0,
                "monitor": None, "seed": 4, "backup_steps": 2}
    settings.update(overrides)
    return TrainingConfig(**settings)


def test_seed_generator_states_non_trainable_weights_and_running_metrics_are_backed_up(tmp_path):
    reference = train(build_noisy_classifier, token_examples(), config_for(tmp_path, "ref"),
                      loss=LOSS, metrics=["accuracy"])
    config = config_for(tmp_path)
    with pytest.raises(Interrupted):  # after step 9, 1 after the backup of step 8
        train(build_noisy_classifier, token_examples(), config, loss=LOSS, metrics=["accuracy"],
              callbacks=[InterruptAt(1, 2)])
    reader = tf.train.load_checkpoint(str(tmp_path / "run" / "backup" / "ckpt-8"))
    shapes = reader.get_variable_to_shape_map()
    model = build_noisy_classifier()
    for index, variable in enumerate(model.variables):
        assert shapes[f"model_variables/{index}/.ATTRIBUTES/VARIABLE_VALUE"] == list(
            variable.shape), variable.path
    assert any("seed_generator" in v.path for v in model.variables)
    assert any(not v.trainable and "moving" in v.path for v in model.variables)
    # A fresh model: its seed generators start from their seeds, its moving averages from zero;
    # the backup must bring back the states of step 8, and the epoch's running loss and accuracy.
    resumed = train(build_noisy_classifier, token_examples(), config, loss=LOSS,
                    metrics=["accuracy"])
    for a, b in zip(resumed.model.variables, reference.model.variables, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=a.path)
    for name, values in reference.history.items():
        np.testing.assert_allclose(resumed.history[name], values, atol=1e-6, err_msg=name)


def test_a_backup_of_other_settings_is_refused_continued_or_deleted_as_asked(tmp_path, capsys):
    def interrupted(**overrides):
        with pytest.raises(Interrupted):
            train(build_noisy_classifier, token_examples(), config_for(tmp_path, **overrides),
                  loss=LOSS, callbacks=[InterruptAt(1, 2)])

    interrupted()
    changed = {"epochs": 3, "learning_rate": 0.01, "backup_steps": 3}
    with pytest.raises(ResumeMismatch) as raised:
        train(build_noisy_classifier, token_examples(), config_for(tmp_path, **changed),
              loss=LOSS)
    message = str(raised.value)
    assert "cannot resume it exactly" in message
    assert "epochs: 2 in the backup, 3 now" in message
    assert "learning_rate: 0.001 in the backup, 0.01 now" in message
    assert "backup_steps" not in message  # how often backups are taken changes no result
    assert "'continue'" in message and "'restart'" in message
    assert tf.train.latest_checkpoint(str(tmp_path / "run" / "backup")).endswith("ckpt-8")

    # continue: goes on from step 8 with the new settings, saying so.
    steps = []
    recorder = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: steps.append(batch))
    with pytest.warns(UserWarning, match="resuming the backup .* of a different run"):
        result = train(build_noisy_classifier, token_examples(),
                       config_for(tmp_path, resume="continue", verbose=2, **changed),
                       loss=LOSS, callbacks=[recorder])
    assert len(steps) == 18 - 8 and int(result.model.optimizer.iterations.numpy()) == 18
    assert len(result.history["loss"]) == 3
    assert "epochs: 2 in the backup, 3 now" in capsys.readouterr().err

    # Another model cannot be continued, only restarted.
    interrupted()

    def wider():
        return keras.Sequential([keras.Input((None,), dtype="int32"),
                                 keras.layers.Embedding(VOCAB_SIZE, 16),
                                 keras.layers.GlobalAveragePooling1D(),
                                 keras.layers.Dense(2, activation="softmax")])

    with pytest.raises(ResumeMismatch, match="the model: other layers"):
        train(wider, token_examples(), config_for(tmp_path, resume="continue"), loss=LOSS)
    steps.clear()
    result = train(wider, token_examples(), config_for(tmp_path, resume="restart", verbose=2),
                   loss=LOSS, callbacks=[recorder])
    assert len(steps) == 12 and int(result.model.optimizer.iterations.numpy()) == 12
    assert "deleting the backup" in capsys.readouterr().err
    with pytest.raises(ValueError, match="resume must be one of"):
        TrainingConfig(resume="maybe")
