"""The serving signature of a text classifier: raw text in, named predictions out.

The exported `serving_default` signature is

    inputs:   text           tf.string   [batch]           raw UTF-8 sentences
    outputs:  probabilities  tf.float32  [batch, classes]  one row per sentence, sums to 1
              label          tf.string   [batch]           the most probable class name
              score          tf.float32  [batch]           its probability

Preprocessing (a Keras layer mapping strings to token ids, with its vocabulary) and the label
names (an asset, `assets/labels.txt`, one per line, looked up in the graph) are inside the
SavedModel, so serving it needs TensorFlow (and TF Text if the preprocessing uses its ops) but no
nlpkit. A model that reads the text itself (a TF Hub encoder, `nlpkit.layers.HubLayer`) is
exported without a preprocessor: the module's graph, tables and variables go into the SavedModel,
and the signature is the same.

Example:

    vectorize = keras.layers.TextVectorization(output_sequence_length=32)
    vectorize.adapt(train_sentences)
    version_dir = export_classifier(
        vectorize, model, ["negative", "positive"], "saved_models/sentiment",
        run_config=run_config(args))
"""

import os
import tempfile

import keras
import tensorflow as tf

from nlpkit.export import export_model

SIGNATURE_KEY = "serving_default"
INPUT_NAME = "text"
OUTPUT_NAMES = ("probabilities", "label", "score")
LABELS_FILENAME = "labels.txt"


def check_labels(labels):
    """Returns `labels` as a list after checking they can be one-per-line asset entries.

    Raises:
        ValueError: empty list, an empty or repeated label, or one containing a line break.
    """
    labels = list(labels)
    if not labels:
        raise ValueError("a classifier needs at least one label")
    seen = set()
    for index, label in enumerate(labels):
        if not isinstance(label, str) or not label or "\n" in label or "\r" in label:
            raise ValueError(
                f"label {index} must be a non-empty string without line breaks, got {label!r}"
            )
        if label in seen:
            raise ValueError(f"label {index} ({label!r}) is repeated")
        seen.add(label)
    return labels


class LabelLookup(tf.Module):
    """Class index -> label name, read from a one-label-per-line file that becomes an asset."""

    def __init__(self, labels_file):
        super().__init__(name="label_lookup")
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                labels_file,
                key_dtype=tf.int64,
                key_index=tf.lookup.TextFileIndex.LINE_NUMBER,
                value_dtype=tf.string,
                value_index=tf.lookup.TextFileIndex.WHOLE_LINE,
            ),
            default_value="",
        )


def classifier_archive(preprocessor, model, labels_file, num_labels, *, from_logits=False):
    """A `keras.export.ExportArchive` whose `serving_default` maps raw text to predictions.

    Args:
        preprocessor: a built Keras layer (or `None` if `model` takes strings itself) mapping a
            `tf.string` tensor of shape `[batch]` to the model's input, e.g. token ids
            `[batch, time]`. It must be traceable with TensorFlow ops only (no `py_function`).
        model: a Keras model mapping the preprocessor's output to `[batch, num_labels]`
            probabilities (or logits, see `from_logits`).
        labels_file: a file with the label names, one per line, in class-index order; it is
            copied into the SavedModel's `assets/`. It must exist until the archive is written.
        num_labels: number of labels in `labels_file`, checked against the model's output.
        from_logits: the model outputs logits; the signature applies a softmax.

    Raises:
        ValueError: the model's output width differs from `num_labels`, or without a
            preprocessor the model does not take strings.
    """
    inputs = getattr(model, "inputs", None) or []
    if preprocessor is None and len(inputs) == 1 and inputs[0].dtype != "string":
        raise ValueError(
            f"without a preprocessor the model must take the raw text (a string input); "
            f"{model.name!r} takes {inputs[0].dtype} of shape {inputs[0].shape}: pass the "
            "tokenizer that makes its input")
    label_lookup = LabelLookup(labels_file)

    def serve(text):
        features = text if preprocessor is None else preprocessor(text)
        outputs = tf.cast(model(features, training=False), tf.float32)
        if outputs.shape.rank != 2 or outputs.shape[-1] != num_labels:
            raise ValueError(
                f"the model outputs shape {outputs.shape}, expected [batch, {num_labels}] "
                f"for {num_labels} labels"
            )
        # shape: (batch, classes)
        probabilities = tf.nn.softmax(outputs, axis=-1) if from_logits else outputs
        best = tf.argmax(probabilities, axis=-1)
        return {
            "probabilities": probabilities,
            "label": label_lookup.table.lookup(best),
            "score": tf.reduce_max(probabilities, axis=-1),
        }

    archive = keras.export.ExportArchive()
    if preprocessor is not None:
        if not preprocessor.built:
            # Preprocessing layers (TextVectorization, ...) build on their first call, and
            # ExportArchive only tracks built layers.
            preprocessor(tf.constant([""]))
        archive.track(preprocessor)
    archive.track(model)
    archive.track(label_lookup)
    archive.add_endpoint(
        name=SIGNATURE_KEY,
        fn=serve,
        input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name=INPUT_NAME)],
    )
    return archive


def export_classifier(
    preprocessor,
    model,
    labels,
    export_base,
    *,
    version=None,
    run_config=None,
    from_logits=False,
    chief=None,
):
    """Exports a text classifier as `<export_base>/<version>/` for TensorFlow Serving.

    Args:
        preprocessor: Keras layer from `tf.string` `[batch]` to the model's input (see
            `classifier_archive`), or `None` for a model that takes the strings itself (e.g. one
            on a TF Hub encoder).
        model: Keras model from the preprocessor's output to `[batch, len(labels)]`
            probabilities (or logits with `from_logits=True`).
        labels: class names in class-index order.
        export_base: the model's base directory, e.g. `saved_models/sentiment`.
        version: integer version, `None` for the next free one.
        run_config: optional JSON-ready dict stored as `assets.extra/run_config.json`.
        from_logits: the model outputs logits.
        chief: see `export_model`.

    Returns:
        The new version directory (`None` on non-chief workers).
    """
    labels = check_labels(labels)
    with tempfile.TemporaryDirectory(prefix="nlpkit-labels-") as labels_dir:
        labels_file = os.path.join(labels_dir, LABELS_FILENAME)
        with open(labels_file, "w", encoding="utf-8", newline="\n") as file:
            file.write("".join(label + "\n" for label in labels))
        archive = classifier_archive(
            preprocessor, model, labels_file, len(labels), from_logits=from_logits
        )
        return export_model(
            archive, export_base, version=version, run_config=run_config, chief=chief
        )
