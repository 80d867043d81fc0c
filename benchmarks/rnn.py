"""Recurrent layers side by side: nlpkit, Keras and PyTorch, training step and forward pass.

For every shape (batch x steps x inputs x units) and implementation this times

- **train**: forward and backward through the whole sequence, the loss being the sum of the last
  output (the last hidden state); gradients of every weight, no optimizer update;
- **forward**: inference, the last output only.

Every implementation runs in its own process (so TensorFlow and PyTorch never share the cores),
and the processes are alternated over several rounds, each round in a different order; a process
reports the median of its timed repetitions and the table shows the median over rounds. Next to
the times it prints the achieved GFLOP/s (matmul FLOPs only: 2 * batch * steps * (inputs + units)
* gates * units forward, and 2 * batch * steps * (2 * inputs + 3 * units) * gates * units for the
training step, which has no input gradient) and, per round, a large matmul's GFLOP/s measured by
TensorFlow on the same machine, and the ratios to PyTorch and to Keras (`keras-lstm` / `keras-gru`,
Keras' CPU default without XLA) of the same family.

Two reference rows, `floor-lstm` and `floor-lstm-one-chain`, run only an LSTM's matmuls in
nlpkit's XLA loops (see `floor_worker`): how fast nlpkit's LSTM could be if its gate arithmetic
cost nothing (benchmarks/README.md, "How close to the floor").

Runs unchanged on a GPU: TensorFlow and PyTorch pick it up when there is one (PyTorch is moved to
`cuda` explicitly), and timings synchronize with the device.

Usage (from the repository root):

    python benchmarks/rnn.py                                   # everything, 5 rounds
    python benchmarks/rnn.py --rounds 1 --repeats 3 --shapes 32x50x64x128 \\
        --implementations nlpkit-lstm,torch-lstm                # a quick look

torch is optional (`pip install -e .[bench]`); without it the torch rows are left out.
"""

import argparse
import functools
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

DEFAULT_SHAPES = ("64x100x128x256", "32x50x64x128", "16x500x64x128")

# name -> (framework, family, gates, constructor description)
IMPLEMENTATIONS = {
    "nlpkit-lstm": ("tensorflow", "lstm", 4, "nlpkit.layers.LSTM"),
    "nlpkit-gru": ("tensorflow", "gru", 3, "nlpkit.layers.GRU"),
    "nlpkit-peephole-lstm": ("tensorflow", "lstm", 4, "nlpkit.layers.PeepholeLSTM"),
    "nlpkit-coupled-lstm": ("tensorflow", "lstm", 3, "nlpkit.layers.CoupledLSTM"),
    "nlpkit-no-forget-gate-lstm": ("tensorflow", "lstm", 3, "nlpkit.layers.NoForgetGateLSTM"),
    "keras-lstm": ("tensorflow", "lstm", 4, "keras.layers.LSTM in tf.function"),
    "keras-gru": ("tensorflow", "gru", 3, "keras.layers.GRU in tf.function"),
    "keras-lstm-xla": ("tensorflow", "lstm", 4, "keras.layers.LSTM, tf.function(jit_compile=True)"),
    "keras-gru-xla": ("tensorflow", "gru", 3, "keras.layers.GRU, tf.function(jit_compile=True)"),
    "torch-lstm": ("torch", "lstm", 4, "torch.nn.LSTM"),
    "torch-gru": ("torch", "gru", 3, "torch.nn.GRU"),
    "floor-lstm": ("tensorflow", "lstm", 4, "an LSTM's matmuls alone, in nlpkit's XLA loops"),
    "floor-lstm-one-chain": ("tensorflow", "lstm", 4, "the same, one loop for the whole batch"),
}


def parse_shape(text):
    try:
        batch, steps, inputs, units = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a shape is batch x steps x inputs x units, e.g. 64x100x128x256; got {text!r}"
        ) from None
    return batch, steps, inputs, units


def shape_name(shape):
    return "x".join(str(v) for v in shape)


def flops(shape, gates):
    """Matmul FLOPs of (train step, forward pass)."""
    batch, steps, inputs, units = shape
    forward = 2 * batch * steps * (inputs + units) * gates * units
    train = 2 * batch * steps * (2 * inputs + 3 * units) * gates * units
    return train, forward


