"""The one training loop with either step: same batches and weights, exact resume, masks, clipping.

training_loop="fit" takes Keras' train step and "custom" the summed strategy.run step
(nlpkit.training.steps); everything else (data order, backups, callbacks) is one loop. The
multi-worker runs themselves are in test_multi_worker.py and test_fault_tolerance.py; here the
loop runs in this process on one device, and over 2 logical CPUs in a fresh process.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlpkit.training import ResumeMismatch, TrainingConfig, train, uses_custom_loop
from tests.training.tiny_training import (
    VOCAB_SIZE,
    build_fixed_token_classifier,
    run_python,
    token_examples,
)

LOSS = "sparse_categorical_crossentropy"


def config_for(tmp_path, name="run", **overrides):
    settings = {"epochs": 2, "batch_size": 8, "run_dir": str(tmp_path / name), "verbose": 0,
                "monitor": None, "seed": 4, "training_loop": "custom"}
    settings.update(overrides)
    return TrainingConfig(**settings)


class Interrupted(Exception):
    pass


class Recorder(keras.callbacks.Callback):
    """Records the (epoch, batch) of every step; raises after step `stop` if given."""

    def __init__(self, stop=None):
        super().__init__()
        self.stop = stop
        self.epoch = None
        self.steps = []
        self.first_weights = None

    def on_train_begin(self, logs=None):
        self.first_weights = self.model.get_weights()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append((self.epoch, batch))
        if (self.epoch, batch) == self.stop:
            raise Interrupted(f"interrupted in epoch {self.epoch} after batch {batch}")


def assert_weights_close(a, b, atol=1e-6):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, atol=atol)


class BatchLog(keras.layers.Layer):
    """Passes token ids through; in training, appends every batch it sees to `seen`."""

    def __init__(self, seen, **kwargs):
        super().__init__(**kwargs)
        self.record = seen.append  # a method, so Keras does not track the list as state

    def call(self, ids, training=None):
        if training:
            tf.py_function(lambda batch: self.record(batch.numpy()), [ids], Tout=[])
        return ids


def build_logged_classifier(seen):
    def build():
        fixed = build_fixed_token_classifier()
        model = keras.Sequential([keras.Input((None,), dtype="int32"), BatchLog(seen),
                                  *fixed.layers])
        model.set_weights(fixed.get_weights())
        return model

    return build


def test_both_steps_see_the_same_batches_in_order_and_end_with_the_same_weights(tmp_path):
    # 6 batches of 8 per epoch: the data order, not only the examples, must be the same.
    results, seen = {}, {}
    for loop in ("fit", "custom"):
        seen[loop] = []
        config = config_for(tmp_path, loop, epochs=3, training_loop=loop, monitor="val_loss")
        results[loop] = train(build_logged_classifier(seen[loop]), token_examples(), config,
                              loss=LOSS, metrics=["accuracy"],
                              dev_data=token_examples(count=20, seed=1))
    assert len(seen["fit"]) == len(seen["custom"]) == 18
    for keras_batch, summed_batch in zip(seen["fit"], seen["custom"], strict=True):
        np.testing.assert_array_equal(keras_batch, summed_batch)
    # epoch e is shuffled with seed + e: every epoch has its own order
    assert not np.array_equal(np.concatenate(seen["fit"][:6]), np.concatenate(seen["fit"][6:12]))
    fit, custom = results["fit"], results["custom"]
    assert set(custom.history) == set(fit.history) == {"loss", "accuracy", "val_loss",
                                                       "val_accuracy"}
    for name, values in fit.history.items():
        np.testing.assert_allclose(custom.history[name], values, atol=1e-6, err_msg=name)
    assert fit.history["loss"][2] < fit.history["loss"][0]  # it trained
    assert int(custom.model.optimizer.iterations.numpy()) == 18
    assert_weights_close(custom.model.get_weights(), fit.model.get_weights())
    for loop in ("fit", "custom"):
        run = tmp_path / loop
        assert sorted(os.listdir(run / "checkpoints")) == [
            f"epoch-00{i}.weights.h5" for i in (1, 2, 3)]
        for split in ("train", "validation"):
            assert any(n.startswith("events.out.tfevents")
                       for n in os.listdir(run / "logs" / split))
        assert not (run / "backup").exists()


def backed_up_history(backup, step):
    reader = tf.train.load_checkpoint(str(backup / f"ckpt-{step}"))
    return json.loads(reader.get_tensor("history/.ATTRIBUTES/VARIABLE_VALUE"))


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_interrupted_run_resumes_at_the_last_step_backup_and_ends_as_if_never_stopped(
    tmp_path, loop
):
    reference = train(build_fixed_token_classifier, token_examples(),
                      config_for(tmp_path, "ref", training_loop=loop), loss=LOSS)
    config = config_for(tmp_path, backup_steps=2, training_loop=loop)  # 6 steps/epoch, 12 in all
    crash = Recorder(stop=(1, 3))  # after step 10, before its backup
    with pytest.raises(Interrupted):
        train(build_fixed_token_classifier, token_examples(), config, loss=LOSS,
              callbacks=[crash])
    backup = tmp_path / "run" / "backup"
    assert 'model_checkpoint_path: "ckpt-8"' in (backup / "checkpoint").read_text()
    # every kept backup is readable, and holds the history of the epochs done
    for step in (6, 8):
        assert tf.train.load_checkpoint(str(backup / f"ckpt-{step}")).has_tensor(
            "steps_done/.ATTRIBUTES/VARIABLE_VALUE")
        assert list(backed_up_history(backup, step)) == ["loss"]
        assert len(backed_up_history(backup, step)["loss"]) == 1

    resumed = Recorder()
    result = train(build_fixed_token_classifier, token_examples(), config, loss=LOSS,
                   callbacks=[resumed])
    # Steps 1..8 are not repeated: the resumed run starts at epoch 1, batch 2 and runs 4 steps.
    assert resumed.steps == [(1, 2), (1, 3), (1, 4), (1, 5)]
    assert int(result.model.optimizer.iterations.numpy()) == 12
    assert result.steps_per_epoch == 6
    # The replayed epoch sees the batches it would have seen: the weights are the uninterrupted
    # run's.
    assert_weights_close(result.model.get_weights(), reference.model.get_weights())
    assert not backup.exists()


def test_a_backup_from_other_data_is_refused(tmp_path):
    config = config_for(tmp_path, backup_steps=1)
    with pytest.raises(Interrupted):
        train(build_fixed_token_classifier, token_examples(), config, loss=LOSS,
              callbacks=[Recorder(stop=(0, 1))])
    with pytest.raises(ResumeMismatch, match="steps_per_epoch: 6 in the backup, 3 now") as raised:
        train(build_fixed_token_classifier, token_examples(count=24), config, loss=LOSS)
    assert isinstance(raised.value, ValueError)
    assert "examples: 48 in the backup, 24 now" in str(raised.value)
    # Same number of examples, other values: the digest tells.
    with pytest.raises(ResumeMismatch, match="the training examples: other values"):
        train(build_fixed_token_classifier, token_examples(seed=5), config, loss=LOSS)


def test_a_backup_taken_with_one_step_resumes_with_the_other(tmp_path):
    # One backup format for both steps: a run interrupted under the summed step (e.g. clipping
    # on two GPUs) can go on under Keras' step (e.g. on one), as if never stopped.
    reference = train(build_fixed_token_classifier, token_examples(),
                      config_for(tmp_path, "ref"), loss=LOSS)
    with pytest.raises(Interrupted):
        train(build_fixed_token_classifier, token_examples(), config_for(tmp_path, backup_steps=2),
              loss=LOSS, callbacks=[Recorder(stop=(1, 3))])
    resumed = Recorder()
    result = train(build_fixed_token_classifier, token_examples(),
                   config_for(tmp_path, training_loop="fit"), loss=LOSS, callbacks=[resumed])
    assert resumed.steps == [(1, 2), (1, 3), (1, 4), (1, 5)]
    assert_weights_close(result.model.get_weights(), reference.model.get_weights())


def test_a_keras_backup_and_restore_backup_is_refused(tmp_path):
    backup = tmp_path / "run" / "backup"
    backup.mkdir(parents=True)
    (backup / "training_metadata.json").write_text('{"epoch": 1}')
    with pytest.raises(ResumeMismatch, match="BackupAndRestore backup"):
        train(build_fixed_token_classifier, token_examples(), config_for(tmp_path), loss=LOSS)


def test_the_summed_step_with_loss_scaling_and_clipping_learns(tmp_path):
    # mixed_float16 wraps the optimizer in a LossScaleOptimizer: the loop must clip the unscaled
    # gradient and still let the optimizer unscale it.
    config = config_for(tmp_path, epochs=4, mixed_precision="mixed_float16", clipnorm=0.5,
                        optimizer="sgd", learning_rate=0.5)
    result = train(build_fixed_token_classifier, token_examples(), config, loss=LOSS)
    assert isinstance(result.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert result.model.layers[-1].compute_dtype == "float16"
    losses = result.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0] - 0.01
    assert int(result.model.optimizer.iterations.numpy()) == 24


def tagged_examples(padded_label):
    """Token-tagging examples padded with id 0 (masked), the padding labelled `padded_label`."""
    rng = np.random.default_rng(3)
    lengths = rng.integers(2, 7, size=40)
    ids = np.zeros((40, 6), "int32")
    tags = np.full((40, 6), padded_label, "int32")
    for row, length in enumerate(lengths):
        ids[row, :length] = rng.integers(1, VOCAB_SIZE, size=length)
        tags[row, :length] = ids[row, :length] % 3
    return tf.data.Dataset.from_tensor_slices((ids, tags))


def build_tagger():
    model = keras.Sequential([keras.Input((None,), dtype="int32"),
                              keras.layers.Embedding(VOCAB_SIZE, 8, mask_zero=True),
                              keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(3, activation="softmax")])
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(scale=0.3, size=w.shape).astype("float32")
                       for w in model.get_weights()])
    return model


def test_both_steps_train_a_masked_tagger_alike_and_ignore_the_padding(tmp_path):
    # The mask of the output reaches the loss through Keras' compute_loss in both steps: the
    # labels at padded positions change nothing.
    weights = {}
    for loop in ("fit", "custom"):
        for padded_label in (0, 2):
            config = config_for(tmp_path, f"{loop}-{padded_label}", training_loop=loop,
                                optimizer="sgd", learning_rate=0.5)
            result = train(build_tagger, tagged_examples(padded_label), config, loss=LOSS)
            weights[loop, padded_label] = result.model.get_weights()
    assert_weights_close(weights["custom", 0], weights["fit", 0])
    assert_weights_close(weights["fit", 2], weights["fit", 0])
    assert_weights_close(weights["custom", 2], weights["custom", 0])


def test_loop_choice_and_its_limits():
    one = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert not uses_custom_loop(TrainingConfig(clipnorm=1.0), one)  # one replica: Keras clips right
    assert uses_custom_loop(TrainingConfig(training_loop="custom"), one)
    assert not uses_custom_loop(TrainingConfig(backup_steps=5), one)  # any step backs up by steps
    with pytest.raises(ValueError, match="jit_compile=True"):
        uses_custom_loop(TrainingConfig(training_loop="custom", jit_compile=True), one)
    with pytest.raises(ValueError, match="training_loop.*backup_steps"):
        TrainingConfig(training_loop="keras", backup_steps=0)


def test_both_steps_apply_sample_weights_alike(tmp_path):
    weighted = token_examples().enumerate().map(
        lambda i, example: (*example, tf.cast(i % 3, tf.float32)))
    weights = {}
    for loop in ("fit", "custom"):
        config = config_for(tmp_path, loop, training_loop=loop, optimizer="sgd",
                            learning_rate=0.5)
        weights[loop] = train(build_fixed_token_classifier, weighted, config,
                              loss=LOSS).model.get_weights()
    assert_weights_close(weights["custom"], weights["fit"])
    unweighted = train(build_fixed_token_classifier, token_examples(),
                       config_for(tmp_path, optimizer="sgd", learning_rate=0.5),
                       loss=LOSS).model.get_weights()
    assert max(np.abs(a - b).max() for a, b in zip(unweighted, weights["fit"])) > 1e-3


TWO_CPUS = """
import dataclasses, json, tempfile
from nlpkit.training import configure_cpu_devices
configure_cpu_devices(2)
import keras, numpy as np, tensorflow as tf
from nlpkit.training import TrainingConfig, enable_repeatable_runs, make_strategy, train
from nlpkit.training import uses_custom_loop
from tests.training.tiny_training import build_token_classifier, token_examples

