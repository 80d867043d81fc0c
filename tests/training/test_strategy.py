"""nlpkit.training.strategy: strategies, logical CPU devices, chief detection, chief-only dirs."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from nlpkit.training.strategy import (
    chief_write_dir,
    configure_cpu_devices,
    is_chief,
    make_strategy,
    read_tf_config,
)
from tests.training.tiny_training import run_python


def test_unknown_strategy_name_is_refused():
    with pytest.raises(ValueError, match="unknown strategy 'tpu'.*auto, one_device"):
        make_strategy("tpu")


def test_auto_and_one_device_use_a_single_device_without_several_gpus():
    if len(tf.config.list_logical_devices("GPU")) > 1:
        pytest.skip("several GPUs visible: auto means MirroredStrategy here")
    for name in ("auto", "one_device"):
        strategy = make_strategy(name)
        assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
        assert strategy.num_replicas_in_sync == 1


def test_multi_worker_without_tf_config_fails_before_touching_the_runtime(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", '{"task": {"type": "worker", "index": 0}}')
    with pytest.raises(ValueError, match="'cluster'"):
        make_strategy("multi_worker")


@pytest.mark.parametrize("count", [0, -2, 1.5, "2", True])
def test_configure_cpu_devices_rejects_non_positive_integers(count):
    with pytest.raises(ValueError, match="positive integer"):
        configure_cpu_devices(count)


CLUSTER = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}


@pytest.mark.parametrize(
    "tf_config, chief",
    [
        ({}, True),
        ({"cluster": CLUSTER, "task": {"type": "worker", "index": 0}}, True),
        ({"cluster": CLUSTER, "task": {"type": "worker", "index": 1}}, False),
        ({"cluster": {**CLUSTER, "chief": ["h:3"]}, "task": {"type": "worker", "index": 0}}, False),
        ({"cluster": {**CLUSTER, "chief": ["h:3"]}, "task": {"type": "chief", "index": 0}}, True),
        ({"cluster": {**CLUSTER, "evaluator": ["h:4"]}, "task": {"type": "evaluator"}}, False),
    ],
)
def test_is_chief_follows_tensorflows_convention(tf_config, chief, monkeypatch):
    assert is_chief(tf_config) is chief
    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    assert is_chief() is chief


@pytest.mark.parametrize("text, message", [("{not json", "not valid JSON"), ("[1]", "JSON object")])
def test_bad_tf_config_is_reported(text, message):
    with pytest.raises(ValueError, match=message):
        read_tf_config({"TF_CONFIG": text})
    assert read_tf_config({"TF_CONFIG": "  "}) == {}


def test_chief_writes_the_real_directory(tmp_path):
    target = tmp_path / "run" / "checkpoints"
    with chief_write_dir(target, chief=True) as directory:
        assert directory == str(target) and target.is_dir()
        (target / "a").write_text("x")
    assert (target / "a").read_text() == "x"


def test_other_workers_write_a_temporary_directory_that_is_removed(tmp_path):
    target = tmp_path / "run" / "checkpoints"
    with chief_write_dir(target, chief=False) as directory:
        assert os.path.isdir(directory) and not directory.startswith(str(tmp_path))
        with open(os.path.join(directory, "a"), "w") as file:
            file.write("x")
    assert not os.path.exists(directory)
    assert not (tmp_path / "run").exists()


def test_chief_write_dir_removes_the_temporary_directory_on_error(tmp_path):
    with pytest.raises(RuntimeError), chief_write_dir(tmp_path / "x", chief=False) as directory:
        raise RuntimeError("boom")
    assert not os.path.exists(directory)


def test_mirrored_without_gpus_mirrors_over_the_logical_cpus():
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("GPUs visible: mirrored uses them")
    strategy = make_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == len(tf.config.list_logical_devices("CPU"))


def test_two_logical_cpus_mirrored_matches_one_device_at_the_same_global_batch():
    """In a fresh process: the CPU split, the late-split error, global-batch semantics, export."""
    output = run_python(
        """
import json, tempfile
from nlpkit.training import configure_cpu_devices
configure_cpu_devices(2)
import keras, tensorflow as tf
from nlpkit.tasks.classification import export_classifier
from nlpkit.training import TrainingConfig, enable_repeatable_runs, make_strategy, train
from tests.export.tiny_classifier import WhitespaceTokenIds
from tests.training.tiny_training import build_token_classifier, token_examples

sentences = tf.constant(["1 2 3", "", "7 25 3 3 9 28"])
to_ids = WhitespaceTokenIds([str(i) for i in range(1, 30)], 6)  # "i" -> id i + 1

report = {"cpus": len(tf.config.list_logical_devices("CPU"))}
configure_cpu_devices(2)  # same split again: nothing to do
try:
    configure_cpu_devices(3)
except RuntimeError as error:
    report["late_split"] = str(error)
for name in ("one_device", "mirrored"):
    enable_repeatable_runs(5)
    strategy = make_strategy(name)
    config = TrainingConfig(epochs=2, batch_size=8, seed=5, run_dir=tempfile.mkdtemp(),
                            monitor=None, verbose=0)
    result = train(build_token_classifier, token_examples(), config,
                   loss="sparse_categorical_crossentropy", strategy=strategy)
    export = export_classifier(to_ids, result.model, ["no", "yes"], tempfile.mkdtemp() + "/m")
    served = tf.saved_model.load(export).signatures["serving_default"](text=sentences)
    report[name] = {"replicas": strategy.num_replicas_in_sync, "loss": result.history["loss"],
                    "steps": int(result.model.optimizer.iterations.numpy()),
                    "steps_per_epoch": result.steps_per_epoch,
                    "in_process": keras.ops.convert_to_numpy(
                        result.model(to_ids(sentences))).tolist(),
                    "served": served["probabilities"].numpy().tolist()}
try:
    train(build_token_classifier, token_examples(), TrainingConfig(batch_size=7, monitor=None),
          loss="sparse_categorical_crossentropy", strategy=strategy)
except ValueError as error:
    report["uneven"] = str(error)
print(json.dumps(report))
"""
    )
    report = json.loads(output.strip().splitlines()[-1])
    assert report["cpus"] == 2
    assert "already initialised" in report["late_split"] and "before" in report["late_split"]
    one, mirrored = report["one_device"], report["mirrored"]
    assert (one["replicas"], mirrored["replicas"]) == (1, 2)
    # 48 examples / global batch 8 = 6 optimizer steps per epoch, however many replicas.
    assert one["steps_per_epoch"] == mirrored["steps_per_epoch"] == 6
    assert one["steps"] == mirrored["steps"] == 12
    # Same global batch, same seed: the same loss curve up to float summation order.
    assert mirrored["loss"] == pytest.approx(one["loss"], abs=1e-5)
    # The model trained on 2 replicas exports and serves what it computes in Python, and what
    # the one-device model computes.
    np.testing.assert_allclose(mirrored["served"], mirrored["in_process"], atol=1e-6)
    np.testing.assert_allclose(mirrored["served"], one["in_process"], atol=1e-5)
    assert "global batch size 7" in report["uneven"] and "2 replicas" in report["uneven"]
