"""What the export benchmarks share (`ner_export.py`, `translate_export.py`): finding the newest
export, training a recipe's built-in sample when none is given, and timing signature calls.

Imported by the benchmark scripts as `export_timing` (they run as `python benchmarks/<name>.py`,
so this folder is on the path); nothing of nlpkit is imported here.
"""

import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))


def latest_version(export_base, example="saved_models/ner"):
    """The newest integer version directory under `export_base`; exits with a message naming
    the flag when there is none."""
    if not os.path.isdir(export_base):
        sys.exit(f"error: --export-dir {export_base}: no such directory (an export base "
                 f"directory such as {example}, holding integer versions)")
    versions = sorted(int(name) for name in os.listdir(export_base)
                      if name.isdigit() and os.path.isdir(os.path.join(export_base, name)))
    if not versions:
        sys.exit(f"error: --export-dir {export_base}: no exported version in it; train first")
    return os.path.join(export_base, str(versions[-1]))


def train_sample(recipe, workdir, *flags):
    """Trains `recipes/<recipe>.py` on its built-in sample into `workdir`; returns the export
    base directory and the recipe's output. Exits when training fails."""
    export_base = os.path.join(workdir, "export")
    command = [sys.executable, os.path.join("recipes", f"{recipe}.py"),
               "--run-dir", os.path.join(workdir, "run"), "--export-dir", export_base, *flags]
    print("training the sample:", " ".join(command), flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, check=False)
    if done.returncode:
        sys.exit(f"error: training the sample failed ({done.returncode}):\n{done.stdout[-4000:]}")
    print(f"trained and exported in {time.perf_counter() - started:.0f} s", flush=True)
    return export_base, done.stdout


def load_average():
    """The 1-minute load average: how busy the machine was around a measurement."""
    return os.getloadavg()[0]


def throughput(call, batches, repeats):
    """Sentences per second over `batches` per repeat: (median, slowest, fastest)."""
    sentences = sum(int(batch[0].shape[0]) for batch in batches)
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        for batch in batches:
            call(*batch)
        rates.append(sentences / (time.perf_counter() - started))
    return statistics.median(rates), min(rates), max(rates)


def latency(call, singles):
    """p50 and p99 of single calls, in milliseconds."""
    seconds = []
    for single in singles:
        started = time.perf_counter()
        call(*single)
        seconds.append(time.perf_counter() - started)
    seconds.sort()

    def percentile(p):
        return 1000 * seconds[min(len(seconds) - 1, round(p / 100 * (len(seconds) - 1)))]

    return percentile(50), percentile(99)
