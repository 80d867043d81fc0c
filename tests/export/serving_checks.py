"""What every export test checks of the TensorFlow Serving contract, without the server binary.

`predict_through_wire` sends inputs to a signature the way TensorFlow Serving's Predict API receives
them (a `PredictRequest` serialized and parsed again) and checks the request and the answer against
the signature def; `assert_cli_shows_documented_block` checks that `saved_model_cli show --all`
prints what saved_models/README.md says it prints.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import tensorflow as tf

from nlpkit.export import signature_def

README = pathlib.Path(__file__).resolve().parents[2] / "saved_models" / "README.md"


def predict_through_wire(loaded, saved_model_dir, key, inputs):
    """Runs signature `key` of `loaded` on a `PredictRequest` made of `inputs` (name ->
    `TensorProto`) after a round trip through its wire format; returns the outputs (name ->
    tensor).

    Asserts what the server checks: the signature's method is Predict, the request names exactly
    the signature's inputs with their dtypes and shapes that fit; and that the outputs are exactly
    the signature's, with its dtypes and shapes that fit. Skips when `tensorflow-serving-api` is
    not installed.
    """
    predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    signature = signature_def(saved_model_dir, key)
    assert signature.method_name == "tensorflow/serving/predict"
    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = key
    for name, proto in inputs.items():
        request.inputs[name].CopyFrom(proto)
    request = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    assert set(request.inputs) == set(signature.inputs)
    for name, tensor in request.inputs.items():
        assert tensor.dtype == signature.inputs[name].dtype
        assert tf.TensorShape(signature.inputs[name].tensor_shape).is_compatible_with(
            tf.TensorShape(tensor.tensor_shape))
    outputs = loaded.signatures[request.model_spec.signature_name](
        **{name: tf.make_ndarray(tensor) for name, tensor in request.inputs.items()})
    assert set(outputs) == set(signature.outputs)
    for name, value in outputs.items():
        expected = signature.outputs[name]
        assert value.dtype.as_datatype_enum == expected.dtype
        assert tf.TensorShape(expected.tensor_shape).is_compatible_with(value.shape)
    return outputs


def saved_model_cli():
    """The `saved_model_cli` installed with this Python's TensorFlow (None when there is none)."""
    beside_python = pathlib.Path(sys.executable).with_name("saved_model_cli")
    return str(beside_python) if beside_python.exists() else shutil.which("saved_model_cli")


def documented_cli_lines(block):
    """The lines of the README's `<!-- saved_model_cli:BLOCK:begin -->` code block (the block
    without a name when `block` is None)."""
    tag = "saved_model_cli" if block is None else f"saved_model_cli:{block}"
    found = re.search(rf"<!-- {tag}:begin -->\s*```\n(.*?)```\s*<!-- {tag}:end -->",
                      README.read_text(encoding="utf-8"), re.S)
    assert found, f"{README} has no {tag} block"
    return found.group(1).rstrip("\n").splitlines()


def assert_cli_shows_documented_block(saved_model_dir, block):
    """Runs `saved_model_cli show --all` on the export and asserts that its output contains the
    README block `block` (see `documented_cli_lines`) line for line; returns the output's lines."""
    command = saved_model_cli()
    assert command, "saved_model_cli (installed with tensorflow) was not found"
    result = subprocess.run([command, "show", "--all", "--dir", str(saved_model_dir)],
                            capture_output=True, text=True, timeout=120,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    documented = documented_cli_lines(block)
    assert documented[0] in lines, "\n".join(lines)
    start = lines.index(documented[0])
    assert lines[start : start + len(documented)] == documented, "\n".join(lines)
    return lines
