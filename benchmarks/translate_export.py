"""Decoding speed of an exported translator (`recipes/translate.py`'s SavedModel) on CPU.

Loads the newest version under `--export-dir` with `tf.saved_model.load` (TF Text imported first,
as TensorFlow Serving's binary has its ops), the way a serving process would: nothing of nlpkit
is used. Without `--export-dir` it first trains the recipe's built-in sample into a temporary
directory (`python recipes/translate.py --run-dir TMP/run --export-dir TMP/export --epochs 3`).

Sentences: the sources of `--sentences-from` (a TSV file of pairs, column `--source-column`,
default 1: Spanish in Tatoeba's `spa.txt`; default the recipe's built-in sample), shuffled with a
fixed seed. All input tensors are built before timing; every call is eager (`signature(...)`),
its outputs computed before it returns, and includes nothing but the call. Beam search runs in
the graph until every row has reached `[EOS]` or its limit (`--max-length`, and the export's
`max_length_ratio` times the source's pieces plus 10), so the speed depends on the sentences.

Three decodings: `serving_default` with the beam it was exported with (its `run_config.json`
says which); `translate_nbest` with `beam_size` 4 and `max_length` `--max-length` (default: the
export's maximum, `--max-target-length` less [BOS] from its `run_config.json`, else 63); and
`translate_nbest` with `beam_size` 1 (greedy) and the same `max_length`. Measured, after
`--warmup` calls of each shape:

- sentences/s at batch `--batch` (64): `--batches` consecutive batches timed as one repeat,
  `--repeats` repeats, the median repeat reported (and the slowest and fastest), all three;
- latency at batch 1: `--calls` single-sentence calls, one sentence after another, p50 and p99,
  for `serving_default` and greedy `translate_nbest` (beam 4 `translate_nbest` is skipped here).

Prints the settings, TensorFlow version and 1-minute load average before and after, a few
translations (as a check that the model translates), then markdown table rows.

Run from the repository root:

    python benchmarks/translate_export.py                            # trains the sample first
    python benchmarks/translate_export.py --export-dir saved_models/translate \\
        --sentences-from ../shared/datasets/translation/spa-eng/spa.txt --source-column 1
"""

import argparse
import json
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

SAMPLE = os.path.join(ROOT, "recipes", "data", "translation_sample.tsv")
RUN_CONFIG = os.path.join("assets.extra", "run_config.json")
DEFAULT_MAX_LENGTH = 63  # the recipe's --max-target-length 64 less [BOS]


def read_sources(path, column):
    """The non-empty fields `column` (0-based) of a TSV file; shorter lines are skipped."""
    sources = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\r\n").split("\t")
            if len(fields) > column and fields[column].strip():
                sources.append(fields[column])
    return sources




def export_flags(version_dir):
    """The training flags stored with the export (`assets.extra/run_config.json`), or {}."""
    try:
        with open(os.path.join(version_dir, RUN_CONFIG), encoding="utf-8") as handle:
            return json.load(handle).get("flags", {})
    except (OSError, ValueError):
        return {}










def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export-dir", help="translation export base directory (its newest "
                        "version is loaded); default: train the built-in sample into a "
                        "temporary directory")
    parser.add_argument("--sentences-from", default=SAMPLE,
                        help="TSV file of pairs whose sources are sent (default: the built-in "
                        "sample)")
    parser.add_argument("--source-column", type=int, default=1,
                        help="0-based column of the source sentences (default: 1, Spanish in "
                        "spa.txt and in the sample)")
    parser.add_argument("--max-length", type=int, help="max_length sent to translate_nbest "
                        "(default: the export's maximum, from its run_config.json, else "
                        f"{DEFAULT_MAX_LENGTH})")
    parser.add_argument("--batch", type=int, default=64, help="batch size for throughput")
    parser.add_argument("--batches", type=int, default=10, help="batches per timed repeat")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median reported)")
    parser.add_argument("--calls", type=int, default=200, help="batch-1 calls for latency")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls of each shape")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs when training the sample (no --export-dir)")
    parser.add_argument("--label", help="name of the model in the table (default: export dir)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sentence order")
    args = parser.parse_args()
    if args.export_dir is not None:
        # Fails before importing TensorFlow.
        version_dir = latest_version(args.export_dir, "saved_models/translate")
    if not os.path.isfile(args.sentences_from):
        sys.exit(f"error: --sentences-from {args.sentences_from}: no such file")
    sentences = read_sources(args.sentences_from, args.source_column)
    if not sentences:
        sys.exit(f"error: --sentences-from {args.sentences_from}: no sentences in column "
                 f"{args.source_column}")
    random.Random(args.seed).shuffle(sentences)

    with tempfile.TemporaryDirectory(prefix="translate_export_bench_") as workdir:
        if args.export_dir is None:
            export_base, output = train_sample("translate", workdir, "--epochs", str(args.epochs))
            bleu = [line for line in output.splitlines() if line.startswith("dev: BLEU")]
            print(bleu[-1] if bleu else "", flush=True)
            version_dir = latest_version(export_base)
        return measure(args, version_dir, sentences)


