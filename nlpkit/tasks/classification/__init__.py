"""Text classification: text -> token ids -> embedding -> encoder -> pooling -> class probabilities,
or text -> a TF Hub module -> class probabilities.

`model` (ClassifierOptions, build_classifier), `data` (readers, splits, tokenizers), `flags`,
`metrics` (accuracy, macro F1) and `export` (raw text in, probabilities / label / score out).
"""

from nlpkit.tasks.classification.data import (
    fit_tokenizer,
    load_word_vectors,
    model_inputs,
    padded_token_ids,
    read_labelled_data,
    text_examples,
    tokenized_examples,
    train_dev_split,
)
from nlpkit.tasks.classification.export import (
    INPUT_NAME,
    LABELS_FILENAME,
    OUTPUT_NAMES,
    SIGNATURE_KEY,
    LabelLookup,
    check_labels,
    classifier_archive,
    export_classifier,
)
from nlpkit.tasks.classification.flags import (
    add_classifier_flags,
    add_data_flags,
    check_data_flags,
    check_hub_encoder_flags,
    check_word_vector_flags,
)
from nlpkit.tasks.classification.metrics import classification_report, format_report
from nlpkit.tasks.classification.model import (
    CELLS,
    EMBEDDING_DROPOUT_UNITS,
    ENCODERS,
    POOLINGS,
    ClassifierOptions,
    adapt_classifier,
    build_classifier,
    classify,
    embed,
    encode,
    hub_encode,
    pool,
    sentence_encoder,
)

__all__ = [
    "CELLS",
    "EMBEDDING_DROPOUT_UNITS",
    "ENCODERS",
    "INPUT_NAME",
    "LABELS_FILENAME",
    "OUTPUT_NAMES",
    "POOLINGS",
    "SIGNATURE_KEY",
    "ClassifierOptions",
    "LabelLookup",
    "adapt_classifier",
    "add_classifier_flags",
    "add_data_flags",
    "build_classifier",
    "check_data_flags",
    "check_hub_encoder_flags",
    "check_labels",
    "check_word_vector_flags",
    "classification_report",
    "classifier_archive",
    "classify",
    "embed",
    "encode",
    "export_classifier",
    "fit_tokenizer",
    "format_report",
    "hub_encode",
    "load_word_vectors",
    "model_inputs",
    "padded_token_ids",
    "pool",
    "read_labelled_data",
    "sentence_encoder",
    "text_examples",
    "tokenized_examples",
    "train_dev_split",
]
