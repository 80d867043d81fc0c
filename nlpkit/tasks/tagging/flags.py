"""The command-line flags of tagging recipes: data, tag schemes and vocabularies, and the model.

The model's flags are generated from `TaggerOptions` (`nlpkit.cli.add_option_flags`); the data
flags are written out here. The pretrained word-vector flags are every recipe's
(`nlpkit.cli.add_word_vector_flags`); `check_word_vector_flags` checks them against the file.
"""

import argparse

from nlpkit import cli
from nlpkit.cli import NumberRange, add_option_flags, any_int, positive_int
from nlpkit.data import DataFormatError
from nlpkit.layers import token_module
from nlpkit.tasks.tagging.data import FILE_SCHEMES, MODEL_SCHEMES, UNITS
from nlpkit.tasks.tagging.model import TaggerOptions
from nlpkit.text import RESERVED_TOKENS, vector_dimension

# The reserved tokens ([PAD], [UNK], [BOS], [EOS]) and at least one word.
VOCABULARY_SIZE = NumberRange(int, minimum=len(RESERVED_TOKENS) + 1)


def add_tagger_flags(parser):
    """Adds one flag per `TaggerOptions` field as the group "model"; returns the group."""
    return add_option_flags(parser, TaggerOptions, "model")


def add_data_flags(parser):
    """Adds the data flags of a tagging recipe (group "data and vocabularies"): the dev set
    (`--dev-data`, `--dev-fraction`, `--split-seed`), the file's columns and scheme
    (`--tag-column`, `--token-column`, `--tag-scheme`, `--sequences`, `--skip-bad-lines`), the
    model's scheme (`--output-scheme`) and the vocabularies (`--vocab-size`, `--lowercase`,
    `--max-length`, `--max-word-length`). Every flag's help states its default."""
    data = parser.add_argument_group("data and vocabularies")
    cli.add_dev_split_flags(data)
    data.add_argument("--tag-column", type=any_int, default=-1, metavar="I",
                      help="column of the tags, 0 the first, -1 the last (CoNLL-2003's NER "
                      f"column; 2 would be its chunks) ({any_int}; default: %(default)s)")
    data.add_argument("--token-column", type=any_int, default=0, metavar="I",
                      help=f"column of the tokens ({any_int}; default: %(default)s)")
    data.add_argument("--tag-scheme", choices=FILE_SCHEMES, default="iob1",
                      help="tag scheme of the data files: iob1 (CoNLL-2003; also reads IOB2) "
                      "is converted, iob2 and bioes are checked (an I- tag out of place is an "
                      "error naming its line) (default: %(default)s)")
    data.add_argument("--output-scheme", choices=MODEL_SCHEMES, default="iob2",
                      help="tag scheme the model learns and answers in; the CRF forbids the "
                      "transitions it does not allow (default: %(default)s)")
    data.add_argument("--sequences", choices=UNITS, default="sentences",
                      help="what one sequence is: a sentence, or a whole document "
                      "(between -DOCSTART- lines) (default: %(default)s)")
    data.add_argument("--skip-bad-lines", action="store_true",
                      help="skip malformed lines of the data files and count them, instead of "
                      "stopping at the first (default: stop)")
    data.add_argument("--vocab-size", type=VOCABULARY_SIZE, default=50000,
                      help="most frequent training words kept, the "
                      f"{len(RESERVED_TOKENS)} reserved tokens included ({VOCABULARY_SIZE}; "
                      "default: %(default)s)")
    data.add_argument("--lowercase", action=argparse.BooleanOptionalAction,
                      default=True, help="look words up lower-cased (the character and casing "
                      "features keep the case) (default: %(default)s)")
    data.add_argument("--max-length", type=positive_int, default=256,
                      help="most tokens per sentence: a longer training or dev sentence is an "
                      "error naming its line; served texts are tagged up to this many words "
                      f"({positive_int}; default: %(default)s)")
    data.add_argument("--max-word-length", type=positive_int, default=32,
                      help="characters of a word the character encoder reads "
                      f"({positive_int}; default: %(default)s)")
    return data


def check_word_vector_flags(parser, args):
    """Exits through `parser.error` (status 2) when the word-vector flags cannot be used: those
    `nlpkit.cli.check_word_vector_flags` refuses, a vectors file that is missing or malformed
    (the message names file and line), or an `--embedding-dim` other than the vectors' width."""
    cli.check_word_vector_flags(parser, args)
    if args.embeddings is None:
        return
    try:
        dimension = vector_dimension(args.embeddings)
    except (FileNotFoundError, DataFormatError) as error:
        parser.error(f"--embeddings: {error}")
    if args.embedding_dim not in (None, dimension):
        parser.error(f"--embedding-dim {args.embedding_dim} differs from the {dimension} "
                     f"dimensions of the vectors in {args.embeddings}; leave it out (the width "
                     "follows the vectors) or add trained dimensions with "
                     "--trained-embedding-dim")


def check_hub_encoder_flags(parser, args):
    """Exits through `parser.error` (status 2) when `--hub-encoder` is not a per-token Hub module
    (the message names the handle: missing, not a SavedModel, outputs of the wrong shapes),
    `--hub-trainable true` comes without it, or `--hub-combine replace` would leave the
    `--embeddings` unused. A local handle is made absolute."""
    if args.hub_encoder is None:
        if args.hub_trainable:
            parser.error("--hub-trainable true fine-tunes a Hub module: it needs --hub-encoder")
        return
    if args.hub_combine == "replace" and args.embeddings is not None:
        parser.error("--hub-combine replace drops the word embedding, so --embeddings would go "
                     "unused; use --hub-combine concat or leave --embeddings out")
    args.hub_encoder, _ = token_module.check_hub_encoder_flag(parser, args.hub_encoder)
