"""In-graph text processing: tokenizer layers and vocabularies.
May import `nlpkit.data` (its `DataFormatError`); never training, export, tasks or cli.

Tokenizer layers turn a batch of raw strings into token ids inside the TensorFlow graph, so an
exported model takes sentences. Vocabularies reserve ids 0 `[PAD]`, 1 `[UNK]`, 2 `[BOS]`,
3 `[EOS]`.
"""

from nlpkit.text.tokenizers import (
    GRAPHEME_PATTERN,
    CharacterTokenizer,
    WordPieceTokenizer,
    WordTokenizer,
    learn_wordpiece_vocabulary,
    replace_invalid_utf8,
)
from nlpkit.text.vocabulary import (
    BOS_ID,
    BOS_TOKEN,
    EOS_ID,
    EOS_TOKEN,
    OOV_ID,
    OOV_TOKEN,
    PAD_ID,
    PAD_TOKEN,
    RESERVED_TOKENS,
    Vocabulary,
)

__all__ = [
    "BOS_ID",
    "BOS_TOKEN",
    "EOS_ID",
    "EOS_TOKEN",
    "GRAPHEME_PATTERN",
    "OOV_ID",
    "OOV_TOKEN",
    "PAD_ID",
    "PAD_TOKEN",
    "RESERVED_TOKENS",
    "CharacterTokenizer",
    "Vocabulary",
    "WordPieceTokenizer",
    "WordTokenizer",
    "learn_wordpiece_vocabulary",
    "replace_invalid_utf8",
]
