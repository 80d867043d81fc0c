"""Throughput and latency of an exported NER model (`recipes/ner.py`'s SavedModel) on CPU.

Loads the newest version under `--export-dir` with `tf.saved_model.load` (TF Text imported first,
as TensorFlow Serving's binary has its ops), the way a serving process would: nothing of nlpkit
is used. Without `--export-dir` it first trains the recipe's built-in sample into a temporary
directory (`python recipes/ner.py --run-dir TMP/run --export-dir TMP/export`, about a minute).

Sentences: those of `--sentences-from` (a CoNLL column file or `token<TAB>tag` file, such as
CoNLL-2003's eng.testa; default the recipe's built-in sample), shuffled with a fixed seed. Raw
text for `serving_default` is each sentence's words joined by single spaces (the export splits
it again); `tag_tokens` gets the words themselves, padded with "" to the batch's longest row.
All input tensors are built before timing; every call is eager (`signature(...)`), its outputs
computed before it returns, and includes nothing but the call.

Measured, after `--warmup` calls of each shape:

- sentences/s at batch `--batch` (64): `--batches` consecutive batches timed as one repeat,
  `--repeats` repeats, the median repeat reported (and the slowest and fastest);
- latency at batch 1: `--calls` single-sentence calls, one sentence after another, p50 and p99.

Both for `serving_default` (text -> tokens, tags, offsets, entities) and `tag_tokens` (words ->
tags). Prints the settings, TensorFlow version and 1-minute load average before and after, then
markdown table rows.

Run from the repository root:

    python benchmarks/ner_export.py                                   # trains the sample first
    python benchmarks/ner_export.py --export-dir saved_models/ner \\
        --sentences-from ../shared/datasets/ner/conll2003/eng.testa
"""

import argparse
import os
import random
import shlex
import statistics
import sys
import tempfile

from export_timing import (
    ROOT,
    latency,
    latest_version,
    load_average,
    throughput,
    train_sample,
)

SAMPLE = os.path.join(ROOT, "recipes", "data", "ner_sample.txt")


def read_sentences(path):
    """Lists of words from a CoNLL column file (first column; -DOCSTART- lines skipped)."""
    sentences, words = [], []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                if words:
                    sentences.append(words)
                words = []
            elif not line.startswith("-DOCSTART-"):
                words.append(line.split()[0])
    if words:
        sentences.append(words)
    return sentences












def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export-dir", help="NER export base directory (its newest version is "
                        "loaded); default: train the built-in sample into a temporary directory")
    parser.add_argument("--sentences-from", default=SAMPLE,
                        help="CoNLL file whose sentences are sent (default: the built-in sample)")
    parser.add_argument("--batch", type=int, default=64, help="batch size for throughput")
    parser.add_argument("--batches", type=int, default=20, help="batches per timed repeat")
    parser.add_argument("--repeats", type=int, default=7, help="timed repeats (median reported)")
    parser.add_argument("--calls", type=int, default=500, help="batch-1 calls for latency")
    parser.add_argument("--warmup", type=int, default=20, help="untimed calls of each shape")
    parser.add_argument("--label", help="name of the model in the table (default: export dir)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sentence order")
    args = parser.parse_args()
    if args.export_dir is not None:
        # Fails before importing TensorFlow.
        version_dir = latest_version(args.export_dir, "saved_models/ner")
    if not os.path.isfile(args.sentences_from):
        sys.exit(f"error: --sentences-from {args.sentences_from}: no such file")
    sentences = read_sentences(args.sentences_from)
    if not sentences:
        sys.exit(f"error: --sentences-from {args.sentences_from}: no sentences in it")
    random.Random(args.seed).shuffle(sentences)

    with tempfile.TemporaryDirectory(prefix="ner_export_bench_") as workdir:
        if args.export_dir is None:
            version_dir = latest_version(train_sample("ner", workdir)[0])
        return measure(args, version_dir, sentences)


def measure(args, version_dir, sentences):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  registers TF Text's ops before loading

    model = tf.saved_model.load(version_dir)
    serve, tag_tokens = model.signatures["serving_default"], model.signatures["tag_tokens"]

    def cycle(count, start=0):
        return [sentences[(start + i) % len(sentences)] for i in range(count)]

    def text_inputs(rows):
        return (tf.constant([" ".join(words) for words in rows]),)

    def token_inputs(rows):
        return (tf.ragged.constant(rows, dtype=tf.string).to_tensor(""),
                tf.constant([len(words) for words in rows], tf.int32))

    batch_rows = [cycle(args.batch, i * args.batch) for i in range(args.batches)]
    single_rows = [[words] for words in cycle(args.calls)]
    words = [len(words) for words in sentences]
    signatures = [
        ("serving_default", lambda text: serve(text=text), text_inputs),
        ("tag_tokens", lambda tokens, lengths: tag_tokens(tokens=tokens, lengths=lengths),
         token_inputs),
    ]
    load_before = load_average()
    print("command: python " + shlex.join(sys.argv))
    print(f"export {os.path.abspath(version_dir)}")
    print(f"sentences {args.sentences_from}: {len(sentences)}, "
          f"{statistics.mean(words):.1f} words on average (max {max(words)})")
    print(f"TensorFlow {tf.__version__}, tensorflow-text {tensorflow_text.__version__}, "
          f"{os.cpu_count()} CPUs; batch {args.batch} x {args.batches} batches x "
          f"{args.repeats} repeats; {args.calls} batch-1 calls; load average {load_before:.2f}",
          flush=True)
    results = []
    for name, call, inputs in signatures:
        batches = [inputs(rows) for rows in batch_rows]
        singles = [inputs(rows) for rows in single_rows]
        for index in range(args.warmup):  # traces each new shape, fills caches
            call(*batches[index % len(batches)])
            call(*singles[index % len(singles)])
        rate = throughput(call, batches, args.repeats)
        p50, p99 = latency(call, singles)
        results.append((name, rate, p50, p99, load_average()))
        print(f"{name}: {rate[0]:,.0f} sentences/s (range {rate[1]:,.0f}-{rate[2]:,.0f}), "
              f"batch 1 p50 {p50:.2f} ms, p99 {p99:.2f} ms", flush=True)
    label = args.label or (args.export_dir if args.export_dir else "sample (trained here)")
    print(f"\nload average {load_before:.2f} before, {load_average():.2f} after\n")
    print(f"| model | signature | sentences/s at batch {args.batch} (min-max) | "
          "p50 ms at batch 1 | p99 ms at batch 1 | load average |")
    print("|---|---|---:|---:|---:|---:|")
    for name, rate, p50, p99, load in results:
        print(f"| {label} | `{name}` | {rate[0]:,.0f} ({rate[1]:,.0f}-{rate[2]:,.0f}) | "
              f"{p50:.2f} | {p99:.2f} | {load:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
