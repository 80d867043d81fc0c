"""nlpkit.training.fit: train() with its callbacks, resuming, clipping, schedules and seeds.

These run Keras' train step (the default on one device) unless a test says otherwise;
test_steps.py compares it with the summed step.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlpkit.data import make_pipeline
from nlpkit.training import (
    TrainingConfig,
    TrainResult,
    batch_examples,
    count_batches,
    learning_rate_schedule,
    train,
)
from tests.training.tiny_training import (
    build_fixed_token_classifier,
    build_token_classifier,
    run_python,
    token_examples,
)

LOSS = "sparse_categorical_crossentropy"


def config_for(tmp_path, **overrides):
    settings = {"epochs": 2, "batch_size": 16, "run_dir": str(tmp_path / "run"), "verbose": 0}
    settings["monitor"] = None
    settings.update(overrides)
    return TrainingConfig(**settings)


class Interrupted(Exception):
    pass


class InterruptAt(keras.callbacks.Callback):
    """Raises after batch `batch` of epoch `epoch`, like a crash in the middle of an epoch."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.stop = (epoch, batch)
        self.epoch = None
        self.weights_after_epoch = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self.weights_after_epoch[epoch] = self.model.get_weights()

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.stop:
            raise Interrupted(f"interrupted in epoch {self.epoch} after batch {batch}")


class Recorder(keras.callbacks.Callback):
    """Records the weights at the start of training and the epochs and batches that run."""

    def __init__(self):
        super().__init__()
        self.first_weights = None
        self.epochs = []
        self.batches = 0

    def on_train_begin(self, logs=None):
        self.first_weights = self.model.get_weights()

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


def test_train_counts_global_batches_and_writes_checkpoints_and_logs(tmp_path):
    config = config_for(tmp_path, epochs=2, batch_size=16, monitor="val_accuracy",
                        monitor_mode="max")
    result = train(build_token_classifier, token_examples(count=48), config, loss=LOSS,
                   metrics=["accuracy"], dev_data=token_examples(count=20, seed=1))
    assert result.steps_per_epoch == 3  # 48 examples / global batch 16
    assert int(result.model.optimizer.iterations) == 6
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert len(result.history["loss"]) == 2
    run = tmp_path / "run"
    assert sorted(os.listdir(run / "checkpoints")) == ["epoch-001.weights.h5",
                                                       "epoch-002.weights.h5"]
    for split in ("train", "validation"):
        events = os.listdir(run / "logs" / split)
        assert any(name.startswith("events.out.tfevents") for name in events)
    assert not (run / "backup").exists()  # removed once fit has finished


