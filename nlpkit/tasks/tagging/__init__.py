"""Sequence tagging (named entities): tokens -> word, character and casing features ->
bidirectional recurrent layers -> a softmax or a linear-chain CRF -> one tag per token.

`model` (TaggerOptions, build_tagger, serving_tagger), `data` (readers, tag schemes, token
features, raw-text splitting), `flags`, `metrics` (entity-level precision / recall / F1, in the
graph and by seqeval) and `export` (raw text in, tokens, tags and entity spans out; pre-split
tokens in, tags out).
"""

from nlpkit.tasks.tagging.data import (
    CASING_CLASSES,
    FILE_SCHEMES,
    MODEL_SCHEMES,
    TokenFeatures,
    casing_ids,
    check_known_tags,
    load_word_vectors,
    predict_tags,
    read_tagged_data,
    split_words,
    tag_names_of,
    tagged_examples,
    to_scheme,
    train_dev_split,
)
from nlpkit.tasks.tagging.export import (
    SIGNATURE_KEY,
    TEXT_OUTPUTS,
    TOKENS_SIGNATURE_KEY,
    entity_spans,
    export_tagger,
    tagger_archive,
)
from nlpkit.tasks.tagging.flags import (
    add_data_flags,
    add_tagger_flags,
    check_hub_encoder_flags,
    check_word_vector_flags,
)
from nlpkit.tasks.tagging.metrics import (
    EntityScore,
    entity_report,
    entity_scores,
    format_report,
)
from nlpkit.tasks.tagging.model import (
    CELLS,
    CHARACTER_ENCODERS,
    DECODERS,
    CharacterEncoder,
    TaggerOptions,
    build_tagger,
    padded_tag_crossentropy,
    serving_tagger,
    uses_crf,
)

__all__ = [
    "CASING_CLASSES",
    "CELLS",
    "CHARACTER_ENCODERS",
    "DECODERS",
    "FILE_SCHEMES",
    "MODEL_SCHEMES",
    "SIGNATURE_KEY",
    "TEXT_OUTPUTS",
    "TOKENS_SIGNATURE_KEY",
    "CharacterEncoder",
    "EntityScore",
    "TaggerOptions",
    "TokenFeatures",
    "add_data_flags",
    "add_tagger_flags",
    "build_tagger",
    "casing_ids",
    "check_hub_encoder_flags",
    "check_known_tags",
    "check_word_vector_flags",
    "entity_report",
    "entity_scores",
    "entity_spans",
    "export_tagger",
    "format_report",
    "load_word_vectors",
    "padded_tag_crossentropy",
    "predict_tags",
    "read_tagged_data",
    "serving_tagger",
    "split_words",
    "tag_names_of",
    "tagged_examples",
    "tagger_archive",
    "to_scheme",
    "train_dev_split",
    "uses_crf",
]
