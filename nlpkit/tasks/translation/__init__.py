"""Translation: source text -> subword ids -> recurrent encoder -> attention decoder -> beam
search -> target text.

`model` (TranslatorOptions, Translator, the masked loss and token accuracy), `data` (pair
readers, splits grouped by source sentence, the two tokenizers), `flags`, `evaluation` (sacreBLEU
BLEU and chrF, batched translation, sample translations per epoch) and `export` (text in,
translation and score out; n-best with a beam size and length limit per request).
"""

from nlpkit.tasks.translation.data import (
    SOURCE_IDS,
    TARGET_INPUTS,
    TOKENIZERS,
    PairTokenizers,
    length_statistics,
    read_pairs,
    source_key,
    split_pairs,
)
from nlpkit.tasks.translation.evaluation import SampleTranslations, bleu_report, translate_texts
from nlpkit.tasks.translation.export import (
    MAX_BEAM_SIZE,
    NBEST_SIGNATURE_KEY,
    SIGNATURE_KEY,
    export_translator,
    translate_batch,
    translator_archive,
)
from nlpkit.tasks.translation.flags import (
    add_data_flags,
    add_decoding_flags,
    add_translator_flags,
)
from nlpkit.tasks.translation.model import (
    ATTENTIONS,
    CELLS,
    LUONG_SCORES,
    TiedOutput,
    TokenAccuracy,
    Translator,
    TranslatorOptions,
    padded_token_crossentropy,
)

__all__ = [
    "ATTENTIONS",
    "CELLS",
    "LUONG_SCORES",
    "MAX_BEAM_SIZE",
    "NBEST_SIGNATURE_KEY",
    "SIGNATURE_KEY",
    "SOURCE_IDS",
    "TARGET_INPUTS",
    "TOKENIZERS",
    "PairTokenizers",
    "SampleTranslations",
    "TiedOutput",
    "TokenAccuracy",
    "Translator",
    "TranslatorOptions",
    "add_data_flags",
    "add_decoding_flags",
    "add_translator_flags",
    "bleu_report",
    "export_translator",
    "length_statistics",
    "padded_token_crossentropy",
    "read_pairs",
    "source_key",
    "split_pairs",
    "translate_batch",
    "translate_texts",
    "translator_archive",
]
