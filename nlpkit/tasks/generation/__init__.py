"""Language models over characters or words, trained with truncated backpropagation through
time: unit ids -> embedding (or one-hot) -> recurrent layers that carry their state from one
window of the text to the next -> next-unit logits.

`data` (UnitVocabulary, the contiguous train/validation split, streams of BPTT windows),
`model` (LanguageModelOptions, build_language_model, CarriedStateResets, evaluate_carried and the
nats / bits / perplexity helpers), `flags` and `export` (sampling, streaming and scoring
signatures for TensorFlow Serving).
"""

from nlpkit.tasks.generation.data import (
    END_OF_LINE,
    UNITS,
    UNKNOWN_CHARACTER,
    UNKNOWN_WORD,
    UnitVocabulary,
    require_one_window_per_stream,
    stream_examples,
    text_lines,
    text_words,
    train_validation_text,
)
from nlpkit.tasks.generation.learning_curve import plot_learning_curve
from nlpkit.tasks.generation.export import (
    INITIAL_STATE_SIGNATURE_KEY,
    MAX_GENERATED_UNITS,
    SCORE_SIGNATURE_KEY,
    SIGNATURE_KEY,
    START_UNITS,
    STEP_SIGNATURE_KEY,
    decode_units,
    export_language_model,
    language_model_archive,
    start_id,
)
from nlpkit.tasks.generation.flags import add_data_flags, add_language_model_flags
from nlpkit.tasks.generation.model import (
    CELLS,
    UNIT_IDS,
    CarriedStateResets,
    LanguageModelOptions,
    bits_per_unit,
    build_language_model,
    evaluate_carried,
    language_model_loss,
    nats_per_unit,
    perplexity,
    reset_carried_states,
    stateful_batch_size,
    stateful_copy,
    stateful_layers,
    unit_cross_entropies,
)

__all__ = [
    "plot_learning_curve",
    "CELLS",
    "END_OF_LINE",
    "INITIAL_STATE_SIGNATURE_KEY",
    "MAX_GENERATED_UNITS",
    "SCORE_SIGNATURE_KEY",
    "SIGNATURE_KEY",
    "START_UNITS",
    "STEP_SIGNATURE_KEY",
    "UNITS",
    "UNIT_IDS",
    "UNKNOWN_CHARACTER",
    "UNKNOWN_WORD",
    "CarriedStateResets",
    "LanguageModelOptions",
    "UnitVocabulary",
    "require_one_window_per_stream",
    "add_data_flags",
    "add_language_model_flags",
    "bits_per_unit",
    "build_language_model",
    "decode_units",
    "evaluate_carried",
    "export_language_model",
    "language_model_archive",
    "language_model_loss",
    "nats_per_unit",
    "perplexity",
    "reset_carried_states",
    "start_id",
    "stateful_batch_size",
    "stateful_copy",
    "stateful_layers",
    "stream_examples",
    "text_lines",
    "text_words",
    "train_validation_text",
    "unit_cross_entropies",
]
