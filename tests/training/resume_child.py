"""A seeded training run that a test can stop at a chosen point and kill (test_loop.py).

    python -m tests.training.resume_child --run-dir R --report R.json
        [--pause-at POINT --marker FILE] [--strategy mirrored --cpu-devices 2] [--resume MODE]

POINT is `batch:E:B` (after batch B of epoch E, 0-based), `epoch_end:E` (in the callbacks'
`on_epoch_end` of epoch E, after the epoch's backup) or `dev:E` (in epoch E's dev evaluation,
after its first batch). There the process writes MARKER and blocks until it is killed, so the test
kills it at a known point of its progress, whatever the machine's speed. A run that finishes writes
the report: final weights, history, summary (without the time), optimizer steps and the first
(epoch, batch) trained by this process.

The model has everything whose state a resume must restore: dropout (a Keras `SeedGenerator`),
an nlpkit recurrent layer with input and recurrent dropout (its own `SeedGenerator`), a linear
learning-rate schedule, weight averaging (EMA) and early stopping on the dev loss.
"""

import argparse
import json
import sys
import time


def parse_args(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--pause-at")
    parser.add_argument("--marker")
    parser.add_argument("--strategy", default="one_device")
    parser.add_argument("--cpu-devices", type=int)
    parser.add_argument("--resume", default="exact")
    parser.add_argument("--epochs", type=int, default=5)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from nlpkit.training import configure_cpu_devices

    configure_cpu_devices(args.cpu_devices)
    import keras
    import numpy as np

    from nlpkit.layers import SimpleRNN
    from nlpkit.training import TrainingConfig, enable_repeatable_runs, make_strategy, train
    from tests.training.tiny_training import VOCAB_SIZE, token_examples

    strategy = make_strategy(args.strategy)
    enable_repeatable_runs(11)

    def build():
        return keras.Sequential([
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(VOCAB_SIZE, 8),
            SimpleRNN(8, dropout=0.2, recurrent_dropout=0.2),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(2, activation="softmax"),
        ])

    point = args.pause_at.split(":") if args.pause_at else None

    class Pause(keras.callbacks.Callback):
        """Blocks at `point` after writing the marker file; records the first batch run."""

        epoch = None
        first = None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_begin(self, batch, logs=None):
            if self.first is None:
                self.first = [self.epoch, batch]

        def on_train_batch_end(self, batch, logs=None):
            if point == ["batch", str(self.epoch), str(batch)]:
                self.block()

        def on_test_batch_end(self, batch, logs=None):
            if point == ["dev", str(self.epoch)] and batch == 0:
                self.block()

        def on_epoch_end(self, epoch, logs=None):
            if point == ["epoch_end", str(epoch)]:
                self.block()

        def block(self):
            with open(args.marker, "w") as marker:
                marker.write("paused\n")
            print(f"paused at {args.pause_at}", file=sys.stderr, flush=True)
            while True:  # until the test kills this process
                time.sleep(60)

    config = TrainingConfig(
        epochs=args.epochs, batch_size=8, learning_rate=0.05, lr_schedule="linear",
        ema_momentum=0.5, seed=3, run_dir=args.run_dir, monitor="val_loss", monitor_mode="min",
        patience=1, backup_steps=2, verbose=0, resume=args.resume)
    pause = Pause()
    result = train(build, token_examples(), config, loss="sparse_categorical_crossentropy",
                   metrics=["accuracy"], dev_data=token_examples(count=16, seed=1),
                   strategy=strategy, callbacks=[pause])
    summary = result.summary(0.0, monitor="val_loss", mode="min")
    report = {
        "weights": [np.asarray(weight).tolist() for weight in result.model.get_weights()],
        "history": result.history,
        "summary": summary,
        "steps": int(result.model.optimizer.iterations.numpy()),
        "first": pause.first,
        "replicas": strategy.num_replicas_in_sync,
    }
    with open(args.report, "w") as file:
        json.dump(report, file)


if __name__ == "__main__":
    main()
