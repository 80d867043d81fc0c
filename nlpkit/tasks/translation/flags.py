"""The command-line flags of translation recipes: data and vocabularies, the model, decoding.

The model's flags are generated from `TranslatorOptions` (`nlpkit.cli.add_option_flags`); the
data and decoding flags are written out here.
"""

import argparse

from nlpkit import cli
from nlpkit.cli import NumberRange, add_option_flags, non_negative_int, positive_int
from nlpkit.tasks.translation.data import TOKENIZERS
from nlpkit.tasks.translation.model import TranslatorOptions
from nlpkit.text import RESERVED_TOKENS

# The reserved tokens ([PAD], [UNK], [BOS], [EOS]) and at least a few pieces.
VOCABULARY_SIZE = NumberRange(int, minimum=len(RESERVED_TOKENS) + 16)
held_out_fraction = NumberRange(float, minimum=0, maximum=1, exclusive_maximum=True)
non_negative_float = NumberRange(float, minimum=0)
at_least_one = NumberRange(float, minimum=1)
# [BOS], [EOS] and at least one piece.
TARGET_LENGTH = NumberRange(int, minimum=3)
NORMALIZATIONS = ("NFKC", "NFC", "NFD", "NFKD", "none")
SIDES = ("source", "target", "both")


def add_translator_flags(parser):
    """Adds one flag per `TranslatorOptions` field as the group "model"; returns the group."""
    return add_option_flags(parser, TranslatorOptions, "model")


def add_data_flags(parser):
    """Adds the data flags of a translation recipe (group "data and vocabularies"): the dev
    and test sets, the TSV columns, the tokenizers and their vocabularies, lower-casing,
    normalization and length limits. Every flag's help states its default."""
    data = parser.add_argument_group("data and vocabularies")
    cli.add_dev_split_flags(data, seed_of="the train/dev/test split, grouped by source "
                            "sentence", nargs="+")
    data.add_argument("--test-fraction", type=held_out_fraction, default=0.0,
                      help="share of --data also held out as a test set, grouped by source "
                      "sentence like the dev set, scored after training "
                      f"({held_out_fraction}; default: %(default)s, i.e. no test set)")
    data.add_argument("--source-column", type=non_negative_int, default=0, metavar="I",
                      help="column of the source sentences in a TSV file, 0 the first "
                      f"({non_negative_int}; default: %(default)s)")
    data.add_argument("--target-column", type=non_negative_int, default=1, metavar="I",
                      help=f"column of the target sentences ({non_negative_int}; default: "
                      "%(default)s)")
    data.add_argument("--skip-bad-lines", action="store_true",
                      help="skip malformed lines (a missing column, an empty side) and count "
                      "them, instead of stopping at the first (default: stop)")
    data.add_argument("--tokenizer", choices=TOKENIZERS, default="wordpiece",
                      help="WordPiece subwords of whitespace words (TF Text; detokenizes "
                      "exactly) or words split by script (default: %(default)s)")
    data.add_argument("--source-vocab-size", type=VOCABULARY_SIZE, default=8000,
                      help=f"source vocabulary size ({VOCABULARY_SIZE}; default: %(default)s)")
    data.add_argument("--target-vocab-size", type=VOCABULARY_SIZE, default=8000,
                      help=f"target vocabulary size ({VOCABULARY_SIZE}; default: %(default)s)")
    data.add_argument("--lowercase-source", action=argparse.BooleanOptionalAction,
                      default=True, help="lower-case the source (default: %(default)s)")
    data.add_argument("--lowercase-target", action=argparse.BooleanOptionalAction,
                      default=False, help="lower-case the target; translations then come out "
                      "lower-cased and are scored against lower-cased references "
                      "(default: %(default)s)")
    data.add_argument("--normalization", choices=NORMALIZATIONS, default="NFKC",
                      help="Unicode normalization of both sides, in the graph "
                      "(default: %(default)s)")
    data.add_argument("--max-source-length", type=positive_int, default=64,
                      help="source pieces read; longer training and served sources are cut "
                      f"({positive_int}; default: %(default)s)")
    data.add_argument("--max-target-length", type=TARGET_LENGTH, default=64,
                      help="target pieces trained on, [BOS] and [EOS] included; translations "
                      f"have at most one less ({TARGET_LENGTH}; default: %(default)s)")
    data.add_argument("--embeddings-side", choices=SIDES, default="target",
                      help="which side --embeddings initialises (the vectors' language; "
                      "GloVe is English) (default: %(default)s)")
    return data


def add_decoding_flags(parser):
    """Adds the decoding flags (group "decoding"): beam size, length penalty, length limit and
    the sample translations printed after each epoch."""
    group = parser.add_argument_group("decoding")
    group.add_argument("--beam-size", type=positive_int, default=4,
                       help="beam of the search in evaluation and in the export's "
                       f"serving_default; 1 is greedy ({positive_int}; default: %(default)s)")
    group.add_argument("--length-penalty", type=non_negative_float, default=0.6,
                       help="alpha of the GNMT length penalty ((5 + length) / 6) ** alpha "
                       f"(0: raw log-probability) ({non_negative_float}; default: %(default)s)")
    group.add_argument("--max-length-ratio", type=at_least_one, default=2.0,
                       help="a translation has at most this many times its source's pieces, "
                       "plus 10, and never more than --max-target-length "
                       f"({at_least_one}; default: %(default)s)")
    group.add_argument("--samples", type=non_negative_int, default=3,
                       help="dev translations printed after each epoch "
                       f"({non_negative_int}; default: %(default)s)")
    return group