def measure(args, version_dir, sentences):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  registers TF Text's ops before loading

    flags = export_flags(version_dir)
    max_length = args.max_length
    if max_length is None:
        max_length = (flags["max_target_length"] - 1 if "max_target_length" in flags
                      else DEFAULT_MAX_LENGTH)
    model = tf.saved_model.load(version_dir)
    serve, nbest = model.signatures["serving_default"], model.signatures["translate_nbest"]

    def cycle(count, start=0):
        return [sentences[(start + i) % len(sentences)] for i in range(count)]

    def nbest_call(beam):
        beam, limit = tf.constant(beam, tf.int32), tf.constant(max_length, tf.int32)
        return lambda text: nbest(text=text, beam_size=beam, max_length=limit)

    batches = [(tf.constant(cycle(args.batch, i * args.batch)),)
               for i in range(args.batches)]
    singles = [(tf.constant([text]),) for text in cycle(args.calls)]
    words = [len(text.split()) for text in sentences]
    trained_beam = flags.get("beam_size", "?")
    decodings = [  # name, beam, call, batch-1 latency measured
        ("serving_default", trained_beam, lambda text: serve(text=text), True),
        ("translate_nbest", 4, nbest_call(4), False),
        ("translate_nbest", 1, nbest_call(1), True),
    ]
    load_before = load_average()
    print("command: python " + shlex.join(sys.argv))
    print(f"export {os.path.abspath(version_dir)}")
    if flags:
        print("exported with " + ", ".join(
            f"--{key.replace('_', '-')} {flags.get(key)}"
            for key in ("cell", "attention", "units", "encoder_layers", "embedding_dim",
                        "tokenizer", "beam_size", "length_penalty", "max_length_ratio",
                        "max_source_length", "max_target_length") if key in flags))
    print(f"sentences {args.sentences_from} (column {args.source_column}): {len(sentences)}, "
          f"{statistics.mean(words):.1f} words on average (max {max(words)})")
    print(f"TensorFlow {tf.__version__}, tensorflow-text {tensorflow_text.__version__}, "
          f"{os.cpu_count()} CPUs; batch {args.batch} x {args.batches} batches x "
          f"{args.repeats} repeats; {args.calls} batch-1 calls; translate_nbest max_length "
          f"{max_length}; load average {load_before:.2f}", flush=True)
    results = []
    for name, beam, call, timed_singles in decodings:
        for index in range(max(1, args.warmup)):  # traces each new shape, fills caches
            outputs = call(*batches[index % len(batches)])
            if timed_singles:
                call(*singles[index % len(singles)])
        best = outputs["translation" if "translation" in outputs else "translations"].numpy()
        best = best if best.ndim == 1 else best[:, 0]
        out_words = statistics.mean(len(text.split()) for text in best)
        examples = batches[(max(1, args.warmup) - 1) % len(batches)][0].numpy()
        for source, target in list(zip(examples, best))[:2]:
            print(f"  {source.decode(errors='replace')} -> {target.decode(errors='replace')}")
        rate = throughput(call, batches, args.repeats)
        p50, p99 = latency(call, singles) if timed_singles else (None, None)
        results.append((name, beam, rate, out_words, p50, p99, load_average()))
        print(f"{name} beam {beam}: {rate[0]:,.1f} sentences/s "
              f"(range {rate[1]:,.1f}-{rate[2]:,.1f}), {out_words:.1f} output words on average"
              + (f", batch 1 p50 {p50:.1f} ms, p99 {p99:.1f} ms" if timed_singles else ""),
              flush=True)
    label = args.label or (args.export_dir if args.export_dir else "sample (trained here)")
    print(f"\nload average {load_before:.2f} before, {load_average():.2f} after\n")
    print(f"| model | signature | beam | sentences/s at batch {args.batch} (min-max) | "
          "output words | p50 ms at batch 1 | p99 ms at batch 1 | load average |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, beam, rate, out_words, p50, p99, load in results:
        p50_text, p99_text = ("-", "-") if p50 is None else (f"{p50:.1f}", f"{p99:.1f}")
        print(f"| {label} | `{name}` | {beam} | {rate[0]:,.1f} ({rate[1]:,.1f}-{rate[2]:,.1f}) "
              f"| {out_words:.1f} | {p50_text} | {p99_text} | {load:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
