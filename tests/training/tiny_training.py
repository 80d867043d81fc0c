"""Tiny data and models shared by the training tests, and a runner for fresh Python processes."""

import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
VOCAB_SIZE = 30


def token_examples(count=48, length=6, seed=0):
    """Unbatched `(token_ids, label)` examples; label: is token 0 in the upper half of the ids."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB_SIZE, size=(count, length)).astype("int32")
    labels = (ids[:, 0] >= VOCAB_SIZE // 2).astype("int32")
    return tf.data.Dataset.from_tensor_slices((ids, labels))


def build_token_classifier():
    """Embedding -> mean -> softmax over 2 classes; no dropout, so replicas compute the same."""
    return keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(VOCAB_SIZE, 8),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(8, activation="tanh"),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )


def run_python(script, timeout=180):
    """Runs `script` in a fresh Python (TensorFlow's device setup starts clean); returns stdout."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def build_fixed_token_classifier():
    """`build_token_classifier` with weights drawn from a fixed NumPy seed, whatever the global
    random state, so that runs in one process can be compared."""
    model = build_token_classifier()
    rng = np.random.default_rng(42)
    model.set_weights([rng.normal(scale=0.3, size=w.shape).astype("float32")
                       for w in model.get_weights()])
    return model