def test_interrupted_run_resumes_from_the_last_epoch_with_the_same_total_steps(tmp_path):
    config = config_for(tmp_path, epochs=3, batch_size=16)
    crash = InterruptAt(epoch=1, batch=1)
    with pytest.raises(Interrupted):
        train(build_token_classifier, token_examples(), config, loss=LOSS, callbacks=[crash])
    backup = tmp_path / "run" / "backup"
    assert tf.train.latest_checkpoint(str(backup)).endswith("ckpt-3")  # after epoch 0's 3 steps

    recorder = Recorder()
    result = train(build_token_classifier, token_examples(), config, loss=LOSS,
                   callbacks=[recorder])
    # The new model (fresh random weights) starts from the weights backed up after epoch 0 ...
    for restored, backed_up in zip(recorder.first_weights, crash.weights_after_epoch[0],
                                   strict=True):
        np.testing.assert_array_equal(restored, backed_up)
    # ... runs only epochs 1 and 2, and ends with 3 epochs x 3 steps in the optimizer; its
    # history has all 3 epochs, the one trained before the interruption included.
    assert recorder.epochs == [1, 2]
    assert recorder.batches == 6
    assert len(result.history["loss"]) == 3
    assert int(result.model.optimizer.iterations) == 9
    assert not backup.exists()


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_early_stopping_stops_on_the_dev_metric_and_keeps_the_best_epoch(tmp_path, loop):
    # Full-batch gradient descent with a small step lowers the loss every epoch, so with
    # mode="max" epoch 1 is the best and epoch 2 already exhausts a patience of 1.
    config = config_for(tmp_path, epochs=10, batch_size=48, optimizer="sgd", learning_rate=0.1,
                        monitor="val_loss", monitor_mode="max", patience=1, training_loop=loop)
    examples = token_examples(count=48)
    result = train(build_token_classifier, examples, config, loss=LOSS, dev_data=examples)
    assert len(result.history["val_loss"]) == 2
    assert result.history["val_loss"][1] < result.history["val_loss"][0]
    best = build_token_classifier()
    best.load_weights(str(tmp_path / "run" / "checkpoints" / "epoch-001.weights.h5"))
    for kept, expected in zip(result.model.get_weights(), best.get_weights(), strict=True):
        np.testing.assert_array_equal(kept, expected)


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_nan_loss_stops_training_at_once_and_raises(tmp_path, loop):
    features = np.full((32, 4), np.nan, dtype="float32")
    examples = tf.data.Dataset.from_tensor_slices((features, np.zeros(32, "int32")))

    def build():
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])

    recorder = Recorder()
    with pytest.raises(FloatingPointError, match="loss became nan"):
        train(build, examples, config_for(tmp_path, epochs=3, batch_size=8, training_loop=loop),
              loss=LOSS, callbacks=[recorder])
    assert recorder.batches == 1


def test_clipnorm_clips_the_global_norm_of_all_gradients_together(tmp_path):
    # One plain SGD step with learning rate 1 moves the weights by exactly the clipped gradient.
    # Per-weight clipping would allow a norm of 1e-3 for each of the 4 weights; global clipping
    # allows 1e-3 in total. (Dense layers only: for an Embedding's sparse gradient Keras measures
    # the norm on the rows before repeated ids are summed, so the bound is only approximate.)
    rng = np.random.default_rng(0)
    features = rng.normal(size=(48, 5)).astype("float32")
    examples = tf.data.Dataset.from_tensor_slices((features, (features[:, 0] > 0).astype("int32")))

    def build():
        return keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, activation="tanh"),
                                 keras.layers.Dense(2, activation="softmax")])

    config = config_for(tmp_path, epochs=1, batch_size=48, optimizer="sgd", learning_rate=1.0,
                        clipnorm=1e-3)
    recorder = Recorder()
    result = train(build, examples, config, loss=LOSS, callbacks=[recorder])
    assert result.model.optimizer.global_clipnorm == 1e-3
    step = [after - before for after, before in
            zip(result.model.get_weights(), recorder.first_weights, strict=True)]
    assert len(step) == 4
    global_norm = np.sqrt(sum(np.sum(np.square(s, dtype="float64")) for s in step))
    assert global_norm == pytest.approx(1e-3, rel=1e-4)


class StepWeights(keras.callbacks.Callback):
    """Records the (raw) weights after every optimizer step."""

    def __init__(self):
        super().__init__()
        self.after_step = []

    def on_train_batch_end(self, batch, logs=None):
        self.after_step.append(self.model.get_weights())