report = {}
# One strategy object per kind for the whole process: two MirroredStrategy objects in one process
# number their collective ops alike, and TensorFlow then mixes up their shapes.
strategies = {name: make_strategy(name) for name in ("one_device", "mirrored")}
probe = tf.constant([[1, 2, 3, 4, 5, 6], [7, 25, 3, 3, 9, 28]])
for loop, clipnorm in (("fit", None), ("custom", 0.05)):
    for name, strategy in strategies.items():
        enable_repeatable_runs(5)
        config = TrainingConfig(epochs=2, batch_size=16, seed=5, run_dir=tempfile.mkdtemp(),
                                monitor=None, verbose=0, training_loop=loop, clipnorm=clipnorm,
                                learning_rate=0.01)
        result = train(build_token_classifier, token_examples(count=64), config,
                       loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                       strategy=strategy)
        report[f"{loop}-{name}"] = {
            "replicas": strategy.num_replicas_in_sync,
            "auto_uses_custom": uses_custom_loop(
                dataclasses.replace(config, training_loop="auto"), strategy),
            "history": result.history,
            "steps": int(result.model.optimizer.iterations.numpy()),
            "weights": [w.tolist() for w in result.model.get_weights()],
            "predicted": result.model.predict(probe, verbose=0).tolist()}

