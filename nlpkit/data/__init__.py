"""Dataset readers, seeded splits and the shared tf.data pipeline.
Imports no other nlpkit package (text, training, export and tasks build on it).

Readers return plain Python/NumPy containers (`LabelledTexts`, `TaggedSentences`,
`SentencePairs`) with `to_dataset()` for tf.data; malformed files raise `DataFormatError`
naming the file, line, what was expected and what was found, or with `skip_bad_lines=True`
skip bad lines and count them in `.skipped`.
"""

from nlpkit.data.charlm import (
    char_windows,
    read_text,
    stateful_batches,
    stream_examples,
)
from nlpkit.data.conll import TaggedSentences, iob1_to_iob2, read_conll
from nlpkit.data.errors import DataFormatError
from nlpkit.data.labelled import (
    LabelledTexts,
    read_class_folders,
    read_labelled_table,
    read_line_files,
)
from nlpkit.data.locations import shared_datasets_dir
from nlpkit.data.pairs import SentencePairs, read_parallel_files, read_tsv_pairs
from nlpkit.data.pipeline import make_pipeline, preprocess_in_batches
from nlpkit.data.splits import (
    split_contiguous,
    split_examples,
    split_grouped,
    split_grouped_indices,
    split_indices,
)

__all__ = [
    "DataFormatError",
    "LabelledTexts",
    "SentencePairs",
    "TaggedSentences",
    "char_windows",
    "iob1_to_iob2",
    "make_pipeline",
    "preprocess_in_batches",
    "read_class_folders",
    "read_conll",
    "read_labelled_table",
    "read_line_files",
    "read_parallel_files",
    "read_text",
    "read_tsv_pairs",
    "shared_datasets_dir",
    "split_contiguous",
    "split_examples",
    "split_grouped",
    "split_grouped_indices",
    "split_indices",
    "stateful_batches",
    "stream_examples",
]