@pytest.mark.parametrize("loop", ["fit", "custom"])
def test_ema_returns_the_moving_average_of_the_weights_and_evaluates_it(tmp_path, loop):
    # Plain SGD with a large step moves the weights a lot each step, so the average after 6
    # steps is far from the last raw weights. The returned model must hold the NumPy average
    # average_1 = w_1, average_t = m * average_(t-1) + (1 - m) * w_t, and the dev loss of the
    # last epoch must be that of the averaged model.
    momentum = 0.6
    examples = token_examples(count=48)
    config = config_for(tmp_path, epochs=2, batch_size=16, optimizer="sgd", learning_rate=0.5,
                        ema_momentum=momentum, training_loop=loop)
    steps = StepWeights()
    result = train(build_token_classifier, examples, config, loss=LOSS, dev_data=examples,
                   callbacks=[steps])
    assert result.model.optimizer.use_ema and len(steps.after_step) == 6
    average = steps.after_step[0]
    for weights in steps.after_step[1:]:
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights)]
    kept = result.model.get_weights()
    for kept_weight, expected, raw in zip(kept, average, steps.after_step[-1], strict=True):
        np.testing.assert_allclose(kept_weight, expected, rtol=1e-5, atol=1e-6)
    assert max(np.abs(k - r).max() for k, r in zip(kept, steps.after_step[-1])) > 1e-3
    features, labels = next(iter(examples.batch(48)))
    dev_loss = keras.losses.sparse_categorical_crossentropy(labels, result.model(features))
    assert result.history["val_loss"][-1] == pytest.approx(float(np.mean(dev_loss)), rel=1e-4)