# One SGD step with learning rate 1 moves the weights by the clipped gradient: its norm is the
# clipnorm over both replicas together.
rng = np.random.default_rng(0)
features = rng.normal(size=(48, 5)).astype("float32")
dense = tf.data.Dataset.from_tensor_slices((features, (features[:, 0] > 0).astype("int32")))
def build_dense():
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"),
                             keras.layers.Dense(2, activation="softmax")])
enable_repeatable_runs(5)
class First(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = self.model.get_weights()
first = First()
result = train(build_dense, dense, TrainingConfig(epochs=1, batch_size=48, optimizer="sgd",
               learning_rate=1.0, clipnorm=1e-3, monitor=None, verbose=0,
               run_dir=tempfile.mkdtemp()),
               loss="sparse_categorical_crossentropy", strategy=strategies["mirrored"],
               callbacks=[first])
step = [a - b for a, b in zip(result.model.get_weights(), first.weights)]
report["clipped_step_norm"] = float(np.sqrt(sum(np.sum(np.square(s, dtype="float64"))
                                                for s in step)))
print(json.dumps(report))
"""


def test_two_logical_cpus_train_like_one_device_with_either_step():
    report = json.loads(run_python(TWO_CPUS, timeout=300).strip().splitlines()[-1])
    for loop in ("fit", "custom"):
        one, mirrored = report[f"{loop}-one_device"], report[f"{loop}-mirrored"]
        assert (one["replicas"], mirrored["replicas"]) == (1, 2)
        # training_loop="auto" would take the custom loop only to clip over 2 replicas
        assert (one["auto_uses_custom"], mirrored["auto_uses_custom"]) == (
            (False, False) if loop == "fit" else (False, True))
        assert one["steps"] == mirrored["steps"] == 8  # 64 examples / global batch 16, 2 epochs
        # Same global batch, same seed: the same loss curve up to float summation order.
        for name in ("loss", "accuracy"):
            np.testing.assert_allclose(mirrored["history"][name], one["history"][name],
                                       atol=1e-5, err_msg=f"{loop} {name}")
        assert one["history"]["loss"][1] < one["history"]["loss"][0]
        for a, b in zip(mirrored["weights"], one["weights"], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)
        np.testing.assert_allclose(mirrored["predicted"], one["predicted"], atol=1e-5)
    # auto with clipnorm over 2 replicas: the step is clipped to clipnorm in all (Keras' optimizer
    # would clip each replica's half and let the sum reach up to 2 x clipnorm).
    assert report["clipped_step_norm"] == pytest.approx(1e-3, rel=1e-4)
