"""In-graph text processing: tokenizer layers, vocabularies, pretrained word vectors.
May import `nlpkit.data` (its `DataFormatError`); never training, export, tasks or cli.

Tokenizer layers turn a batch of raw strings into token ids inside the TensorFlow graph, so an
exported model takes sentences. Vocabularies reserve ids 0 `[PAD]`, 1 `[UNK]`, 2 `[BOS]`,
3 `[EOS]`. `word_vectors` streams GloVe/word2vec/fastText vector files into embedding matrices.
"""

from nlpkit.text.tokenizers import (
    GRAPHEME_PATTERN,
    CharacterTokenizer,
    WordPieceTokenizer,
    WordsAndIds,
    WordSplitter,
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
from nlpkit.text.word_vectors import (
    Coverage,
    EmbeddingMatrix,
    WordVectors,
    add_vector_words,
    embedding_matrix,
    first_words,
    iter_word_vectors,
    read_word_vectors,
    vector_dimension,
    vocabulary_vectors,
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
    "Coverage",
    "EmbeddingMatrix",
    "Vocabulary",
    "WordPieceTokenizer",
    "WordsAndIds",
    "WordSplitter",
    "WordTokenizer",
    "WordVectors",
    "add_vector_words",
    "embedding_matrix",
    "first_words",
    "iter_word_vectors",
    "learn_wordpiece_vocabulary",
    "read_word_vectors",
    "replace_invalid_utf8",
    "vector_dimension",
    "vocabulary_vectors",
]
