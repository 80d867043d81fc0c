"""A small layer-check helper for nlpkit's tests.

Keras' own `keras.src.testing` is private, so nlpkit keeps the few checks every layer needs here:
config round trips, `.keras` save/load, and a SavedModel export that runs where nlpkit cannot be
imported (what TensorFlow Serving sees).
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

# The subprocess refuses `import nlpkit`, so a passing export check proves the SavedModel holds
# everything it needs and none of our Python.
_BLOCK_NLPKIT = textwrap.dedent(
    """
    import sys

    class _BlockNlpkit:
        def find_spec(self, name, path=None, target=None):
            if name == "nlpkit" or name.startswith("nlpkit."):
                raise ImportError("nlpkit is blocked in this process")
            return None

    sys.meta_path.insert(0, _BlockNlpkit())
    """
)


def assert_config_round_trip(layer):
    """`from_config(get_config())` rebuilds a layer with the same config."""
    config = layer.get_config()
    json.dumps(config)  # a config must be plain JSON
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config


def assert_model_saves_and_loads(model, inputs, tmp_path, atol=1e-6):
    """`model.save("m.keras")` then `load_model` (safe_mode on) gives identical outputs."""
    expected = keras.ops.convert_to_numpy(model(inputs))
    path = os.path.join(str(tmp_path), "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    actual = keras.ops.convert_to_numpy(loaded(inputs))
    np.testing.assert_allclose(actual, expected, atol=atol)
    return loaded


def run_without_nlpkit(script, cwd):
    """Runs `script` in a fresh Python in which `import nlpkit` fails; returns its stdout."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    result = subprocess.run(
        [sys.executable, "-c", _BLOCK_NLPKIT + textwrap.dedent(script)],
        cwd=str(cwd),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"subprocess failed:\n{result.stderr[-4000:]}"
    return result.stdout


def assert_export_runs_without_nlpkit(model, inputs, tmp_path, atol=1e-5):
    """`model.export(...)` writes a SavedModel that runs, without nlpkit, to the same outputs.

    Only meaningful on the TensorFlow backend (SavedModel is a TensorFlow format).
    """
    expected = keras.ops.convert_to_numpy(model(inputs))
    export_dir = os.path.join(str(tmp_path), "export")
    model.export(export_dir, verbose=False)
    np.save(os.path.join(str(tmp_path), "inputs.npy"), np.asarray(inputs))
    script = f"""
        import numpy as np
        import tensorflow as tf
        loaded = tf.saved_model.load({export_dir!r})
        inputs = np.load({os.path.join(str(tmp_path), "inputs.npy")!r})
        outputs = loaded.serve(tf.constant(inputs))
        np.save({os.path.join(str(tmp_path), "outputs.npy")!r}, outputs.numpy())
        assert "nlpkit" not in sys.modules
    """
    run_without_nlpkit(script, cwd=tmp_path)
    actual = np.load(os.path.join(str(tmp_path), "outputs.npy"))
    np.testing.assert_allclose(actual, expected, atol=atol)


def backend_is_tensorflow():
    return keras.backend.backend() == "tensorflow"


def assert_gradients_match_finite_differences(loss, variables, gradients, rng, samples,
                                              epsilon=1e-6):
    """Compares autodiff `gradients` of `loss()` (a function of no arguments) with central
    differences at `samples` random entries of each of `variables` (TensorFlow variables,
    float64 for the default `epsilon`)."""
    for variable, gradient in zip(variables, gradients, strict=True):
        flat = variable.numpy().reshape(-1)
        for index in rng.choice(flat.size, size=min(samples, flat.size), replace=False):
            shifted = []
            for sign in (1.0, -1.0):
                changed = flat.copy()
                changed[index] += sign * epsilon
                variable.assign(changed.reshape(variable.shape))
                shifted.append(float(loss()))
            variable.assign(flat.reshape(variable.shape))
            numeric = (shifted[0] - shifted[1]) / (2 * epsilon)
            np.testing.assert_allclose(gradient.reshape(-1)[index], numeric, rtol=1e-5, atol=1e-7)