def time_calls(function, repeats, warmup):
    """Median wall-clock seconds of `function()` after `warmup` untimed calls."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# --------------------------------------------------------------------------------------------------
# Workers: one implementation (or the matmul reference) in this process; JSON on the last line.


def tensorflow_worker(name, shapes, repeats, warmup):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    from nlpkit import layers

    constructors = {
        "nlpkit-lstm": layers.LSTM,
        "nlpkit-gru": layers.GRU,
        "nlpkit-peephole-lstm": layers.PeepholeLSTM,
        "nlpkit-coupled-lstm": layers.CoupledLSTM,
        "nlpkit-no-forget-gate-lstm": layers.NoForgetGateLSTM,
        "keras-lstm": keras.layers.LSTM,
        "keras-gru": keras.layers.GRU,
        "keras-lstm-xla": keras.layers.LSTM,
        "keras-gru-xla": keras.layers.GRU,
    }
    jit_compile = name.endswith("-xla")
    results = {}
    for shape in shapes:
        batch, steps, inputs, units = shape
        keras.utils.set_random_seed(0)
        layer = constructors[name](units)
        x = tf.constant(np.random.default_rng(0).normal(size=(batch, steps, inputs)), tf.float32)
        layer(x[:1])  # build

        @tf.function(jit_compile=jit_compile)
        def train_step(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x, training=True))
            gradients = tape.gradient(loss, layer.trainable_weights)
            # One scalar that depends on every gradient: fetching it waits for all of them.
            return tf.add_n([tf.reduce_sum(g) for g in gradients])

        @tf.function(jit_compile=jit_compile)
        def forward(x):
            return tf.reduce_sum(layer(x, training=False))

        results[shape_name(shape)] = {
            "train": time_calls(lambda: train_step(x).numpy(), repeats, warmup),
            "forward": time_calls(lambda: forward(x).numpy(), repeats, warmup),
        }
    results["device"] = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return results


def floor_worker(shapes, repeats, warmup, one_chain=False):
    """The LSTM's matmuls alone, arranged as nlpkit runs them: what its layer cannot go under.

    Same XLA loops, chains (one per core) and large matmuls as nlpkit.layers.LSTM, with every
    gate replaced by a slice: forward, per step `x_t W + h U` and `h = z[:, :units] / 8`;
    training, the projection `X W` for all steps, that loop recording h, a backward loop of one
    `dz U^T` per step, and the weight gradients `X^T dZ` and `H^T dZ`. With `one_chain`, the
    whole batch in one loop, each matmul spread over the cores by XLA's Eigen runtime instead.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf

    from nlpkit.layers import tensorflow_recurrence

    def forward_loop(x, kernel, recurrent_kernel, record):
        # x: (time, batch, features), already projected when `kernel` is None.
        steps, batch, units = x.shape[0], x.shape[1], recurrent_kernel.shape[0]
        hs = tf.TensorArray(tf.float32, size=steps)

        def body(t, h, hs):
            z = x[t] if kernel is None else tf.matmul(x[t], kernel)
            z = z + tf.matmul(h, recurrent_kernel)
            return t + 1, z[:, :units] / 8, hs.write(t, h) if record else hs

        _, h, hs = tf.while_loop(
            lambda t, *_: t < steps, body, (0, tf.zeros([batch, units]), hs)
        )
        return h, (hs.stack() if record else h)

    def backward_loop(d_h, recurrent_kernel, steps):
        dz = tf.TensorArray(tf.float32, size=steps)

        def body(t, d_h, dz):
            d_z = tf.tile(d_h, [1, 4]) / 8
            return t + 1, tf.matmul(d_z, recurrent_kernel, transpose_b=True), dz.write(t, d_z)

        return tf.while_loop(lambda t, *_: t < steps, body, (0, d_h, dz))[2].stack()

    run_forward = tf.function(functools.partial(forward_loop, record=False), jit_compile=True)
    run_recorded = tf.function(
        lambda p, u: forward_loop(p, None, u, record=True), jit_compile=True
    )
    run_backward = tf.function(backward_loop, jit_compile=True)

    results = {}
    for shape in shapes:
        batch, steps, inputs, units = shape
        rng = np.random.default_rng(0)
        x = tf.constant(rng.normal(size=(steps, batch, inputs)), tf.float32)
        kernel = tf.constant(rng.normal(size=(inputs, 4 * units)) * 0.05, tf.float32)
        recurrent_kernel = tf.constant(rng.normal(size=(units, 4 * units)) * 0.05, tf.float32)
        chains = 1 if one_chain else tensorflow_recurrence.chain_count(batch)
        sizes = [(batch + i) // chains for i in range(chains)]

        @tf.function
        def forward(x):
            parts = tf.split(x, sizes, axis=1)
            return tf.add_n([tf.reduce_sum(run_forward(p, kernel, recurrent_kernel)[0])
                             for p in parts])

        @tf.function
        def train_step(x):
            total = []
            for part in tf.split(x, sizes, axis=1):
                # shape: (time * batch, inputs) and (time, batch, 4 * units)
                flat = tf.reshape(part, [-1, inputs])
                projected = tf.reshape(tf.matmul(flat, kernel), [steps, -1, 4 * units])
                h, hs = run_recorded(projected, recurrent_kernel)
                d_z = tf.reshape(run_backward(tf.ones_like(h), recurrent_kernel, steps),
                                 [-1, 4 * units])
                d_kernel = tf.matmul(flat, d_z, transpose_a=True)
                d_recurrent = tf.matmul(tf.reshape(hs, [-1, units]), d_z, transpose_a=True)
                total += [tf.reduce_sum(d_kernel), tf.reduce_sum(d_recurrent)]
            return tf.add_n(total)

        results[shape_name(shape)] = {
            "train": time_calls(lambda: train_step(x).numpy(), repeats, warmup),
            "forward": time_calls(lambda: forward(x).numpy(), repeats, warmup),
        }
    results["device"] = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return results


def torch_worker(name, shapes, repeats, warmup):
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"

    def synchronize():
        if device == "cuda":
            torch.cuda.synchronize()

    results = {}
    for shape in shapes:
        batch, steps, inputs, units = shape
        torch.manual_seed(0)
        module_class = torch.nn.LSTM if name == "torch-lstm" else torch.nn.GRU
        module = module_class(inputs, units, batch_first=True).to(device)
        x = torch.randn(batch, steps, inputs, device=device)

        def train_step():
            outputs, _ = module(x)
            loss = outputs[:, -1].sum()
            module.zero_grad(set_to_none=True)
            loss.backward()
            synchronize()

        def forward():
            with torch.inference_mode():
                outputs, _ = module(x)
                outputs[:, -1].sum().item()

        results[shape_name(shape)] = {
            "train": time_calls(train_step, repeats, warmup),
            "forward": time_calls(forward, repeats, warmup),
        }
    results["device"] = device
    return results


def matmul_worker(repeats, warmup, size=2048):
    """GFLOP/s of a large float32 matmul in TensorFlow: the machine's practical peak."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))

    @tf.function
    def product():
        return tf.reduce_sum(tf.matmul(a, b))

    seconds = time_calls(lambda: product().numpy(), repeats, warmup)
    return {"gflops": 2 * size**3 / seconds / 1e9}


def run_worker(arguments):
    shapes = arguments.shapes
    if arguments.worker == "matmul":
        result = matmul_worker(arguments.repeats, arguments.warmup)
    elif arguments.worker.startswith("floor-lstm"):
        result = floor_worker(
            shapes, arguments.repeats, arguments.warmup, arguments.worker.endswith("one-chain")
        )
    elif IMPLEMENTATIONS[arguments.worker][0] == "torch":
        result = torch_worker(arguments.worker, shapes, arguments.repeats, arguments.warmup)
    else:
        result = tensorflow_worker(arguments.worker, shapes, arguments.repeats, arguments.warmup)
    print(json.dumps(result))


# --------------------------------------------------------------------------------------------------
# The driver.


def spawn(worker, arguments):
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        worker,
        "--shapes",
        ",".join(shape_name(s) for s in arguments.shapes),
        "--repeats",
        str(arguments.repeats),
        "--warmup",
        str(arguments.warmup),
    ]
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(
        p for p in (repository, environment.get("PYTHONPATH")) if p
    )
    completed = subprocess.run(command, capture_output=True, text=True, env=environment)
    if completed.returncode != 0:
        raise RuntimeError(f"{worker} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def machine_description():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            for line in file:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = []
    for package in ("tensorflow", "keras", "torch"):
        if importlib.util.find_spec(package) is not None:
            from importlib.metadata import version

            versions.append(f"{package} {version(package)}")
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, " + ", ".join(
        versions
    )


def ratio(value, reference):
    return f"{value / reference:.2f}x" if reference else "-"


def report(arguments, rounds, matmul_gflops, loads):
    names = arguments.implementations
    lines = []
    lines.append(f"Machine: {machine_description()}")
    lines.append(
        f"Rounds: {len(rounds)}, {arguments.repeats} timed repetitions per process after "
        f"{arguments.warmup} warm-up calls; medians. 1-minute load average before / after each "
        f"round: {', '.join(f'{a:.1f}/{b:.1f}' for a, b in loads)}."
    )
    devices = sorted({r[n]["device"] for r in rounds for n in names})
    lines.append(f"Device: {', '.join(devices)}")
    lines.append(
        f"TensorFlow matmul 2048x2048x2048 float32: {statistics.median(matmul_gflops):.0f} GFLOP/s "
        f"(median; rounds: {', '.join(f'{g:.0f}' for g in matmul_gflops)})"
    )
    lines.append("")
    header = (
        "| shape (BxTxIxH) | implementation | train ms | fwd ms | train GFLOP/s | fwd GFLOP/s "
        "| train / torch | fwd / torch | train / keras | fwd / keras "
        "| train / nlpkit-lstm | fwd / nlpkit-lstm |"
    )
    lines.append(header)
    lines.append("|" + "---|" * (header.count("|") - 1))
    summary = {}
    for shape in arguments.shapes:
        key = shape_name(shape)
        medians = {}
        for name in names:
            medians[name] = {
                kind: statistics.median(r[name][key][kind] for r in rounds) * 1e3
                for kind in ("train", "forward")
            }
        summary[key] = medians
        for name in names:
            framework, family, gates, _ = IMPLEMENTATIONS[name]
            train_flops, forward_flops = flops(shape, gates)
            train_ms, forward_ms = medians[name]["train"], medians[name]["forward"]
            torch_train = medians.get(f"torch-{family}", {}).get("train")
            torch_forward = medians.get(f"torch-{family}", {}).get("forward")
            keras_train = medians.get(f"keras-{family}", {}).get("train")
            keras_forward = medians.get(f"keras-{family}", {}).get("forward")
            lstm_train = medians.get("nlpkit-lstm", {}).get("train")
            lstm_forward = medians.get("nlpkit-lstm", {}).get("forward")
            lines.append(
                f"| {key} | {name} | {train_ms:.1f} | {forward_ms:.1f} "
                f"| {train_flops / train_ms / 1e6:.0f} | {forward_flops / forward_ms / 1e6:.0f} "
                f"| {ratio(train_ms, torch_train)} | {ratio(forward_ms, torch_forward)} "
                f"| {ratio(train_ms, keras_train)} | {ratio(forward_ms, keras_forward)} "
                f"| {ratio(train_ms, lstm_train) if family == 'lstm' else '-'} "
                f"| {ratio(forward_ms, lstm_forward) if family == 'lstm' else '-'} |"
            )
    return "\n".join(lines), summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shapes",
        type=lambda text: [parse_shape(s) for s in text.split(",")],
        default=[parse_shape(s) for s in DEFAULT_SHAPES],
        help="comma-separated batch x steps x inputs x units (default: %(default)s)",
    )
    parser.add_argument(
        "--implementations",
        type=lambda text: text.split(","),
        default=list(IMPLEMENTATIONS),
        help=f"comma-separated, from: {', '.join(IMPLEMENTATIONS)} (default: all; torch rows "
        "are skipped when torch is not installed)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="processes per implementation")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per process")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls first (compiles)")
    parser.add_argument("--json", help="also write the raw per-round results to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)

    if arguments.worker:
        run_worker(arguments)
        return
    unknown = [n for n in arguments.implementations if n not in IMPLEMENTATIONS]
    if unknown:
        parser.error(f"unknown implementations {unknown}; choose from {list(IMPLEMENTATIONS)}")
    if importlib.util.find_spec("torch") is None:
        skipped = [n for n in arguments.implementations if IMPLEMENTATIONS[n][0] == "torch"]
        if skipped:
            print(f"torch is not installed: skipping {', '.join(skipped)}", file=sys.stderr)
        arguments.implementations = [n for n in arguments.implementations if n not in skipped]

    rounds, matmul_gflops, loads = [], [], []
    for index in range(arguments.rounds):
        # A different order every round, so no implementation always runs first or last.
        order = list(arguments.implementations)
        shift = index % len(order)
        order = order[shift:] + order[:shift]
        if index % 2:
            order.reverse()
        load_before = os.getloadavg()[0]
        results = {}
        for name in order:
            results[name] = spawn(name, arguments)
            print(f"round {index + 1}: {name} {json.dumps(results[name])}", file=sys.stderr)
        matmul_gflops.append(spawn("matmul", arguments)["gflops"])
        loads.append((load_before, os.getloadavg()[0]))
        rounds.append(results)
    table, summary = report(arguments, rounds, matmul_gflops, loads)
    print(table)
    if arguments.json:
        with open(arguments.json, "w", encoding="utf-8") as file:
            json.dump({"rounds": rounds, "matmul_gflops": matmul_gflops, "loads": loads,
                       "medians_ms": summary}, file, indent=1)


if __name__ == "__main__":
    main()
