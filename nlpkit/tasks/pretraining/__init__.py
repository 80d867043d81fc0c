"""Pretraining (ELMo-style): a bidirectional language model with character-aware word inputs,
trained with truncated BPTT on plain text, exported as a per-token TF Hub module that the NER
and sentiment recipes read with `--hub-encoder`.

`model` (BiLMOptions, character_ids, CharacterWordEncoder, build_bidirectional_lm,
BiLMTokenEncoder), `data` (the forward and backward TBPTT streams) and `export` (export_bilm).
"""

from nlpkit.tasks.pretraining.data import bidirectional_examples
from nlpkit.tasks.pretraining.export import export_bilm
from nlpkit.tasks.pretraining.model import (
    BiLMOptions,
    BiLMTokenEncoder,
    CharacterWordEncoder,
    build_bidirectional_lm,
    character_ids,
)

__all__ = [
    "BiLMOptions",
    "BiLMTokenEncoder",
    "CharacterWordEncoder",
    "bidirectional_examples",
    "build_bidirectional_lm",
    "character_ids",
    "export_bilm",
]
