"""Checks that a SavedModel is servable by TensorFlow Serving 2.20, without the server binary.

TensorFlow Serving loads a SavedModel only if every op in its graph is registered in the server
binary: TensorFlow's core ops plus the ops of the TF Text release linked into it (TF Text 2.20 for
Serving 2.20). Ops of a newer TF Text, or Python-only ops such as `tf.py_function`, fail at load
time ("Op type not registered", tensorflow/serving#4057). `unservable_ops` lists such ops from the
op lists committed next to this module (`tensorflow_2_20_ops.txt`, `tensorflow_text_2_20_ops.txt`;
their headers say how they were made).

Example:

    problems = unservable_ops(saved_model_op_types("saved_models/sentiment/3"))
    assert not problems, problems
"""

import functools
import importlib.resources
import os

from tensorflow.core.protobuf import saved_model_pb2

SERVING_RELEASE = "2.20"
CORE_OPS_FILE = "tensorflow_2_20_ops.txt"
TEXT_OPS_FILE = "tensorflow_text_2_20_ops.txt"
# Registered in TensorFlow, but their kernels call back into Python, which a server does not have.
PYTHON_ONLY_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})


def read_saved_model(saved_model_dir):
    """The `SavedModel` protocol buffer of `saved_model_dir/saved_model.pb`."""
    path = os.path.join(str(saved_model_dir), "saved_model.pb")
    with open(path, "rb") as file:
        return saved_model_pb2.SavedModel.FromString(file.read())


def signature_def(saved_model_dir, key="serving_default", tag="serve"):
    """The `SignatureDef` that TensorFlow Serving uses for `key` (in the meta graph tagged `tag`).

    Raises:
        KeyError: no meta graph with `tag`, or no signature `key` in it.
    """
    for meta_graph in read_saved_model(saved_model_dir).meta_graphs:
        if tag in meta_graph.meta_info_def.tags:
            if key not in meta_graph.signature_def:
                raise KeyError(
                    f"{saved_model_dir} has no signature {key!r}; it has "
                    f"{sorted(meta_graph.signature_def)}"
                )
            return meta_graph.signature_def[key]
    raise KeyError(f"{saved_model_dir} has no meta graph tagged {tag!r}")


def saved_model_op_types(saved_model_dir):
    """Every op type in the SavedModel: graph nodes and the nodes of all library functions.

    Calls of library functions by name are not ops and are left out (their bodies are listed).
    """
    op_types = set()
    for meta_graph in read_saved_model(saved_model_dir).meta_graphs:
        graph = meta_graph.graph_def
        functions = {function.signature.name for function in graph.library.function}
        nodes = list(graph.node)
        for function in graph.library.function:
            nodes.extend(function.node_def)
        op_types.update(node.op for node in nodes if node.op not in functions)
    return op_types


@functools.lru_cache(maxsize=None)
def _op_list(filename):
    text = importlib.resources.files(__package__).joinpath(filename).read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def core_ops():
    """Op types registered by TensorFlow 2.20 itself."""
    return _op_list(CORE_OPS_FILE)


def tf_text_ops():
    """Op types registered by TensorFlow Text 2.20."""
    return _op_list(TEXT_OPS_FILE)


def unservable_ops(op_types):
    """The ops TensorFlow Serving 2.20 cannot run, each with the reason.

    Args:
        op_types: op type names, e.g. from `saved_model_op_types`.

    Returns:
        `{op_type: reason}`, empty when every op is a TensorFlow 2.20 core op or a TF Text 2.20 op.
    """
    problems = {}
    for op_type in sorted(op_types):
        if op_type in PYTHON_ONLY_OPS:
            problems[op_type] = "calls back into Python, which TensorFlow Serving does not have"
        elif op_type not in core_ops() and op_type not in tf_text_ops():
            problems[op_type] = (
                f"not an op of TensorFlow {SERVING_RELEASE} or TF Text {SERVING_RELEASE}, "
                f"the releases in TensorFlow Serving {SERVING_RELEASE}"
            )
    return problems
