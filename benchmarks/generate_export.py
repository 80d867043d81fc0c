"""Generation speed of an exported language model (`recipes/generate.py`'s SavedModel) on CPU.

Loads the newest version under `--export-dir` with `tf.saved_model.load`, the way a serving
process would (nothing of nlpkit is used). Without `--export-dir` it first trains the recipe's
built-in text into a temporary directory (`python recipes/generate.py --run-dir TMP/run
--export-dir TMP/export --epochs N`).

Measured at batch 1, after `--warmup` calls:

- units/s of `serving_default`: one call generates `--length` units (temperature 0.8, no top-k
  or top-p, a fixed seed) after a short prompt; `--repeats` calls, the median rate reported (and
  the slowest and fastest). The sampling loop runs in the graph, so this is the speed a server
  answers one user at;
- p50 and p99 latency of one `step` call (one unit in, probabilities and the new state out): what
  a streaming client pays per unit when it drives the model itself; `--calls` calls.

Prints the settings, TensorFlow version and 1-minute load average before and after, a sample,
then a markdown table row.

Run from the repository root:

    python benchmarks/generate_export.py                           # trains the built-in text
    python benchmarks/generate_export.py --export-dir saved_models/generate --label "TS char"
"""

import argparse
import os
import shlex
import statistics
import sys
import tempfile
import time

from export_timing import latency, latest_version, load_average, train_sample

PROMPT = "MARINA:\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export-dir", help="language-model export base directory (its newest "
                        "version is loaded); default: train the built-in text into a "
                        "temporary directory")
    parser.add_argument("--length", type=int, default=500, help="units generated per call")
    parser.add_argument("--repeats", type=int, default=7, help="timed generate calls")
    parser.add_argument("--calls", type=int, default=300, help="timed step calls")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls of each signature")
    parser.add_argument("--epochs", type=int, default=5,
                        help="epochs when training the built-in text (no --export-dir)")
    parser.add_argument("--label", help="name of the model in the table")
    args = parser.parse_args()
    if args.export_dir is not None:
        # Fails before importing TensorFlow.
        version_dir = latest_version(args.export_dir, "saved_models/generate")
        return measure(args, version_dir)
    with tempfile.TemporaryDirectory(prefix="generate_export_bench_") as workdir:
        export_base, _ = train_sample("generate", workdir, "--epochs", str(args.epochs))
        return measure(args, latest_version(export_base))


def measure(args, version_dir):
    import tensorflow as tf

    model = tf.saved_model.load(version_dir)
    generate = model.signatures["serving_default"]
    step = model.signatures["step"]
    initial = model.signatures["initial_state"](batch_size=tf.constant(1))
    state = {name: value for name, value in initial.items() if name.startswith("state_")}
    request = dict(prompt=tf.constant([PROMPT]), length=tf.constant(args.length),
                   temperature=tf.constant(0.8), top_k=tf.constant(0), top_p=tf.constant(1.0),
                   seed=tf.constant(1, tf.int64))
    load_before = load_average()
    print("command: python " + shlex.join(sys.argv))
    print(f"export {os.path.abspath(version_dir)}; TensorFlow {tf.__version__}, "
          f"{os.cpu_count()} CPUs; load average {load_before:.2f}", flush=True)
    for _ in range(max(1, args.warmup)):
        text = generate(**request)["text"].numpy()[0].decode(errors="replace")
        step(tokens=tf.constant(["a"]), **state)
    print(f"sample: {PROMPT + text[:200]!r}")
    rates = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        generate(**request)
        rates.append(args.length / (time.perf_counter() - started))
    singles = [(tf.constant(["e"]),)] * args.calls
    p50, p99 = latency(lambda tokens: step(tokens=tokens, **state), singles)
    median = statistics.median(rates)
    print(f"\nload average {load_before:.2f} before, {load_average():.2f} after\n")
    print("| model | units/s, serving_default, batch 1 (min-max) | step p50 ms | step p99 ms |")
    print("|---|---:|---:|---:|")
    print(f"| {args.label or args.export_dir or 'built-in text (trained here)'} | "
          f"{median:,.0f} ({min(rates):,.0f}-{max(rates):,.0f}) | {p50:.2f} | {p99:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
