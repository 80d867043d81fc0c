"""SavedModel exports that TensorFlow Serving loads: versioned, atomic, checked.

- `export_model`: any `keras.export.ExportArchive` -> `<export_base>/<version>/`, all or nothing.
- `export_classifier`: raw text in, `probabilities` / `label` / `score` out.
- `serving_contract`: op-level check against TensorFlow Serving 2.20 and signature inspection.
"""

from nlpkit.export.classifier import (
    INPUT_NAME,
    OUTPUT_NAMES,
    SIGNATURE_KEY,
    LabelLookup,
    check_labels,
    classifier_archive,
    export_classifier,
)
from nlpkit.export.serving_contract import (
    SERVING_RELEASE,
    saved_model_op_types,
    signature_def,
    unservable_ops,
)
from nlpkit.export.versioned import (
    INCOMPLETE_PREFIX,
    RUN_CONFIG_PATH,
    existing_versions,
    export_model,
    load_latest,
    next_version,
)

__all__ = [
    "INCOMPLETE_PREFIX",
    "INPUT_NAME",
    "OUTPUT_NAMES",
    "RUN_CONFIG_PATH",
    "SERVING_RELEASE",
    "SIGNATURE_KEY",
    "LabelLookup",
    "check_labels",
    "classifier_archive",
    "existing_versions",
    "export_classifier",
    "export_model",
    "load_latest",
    "next_version",
    "saved_model_op_types",
    "signature_def",
    "unservable_ops",
]