def test_ema_with_early_stopping_keeps_the_average_of_the_best_epoch(tmp_path):
    # mode="max" on the loss makes an early epoch the best (see the early stopping test above):
    # the model returned, and that epoch's checkpoint, must hold the average after its steps.
    momentum = 0.5
    examples = token_examples(count=48)
    config = config_for(tmp_path, epochs=10, batch_size=16, optimizer="sgd", learning_rate=0.1,
                        monitor="val_loss", monitor_mode="max", patience=1,
                        ema_momentum=momentum)
    steps = StepWeights()
    result = train(build_token_classifier, examples, config, loss=LOSS, dev_data=examples,
                   callbacks=[steps])
    epochs = len(result.history["val_loss"])
    assert epochs < 10 and len(steps.after_step) == 3 * epochs
    best = int(np.argmax(result.history["val_loss"]))
    assert best < epochs - 1
    average = steps.after_step[0]
    for weights in steps.after_step[1:3 * (best + 1)]:
        average = [momentum * a + (1 - momentum) * w for a, w in zip(average, weights)]
    checkpoint = build_token_classifier()
    checkpoint.load_weights(
        str(tmp_path / "run" / "checkpoints" / f"epoch-00{best + 1}.weights.h5"))
    for kept, saved, expected in zip(result.model.get_weights(), checkpoint.get_weights(),
                                     average, strict=True):
        np.testing.assert_allclose(kept, expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(saved, expected, rtol=1e-5, atol=1e-6)


def test_weight_decay_shrinks_every_weight_by_learning_rate_times_decay_per_step(tmp_path):
    # One full-batch SGD step from the same start, with and without decay: the only difference
    # is the decoupled decay -learning_rate * weight_decay * w0 of every weight.
    examples = token_examples(count=48)
    start = build_fixed_token_classifier().get_weights()
    after = {}
    for decay in (None, 0.5):
        config = config_for(tmp_path / str(decay), epochs=1, batch_size=48, optimizer="sgd",
                            learning_rate=0.1, weight_decay=decay)
        after[decay] = train(build_fixed_token_classifier, examples, config,
                             loss=LOSS).model.get_weights()
    for w0, plain, decayed in zip(start, after[None], after[0.5], strict=True):
        np.testing.assert_allclose(decayed - plain, -0.1 * 0.5 * w0, rtol=1e-4, atol=1e-6)


def test_an_ema_run_resumes_from_the_raw_weights_and_ends_as_if_never_stopped(tmp_path):
    # The end-of-epoch backup is taken before the averaged weights are swapped in for checkpoints
    # and early stopping; a resumed run must go on training the raw weights.
    def run(name, callbacks=()):
        config = config_for(tmp_path / name, epochs=3, optimizer="sgd", learning_rate=0.5,
                            ema_momentum=0.6, seed=2)
        return train(build_fixed_token_classifier, token_examples(), config, loss=LOSS,
                     dev_data=token_examples(count=20, seed=1), callbacks=list(callbacks))

    reference = run("ref")
    with pytest.raises(Interrupted):
        run("run", [InterruptAt(epoch=1, batch=1)])
    resumed = run("run")
    for a, b in zip(resumed.model.get_weights(), reference.model.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("schedule, quarter", [("cosine", 0.5 * (1 + np.cos(np.pi / 4))),
                                               ("linear", 0.75), ("constant", 1.0)])
def test_learning_rate_schedules_over_the_whole_run(schedule, quarter):
    config = TrainingConfig(learning_rate=0.2, lr_schedule=schedule)
    rate = learning_rate_schedule(config, total_steps=100)
    value = (lambda step: float(rate(step))) if callable(rate) else (lambda step: rate)
    assert value(0) == pytest.approx(0.2)
    assert value(25) == pytest.approx(0.2 * quarter, rel=1e-5)
    assert value(100) == pytest.approx(0.0 if schedule != "constant" else 0.2, abs=1e-7)


def test_training_follows_the_schedule_to_its_end(tmp_path):
    config = config_for(tmp_path, epochs=2, lr_schedule="linear", learning_rate=0.01)
    result = train(build_token_classifier, token_examples(), config, loss=LOSS)
    assert int(result.model.optimizer.iterations) == 6
    assert float(result.model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-9)


def test_mixed_precision_builds_the_model_under_the_policy_and_restores_the_global_one(tmp_path):
    assert keras.config.dtype_policy().name == "float32"
    result = train(build_token_classifier, token_examples(), config_for(
        tmp_path, epochs=1, mixed_precision="mixed_bfloat16"), loss=LOSS)
    dense = result.model.layers[-1]
    assert dense.dtype_policy.name == "mixed_bfloat16"
    assert dense.compute_dtype == "bfloat16" and dense.kernel.dtype == "float32"
    assert np.isfinite(result.history["loss"][0])
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.parametrize("jit_compile", [True, False])
def test_jit_compile_reaches_compile(tmp_path, jit_compile):
    result = train(build_token_classifier, token_examples(count=16), config_for(
        tmp_path, epochs=1, jit_compile=jit_compile), loss=LOSS)
    assert result.model.jit_compile is jit_compile
    assert np.isfinite(result.history["loss"][0])


def test_invalid_config_lists_every_problem():
    with pytest.raises(ValueError) as raised:
        TrainingConfig(epochs=0, lr_schedule="step", clipnorm=-1.0, mixed_precision="float16",
                       ema_momentum=1.0, weight_decay=-1.0)
    message = str(raised.value)
    for part in ("epochs", "lr_schedule", "clipnorm", "mixed_precision", "ema_momentum",
                 "weight_decay"):
        assert part in message


def test_batch_examples_pads_variable_lengths_into_global_batches():
    sequences = [[3, 4], [5, 6, 7], [8]]
    examples = tf.data.Dataset.from_generator(
        lambda: ((np.array(s, "int32"), np.int32(len(s))) for s in sequences),
        output_signature=(tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32)),
    )
    ids, labels = next(iter(batch_examples(examples, 3)))
    np.testing.assert_array_equal(ids, [[3, 4, 0], [5, 6, 7], [8, 0, 0]])
    np.testing.assert_array_equal(labels, [2, 3, 1])


def test_seeded_shuffle_gives_the_same_order_for_the_same_seed():
    def order(seed):
        batches = batch_examples(token_examples(count=20), 20, shuffle=True, seed=seed)
        return next(iter(batches))[0].numpy()

    np.testing.assert_array_equal(order(3), order(3))
    assert not np.array_equal(order(3), order(4))


def test_batch_examples_is_make_pipeline_with_data_sharding():
    examples = token_examples(count=20)
    ours = batch_examples(examples, 6, shuffle=True, seed=9, shuffle_buffer=7)
    theirs = make_pipeline(examples, batch_size=6, shuffle=True, seed=9, shuffle_buffer_size=7)
    for _ in range(2):  # a new order every epoch, the same in both
        for (a, la), (b, lb) in zip(ours, theirs, strict=True):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(la, lb)
    policy = ours.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA


def test_unseeded_shuffle_draws_its_own_seed():
    def order():
        return next(iter(batch_examples(token_examples(count=20), 20, shuffle=True)))[0].numpy()

    first, second = order(), order()
    # Both are permutations of the same examples; two equal draws would have odds 1 in 20!.
    np.testing.assert_array_equal(np.sort(first, axis=0), np.sort(second, axis=0))
    assert not np.array_equal(first, second)


def test_fit_takes_one_step_per_batch_when_tf_data_cannot_tell_the_length(tmp_path):
    examples = token_examples(count=48).filter(lambda ids, label: label >= 0)
    assert int(examples.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    recorder = Recorder()
    result = train(build_token_classifier, examples, config_for(tmp_path, epochs=2), loss=LOSS,
                   callbacks=[recorder], dev_data=examples)
    assert recorder.batches == 6 and result.steps_per_epoch == 3
    assert int(result.model.optimizer.iterations.numpy()) == 6


def test_count_batches_handles_unknown_empty_and_infinite_datasets():
    unknown = token_examples(count=10).filter(lambda ids, label: label >= 0).batch(4)
    assert int(unknown.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    assert count_batches(unknown) == 3
    with pytest.raises(ValueError, match="empty"):
        count_batches(token_examples(count=10).take(0).batch(4))
    with pytest.raises(ValueError, match="infinite"):
        count_batches(token_examples(count=10).repeat().batch(4))


REPEATABLE_RUN = """
import sys, tempfile
import keras, numpy as np
from nlpkit.training import TrainingConfig, enable_repeatable_runs, train
from tests.training.tiny_training import token_examples, VOCAB_SIZE

def build():
    return keras.Sequential([keras.Input((None,), dtype="int32"),
                             keras.layers.Embedding(VOCAB_SIZE, 8),
                             keras.layers.GlobalAveragePooling1D(),
                             keras.layers.Dropout(0.5),
                             keras.layers.Dense(2, activation="softmax")])

for seed, path in {runs}:
    enable_repeatable_runs(seed)
    config = TrainingConfig(epochs=2, batch_size=16, seed=seed, run_dir=tempfile.mkdtemp(),
                            monitor=None, verbose=0)
    result = train(build, token_examples(count=32), config, loss="sparse_categorical_crossentropy")
    np.savez(path, *result.model.get_weights())
"""


def test_seed_makes_two_cpu_runs_give_identical_weights(tmp_path):
    first, second, other = (str(tmp_path / name) for name in ("a.npz", "b.npz", "c.npz"))
    run_python(REPEATABLE_RUN.format(runs=[(7, first)]))
    run_python(REPEATABLE_RUN.format(runs=[(7, second), (8, other)]))
    a, b, c = (np.load(path) for path in (first, second, other))
    assert a.files == b.files and len(a.files) == 3
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name])
    assert any(not np.array_equal(a[name], c[name]) for name in a.files)


def test_summary_reports_epochs_best_epoch_and_json_ready_history():
    result = TrainResult(model=None, history={"loss": [np.float32(0.9), 0.5, 0.4],
                                              "val_accuracy": [0.6, 0.8, 0.7],
                                              "val_loss": [0.7, 0.6, 0.65]},
                         steps_per_epoch=3, strategy=None)
    summary = result.summary(12.345)
    assert summary["epochs_run"] == 3 and summary["best_epoch"] == 2
    assert summary["training_seconds"] == 12.3
    assert json.loads(json.dumps(summary))["history"]["loss"][0] == pytest.approx(0.9)
    assert result.summary(1, monitor="val_loss", mode="min")["best_epoch"] == 2
    assert result.summary(1, monitor="val_f1")["best_epoch"] is None
