"""Input pipeline throughput versus training-step throughput, in sentences per second.

Measures, on SST-2 `train.tsv` from the shared datasets:

1. the input pipeline (`nlpkit.data.make_pipeline` with in-graph `WordTokenizer` tokenization,
   seeded shuffling, bucketing by length, padded batching and prefetching; no cache, so every
   sentence is tokenized), one full pass over the 67,349 sentences; and the same with
   `cache=True` after the first pass (later epochs, which skip tokenization);
2. a training step of a typical sentiment model, Embedding(vocabulary of at most 20,000, 128) +
   Bidirectional(LSTM(128)) + Dense(1), batch 64, fed from batches already in memory, so it
   measures only the model;
3. the same training fed live by the pipeline (`fit` on the pipeline itself, both sharing the
   machine's cores, as in real training);

and prints the ratio pipeline / training. Above 1 the pipeline produces sentences faster than the
model consumes them, so (with prefetching) it is not the bottleneck; end to end / training near 1
confirms it.

Run from the repository root:

    python benchmarks/input_pipeline.py [--split unicode_script|whitespace] [--datasets DIR]
"""

import argparse
import json
import os
import platform
import sys
import time

import keras
import tensorflow as tf

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from nlpkit.data import make_pipeline, read_labelled_table, shared_datasets_dir
from nlpkit.text import WordTokenizer

BUCKETS = [8, 16, 32, 48]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", help="shared datasets folder (default ../shared/datasets)")
    parser.add_argument(
        "--split", default="unicode_script", choices=["unicode_script", "whitespace"]
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--vocabulary-size", type=int, default=20_000)
    parser.add_argument("--train-steps", type=int, default=60, help="training steps per epoch")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def pipeline_throughput(dataset, tokenizer, batch_size, seed, cache=False):
    """Sentences per second of one full pass of the input pipeline.

    With `cache=True` the pass is timed after a first one has filled the cache, so it measures
    the epochs after the first, which skip tokenization.
    """
    batches = make_pipeline(
        dataset,
        batch_size=batch_size,
        preprocess=lambda texts, labels: (tokenizer.tokenize(texts), labels),
        cache=cache,
        shuffle=True,
        seed=seed,
        bucket_boundaries=BUCKETS,
    )
    if cache:
        for _ in batches:
            pass
    else:
        for _ in batches.take(3):  # warm up: trace the tokenizer graph
            pass
    start = time.perf_counter()
    sentences = 0
    for _, labels in batches:
        sentences += int(labels.shape[0])
    return sentences, sentences / (time.perf_counter() - start)


def training_throughput(dataset, tokenizer, batch_size, seed, steps, vocabulary_size):
    """Sentences per second `model.fit` consumes: from batches in memory, and end to end.

    Returns:
        `(in_memory, end_to_end)`, each `(rate, per-epoch rates)`: the first measures the model
        alone, the second the model fed live by the pipeline (both share the machine's cores,
        as in real training).
    """
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(vocabulary_size, 128, mask_zero=True),
            keras.layers.Bidirectional(keras.layers.LSTM(128)),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    live = make_pipeline(
        dataset,
        batch_size=batch_size,
        preprocess=lambda texts, labels: (tokenizer.tokenize(texts), labels),
        shuffle=True,
        seed=seed,
        bucket_boundaries=BUCKETS,
        drop_remainder=True,
        repeat=True,
    )
    in_memory = live.take(steps).cache().repeat()
    return fit_rate(model, in_memory, steps, batch_size), fit_rate(model, live, steps, batch_size)


def fit_rate(model, batches, steps, batch_size, warmup_epochs=4, timed_epochs=3):
    """Sentences per second of `fit` over `timed_epochs` of `steps` batches, after a warm-up.

    The warm-up absorbs one-time costs: tracing the train step for new batch shapes, filling the
    shuffle buffer (10,000 tokenized sentences) and the in-memory cache.
    """
    timer = EpochTimer()
    model.fit(
        batches,
        epochs=warmup_epochs + timed_epochs,
        steps_per_epoch=steps,
        verbose=0,
        callbacks=[timer],
    )
    rate = timed_epochs * steps * batch_size / sum(timer.seconds[warmup_epochs:])
    return rate, [round(steps * batch_size / seconds) for seconds in timer.seconds]


class EpochTimer(keras.callbacks.Callback):
    """Wall-clock seconds of each epoch."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def main():
    args = parse_args()
    root = args.datasets or shared_datasets_dir()
    if root is None:
        sys.exit("No shared datasets folder: pass --datasets or set NLPKIT_DATASETS")
    data = read_labelled_table(
        os.path.join(str(root), "sentiment/sst2/train.tsv"), label_names=["0", "1"]
    )
    tokenizer = WordTokenizer(split=args.split, lowercase=True, max_length=args.max_length)
    start = time.perf_counter()
    tokenizer.adapt(data.texts, max_size=args.vocabulary_size)
    adapt_seconds = time.perf_counter() - start
    dataset = data.to_dataset()

    sentences, pipeline_rate = pipeline_throughput(dataset, tokenizer, args.batch_size, args.seed)
    _, cached_rate = pipeline_throughput(dataset, tokenizer, args.batch_size, args.seed, cache=True)
    (training_rate, training_epochs), (end_to_end_rate, end_to_end_epochs) = training_throughput(
        dataset, tokenizer, args.batch_size, args.seed, args.train_steps, tokenizer.vocabulary_size
    )
    result = {
        "dataset": "SST-2 train.tsv",
        "sentences": sentences,
        "split": args.split,
        "batch_size": args.batch_size,
        "vocabulary_size": tokenizer.vocabulary_size,
        "adapt_seconds": round(adapt_seconds, 2),
        "pipeline_sentences_per_second": round(pipeline_rate),
        "training_sentences_per_second": round(training_rate),
        "pipeline_over_training": round(pipeline_rate / training_rate, 1),
        "cached_pipeline_sentences_per_second": round(cached_rate),
        "end_to_end_sentences_per_second": round(end_to_end_rate),
        "end_to_end_over_training": round(end_to_end_rate / training_rate, 2),
        "per_epoch_sentences_per_second": {
            "in_memory": training_epochs,
            "end_to_end": end_to_end_epochs,
            "timed": "the last 3 of each",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
            "gpus": len(tf.config.list_physical_devices("GPU")),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
