"""One worker process of the multi-worker tests (run with `python -m`, `TF_CONFIG` set).

Trains the tiny token classifier with `nlpkit.training.train` under `--strategy`, prints one
`step <epoch> <batch>` line per training step, exports the model with `export_classifier` (chief
only, others write a temporary directory) and writes `<out>/worker-<index>.npz` (final weights)
and `<out>/worker-<index>.json` (history, steps).

With `--pause-at "E B" --pause-dir DIR` the worker, right after step (E, B), creates
`DIR/paused-<index>` and waits until `DIR/go` exists, so that a test can kill it at that very
step whatever the machine's speed.
"""

import argparse
import json
import os
import sys
import time


def parse_args(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategy", default="multi_worker")
    parser.add_argument("--cpu-devices", type=int, default=None)
    parser.add_argument("--out", required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--export-dir", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--examples", type=int, default=48)
    parser.add_argument("--backup-steps", type=int, default=None)
    parser.add_argument("--clipnorm", type=float, default=None)
    parser.add_argument("--pause-at", default=None, metavar='"EPOCH BATCH"')
    parser.add_argument("--pause-dir", default=None)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--learning-rate", type=float, default=0.5)
    return parser.parse_args(argv)


def pause(directory, index, limit=600):
    """Says that this worker reached the pause and waits for `<directory>/go` (or `limit` s)."""
    with open(os.path.join(directory, f"paused-{index}"), "w", encoding="utf-8"):
        pass
    deadline = time.monotonic() + limit
    while not os.path.exists(os.path.join(directory, "go")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nobody created {directory}/go in {limit} s")
        time.sleep(0.05)


def main(argv=None):
    args = parse_args(argv)
    # Strategy first: MultiWorkerMirroredStrategy must come before any other TensorFlow work.
    from nlpkit.training import configure_cpu_devices, make_strategy

    configure_cpu_devices(args.cpu_devices)
    strategy = make_strategy(args.strategy)

    import keras
    import numpy as np
    import tensorflow as tf

    try:
        from nlpkit.tasks.classification import export_classifier
    except ImportError:  # a checkout from before the classification task moved to nlpkit.tasks
        from nlpkit.export import export_classifier
    from nlpkit.training import TrainingConfig, enable_repeatable_runs, read_tf_config, train
    from tests.export.tiny_classifier import WhitespaceTokenIds
    from tests.training.tiny_training import build_token_classifier, token_examples

    enable_repeatable_runs(args.seed)
    index = int((read_tf_config().get("task") or {}).get("index", 0))

    class Progress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch = None
            self.batches = 0
            self.first = None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            self.batches += 1
            self.first = self.first or (self.epoch, batch)
            print(f"step {self.epoch} {batch}", flush=True)
            if args.pause_at == f"{self.epoch} {batch}":
                pause(args.pause_dir, index)

    progress = Progress()
    config = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        run_dir=args.run_dir,
        monitor=None,
        verbose=0,
        clipnorm=args.clipnorm,
        backup_steps=args.backup_steps,
        training_loop="custom",
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
    )
    result = train(
        build_token_classifier,
        token_examples(count=args.examples),
        config,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        dev_data=token_examples(count=20, seed=1),
        strategy=strategy,
        callbacks=[progress],
    )
    to_ids = WhitespaceTokenIds([str(i) for i in range(1, 30)], 6)  # "i" -> id i + 1
    export = export_classifier(to_ids, result.model, ["no", "yes"], args.export_dir)
    sentences = ["1 2 3", "", "7 25 3 3 9 28"]
    report = {
        "replicas": strategy.num_replicas_in_sync,
        "history": result.history,
        "steps_per_epoch": result.steps_per_epoch,
        "optimizer_steps": int(result.model.optimizer.iterations.numpy()),
        "batches_run_here": progress.batches,
        "first_step_here": progress.first,
        "export": export,
        "predictions": keras.ops.convert_to_numpy(
            result.model(to_ids(tf.constant(sentences)))
        ).tolist(),
    }
    os.makedirs(args.out, exist_ok=True)
    np.savez(os.path.join(args.out, f"worker-{index}.npz"), *result.model.get_weights())
    with open(os.path.join(args.out, f"worker-{index}.json"), "w", encoding="utf-8") as file:
        json.dump(report, file)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
