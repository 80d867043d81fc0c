"""What every task's SavedModel export shares: versioned, atomic directories and the serving check.

May import `nlpkit.training` (chief-aware writing), `nlpkit.atomic_files`, and the layers, text and
data packages for the modules it builds itself (`word_vectors_module`); never a task.

- `export_model`: any `keras.export.ExportArchive` -> `<export_base>/<version>/`, all or nothing.
- `serving_contract`: op-level check against TensorFlow Serving 2.20 and signature inspection.
- `export_text_encoder`: a text encoder (tokenizer + encoder layers) as a reusable TF Hub module.

Each task builds its own signature on top (e.g. `nlpkit.tasks.classification.export`).
"""

from nlpkit.export.serving_contract import (
    SERVING_RELEASE,
    saved_model_op_types,
    signature_def,
    unservable_ops,
)
from nlpkit.export.text_encoder import TextEncoderArchive, export_text_encoder
from nlpkit.export.versioned import (
    INCOMPLETE_PREFIX,
    RUN_CONFIG_PATH,
    existing_versions,
    export_model,
    load_latest,
    next_version,
    remove_stale_staging,
)

__all__ = [
    "INCOMPLETE_PREFIX",
    "RUN_CONFIG_PATH",
    "SERVING_RELEASE",
    "TextEncoderArchive",
    "existing_versions",
    "export_model",
    "export_text_encoder",
    "load_latest",
    "next_version",
    "remove_stale_staging",
    "saved_model_op_types",
    "signature_def",
    "unservable_ops",
]
