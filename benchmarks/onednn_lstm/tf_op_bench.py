"""oneDNN's LSTM forward as a TensorFlow op, against nlpkit.layers.LSTM in the same process.

Checks that both give the same last hidden state, then times both forward passes (inference),
alternating, and prints medians. Build the op first with build.sh (README.md here).

    python benchmarks/onednn_lstm/tf_op_bench.py 64x100x128x256,32x50x64x128,16x500x64x128
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from nlpkit import layers  # noqa: E402

op = tf.load_op_library(os.path.join(os.environ.get("BUILD", "/tmp/onednn_lstm"), "tf_op.so"))

for text in sys.argv[1].split(","):
    batch, steps, inputs, units = (int(v) for v in text.split("x"))
    tf.random.set_seed(0)
    layer = layers.LSTM(units)
    x = tf.constant(np.random.default_rng(0).normal(size=(batch, steps, inputs)), tf.float32)
    layer(x[:1])
    cell = layer.cell

    @tf.function
    def nlpkit_forward(x):
        return layer(x, training=False)

    @tf.function
    def onednn_forward(x):
        # shape: (steps, batch, inputs), the op's time-major input
        return op.one_dnn_lstm_inference(
            tf.transpose(x, [1, 0, 2]), cell.kernel, cell.recurrent_kernel, cell.bias
        )

    difference = np.abs(nlpkit_forward(x).numpy() - onednn_forward(x).numpy()).max()
    times = {"nlpkit": [], "onednn-op": []}
    for _ in range(30):
        for name, function in (("nlpkit", nlpkit_forward), ("onednn-op", onednn_forward)):
            start = time.perf_counter()
            function(x).numpy()
            times[name].append(time.perf_counter() - start)
    print(text, " ".join(f"{n} {np.median(t) * 1e3:.2f} ms" for n, t in times.items()),
          f"max|difference| {difference:.1e}")
