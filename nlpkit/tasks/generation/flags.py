"""The command-line flags of language-model recipes: the units, the split, TBPTT, the model.

The model's flags are generated from `LanguageModelOptions` (`nlpkit.cli.add_option_flags`); the
data flags are written out here. Training with TBPTT needs the examples in order: a recipe makes
its `TrainingConfig` with `shuffle=False` whatever the shared training flags say.
"""

from nlpkit.cli import NumberRange, add_option_flags, fraction, positive_int
from nlpkit.tasks.generation.data import UNITS
from nlpkit.tasks.generation.model import LanguageModelOptions
from nlpkit.text import RESERVED_TOKENS

# The reserved tokens ([PAD], [UNK], [BOS], [EOS]) and at least one unit.
VOCABULARY_SIZE = NumberRange(int, minimum=len(RESERVED_TOKENS) + 1)


def add_language_model_flags(parser):
    """Adds one flag per `LanguageModelOptions` field as the group "model"; returns the group."""
    return add_option_flags(parser, LanguageModelOptions, "model")


def add_data_flags(parser):
    """Adds the data flags of a language-model recipe (group "data and units"): `--unit`,
    `--min-count`, `--vocab-size`, `--val-fraction` and `--bptt`. Every flag's help states its
    default. Returns the group."""
    data = parser.add_argument_group("data and units")
    data.add_argument("--unit", choices=UNITS, default="char",
                      help="what the model predicts: Unicode characters, or whitespace-split "
                      "words with <eos> ending every line (default: %(default)s)")
    data.add_argument("--min-count", type=positive_int, default=1,
                      help="units seen fewer times in the training text become [UNK] (<unk> for "
                      f"words) ({positive_int}; default: %(default)s)")
    data.add_argument("--vocab-size", type=VOCABULARY_SIZE, default=None,
                      help="most frequent training units kept, the "
                      f"{len(RESERVED_TOKENS)} reserved ids included ({VOCABULARY_SIZE}; "
                      "default: every unit seen --min-count times)")
    data.add_argument("--val-fraction", type=fraction, default=0.1,
                      help="share of the text, at its end, held out as validation text "
                      f"({fraction}; default: %(default)s)")
    data.add_argument("--bptt", type=positive_int, default=100,
                      help="units per training window: the length backpropagation is truncated "
                      f"to, the state being carried across windows ({positive_int}; default: "
                      "%(default)s)")
    return data
