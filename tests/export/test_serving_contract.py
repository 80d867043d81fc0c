"""The TensorFlow Serving contract, proven without the server binary.

(a) every op in an export is a TensorFlow 2.20 or TF Text 2.20 op; (b) a real `PredictRequest`
matches the signature; (c) `saved_model_cli show --all` lists the signature as documented in
saved_models/README.md.
"""

import ast
import pathlib
import re

import pytest
import tensorflow as tf

from nlpkit.export import saved_model_op_types, signature_def, unservable_ops
from nlpkit.tasks.classification.export import (
    INPUT_NAME,
    OUTPUT_NAMES,
    SIGNATURE_KEY,
    export_classifier,
)
from nlpkit.export import serving_contract
from tests.export.serving_checks import assert_cli_shows_documented_block
from tests.export.tiny_classifier import (
    LABELS,
    SEQUENCE_LENGTH,
    VOCABULARY,
    WhitespaceTokenIds,
    build_classifier,
)



@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("exports") / "sentiment"
    preprocessor = WhitespaceTokenIds(VOCABULARY, SEQUENCE_LENGTH)
    return export_classifier(preprocessor, build_classifier(), LABELS, str(base))


# (a) ops


def test_every_op_in_the_export_is_servable_by_tensorflow_serving_2_20(export_dir):
    op_types = saved_model_op_types(export_dir)
    assert unservable_ops(op_types) == {}
    # The TF Text ops of the preprocessing were found and accepted as TF Text 2.20 ops ...
    text_ops = {"TFText>WhitespaceTokenizeWithOffsetsV2", "CaseFoldUTF8"}
    assert text_ops <= op_types and text_ops <= serving_contract.tf_text_ops()
    # ... and ops that only occur inside library functions were listed too.
    top_level = {
        node.op
        for meta_graph in serving_contract.read_saved_model(export_dir).meta_graphs
        for node in meta_graph.graph_def.node
    }
    assert "MatMul" in op_types and "MatMul" not in top_level


def test_unservable_ops_names_python_ops_newer_ops_and_unknown_ops():
    problems = unservable_ops(
        {"MatMul", "CaseFoldUTF8", "EagerPyFunc", "DecodeJxl", "TFText>NotAnOp"}
    )
    assert set(problems) == {"EagerPyFunc", "DecodeJxl", "TFText>NotAnOp"}
    assert "Python" in problems["EagerPyFunc"]
    # DecodeJxl is a TensorFlow 2.21 op: the 2.20 server does not have it.
    assert "TensorFlow 2.20" in problems["DecodeJxl"]


def test_a_py_function_in_a_real_graph_is_caught(tmp_path):
    class Doubler(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def serve(self, x):
            return tf.py_function(lambda v: v * 2, [x], tf.float32)

    module = Doubler()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.serve})
    problems = unservable_ops(saved_model_op_types(tmp_path))
    assert list(problems) == ["EagerPyFunc"]


def test_committed_op_lists_are_well_formed():
    core, text = serving_contract.core_ops(), serving_contract.tf_text_ops()
    assert len(core) > 1500 and len(text) > 30
    assert not core & text
    for filename in (serving_contract.CORE_OPS_FILE, serving_contract.TEXT_OPS_FILE):
        path = pathlib.Path(serving_contract.__file__).with_name(filename)
        names = [line for line in path.read_text().splitlines() if not line.startswith("#")]
        assert names == sorted(set(names)) and all(re.fullmatch(r"[\w>]+", n) for n in names)


# (b) PredictRequest


def test_predict_request_matches_the_signature(export_dir):
    predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    signature = signature_def(export_dir, SIGNATURE_KEY)
    assert set(signature.inputs) == {INPUT_NAME}
    assert set(signature.outputs) == set(OUTPUT_NAMES)
    assert signature.method_name == "tensorflow/serving/predict"

    sentences = ["a good film", "bad", ""]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "sentiment"
    request.model_spec.signature_name = SIGNATURE_KEY
    request.inputs[INPUT_NAME].CopyFrom(tf.make_tensor_proto(sentences, dtype=tf.string))
    request = predict_pb2.PredictRequest.FromString(request.SerializeToString())  # the wire

    # What the server checks: the same input names, dtypes, and shapes that fit.
    assert set(request.inputs) == set(signature.inputs)
    for name, tensor in request.inputs.items():
        expected = signature.inputs[name]
        assert tensor.dtype == expected.dtype == tf.string.as_datatype_enum
        assert tf.TensorShape(expected.tensor_shape).is_compatible_with(
            tf.TensorShape(tensor.tensor_shape)
        )

    # Run the request's tensors through the signature and answer with a PredictResponse.
    serve = tf.saved_model.load(export_dir).signatures[request.model_spec.signature_name]
    outputs = serve(**{name: tf.make_ndarray(t) for name, t in request.inputs.items()})
    response = predict_pb2.PredictResponse()
    for name, value in outputs.items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
    assert set(response.outputs) == set(signature.outputs)
    for name, tensor in response.outputs.items():
        expected = signature.outputs[name]
        assert tensor.dtype == expected.dtype
        shape = tf.TensorShape(tensor.tensor_shape)
        assert tf.TensorShape(expected.tensor_shape).is_compatible_with(shape)
        assert shape[0] == len(sentences)
    assert tf.make_ndarray(response.outputs["probabilities"]).shape == (3, len(LABELS))
    assert {label.decode() for label in tf.make_ndarray(response.outputs["label"])} <= set(LABELS)


# (c) saved_model_cli


def test_saved_model_cli_lists_the_signature_as_documented(export_dir):
    lines = assert_cli_shows_documented_block(export_dir, None)
    # saved_model_cli's own op listing finds nothing that nlpkit's listing missed.
    listed = next(line for line in lines if "contains the following ops:" in line)
    cli_ops = ast.literal_eval(listed.split("ops:", 1)[1].strip())
    assert cli_ops <= saved_model_op_types(export_dir)
