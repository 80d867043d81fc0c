"""The command-line flags of classification recipes: data and tokenization, and the model.

The model's flags are generated from `ClassifierOptions` (`nlpkit.cli.add_option_flags`), so a
new option is one field there; the data flags are written out here.
"""

from nlpkit.cli import add_option_flags, positive_int
from nlpkit.tasks.classification.model import ClassifierOptions


def add_classifier_flags(parser):
    """Adds one flag per `ClassifierOptions` field as the group "model"; returns the group."""
    return add_option_flags(parser, ClassifierOptions, "model")


def add_data_flags(parser):
    """Adds the data and tokenization flags of a classification recipe (group "data and
    tokenization"): the dev set or split (`--dev-data`, `--dev-fraction`, `--split-seed`,
    `--folds`, `--fold`), `--label-names`, `--tokenizer`, `--vocab-size`, `--max-length`.
    Every flag's help states its default; check the parsed values with `check_data_flags`."""
    data = parser.add_argument_group("data and tokenization")
    data.add_argument("--dev-data", metavar="PATH", help="dev set (default: hold out "
                      "--dev-fraction of --data)")
    data.add_argument("--dev-fraction", type=float, default=0.1,
                      help="share of --data held out as dev set (default: %(default)s)")
    data.add_argument("--split-seed", type=int, default=0,
                      help="seed of the train/dev split or of the folds (default: %(default)s)")
    data.add_argument("--folds", type=positive_int, default=None, metavar="N",
                      help="cross-validation: cut --data into N seeded folds and hold out fold "
                      "--fold as the dev set; run once per fold (default: %(default)s, i.e. "
                      "hold out --dev-fraction)")
    data.add_argument("--fold", type=int, default=0, metavar="K",
                      help="with --folds N: the fold held out, 0..N-1 (default: %(default)s)")
    data.add_argument("--label-names", default="negative,positive",
                      help="comma-separated names of the label ids 0, 1, ... as the export "
                      "answers them (default: %(default)s)")
    data.add_argument("--tokenizer", choices=["word", "wordpiece"], default="word",
                      help="word ids, or WordPiece subword ids so that words unseen in training "
                      "are read from their pieces (default: %(default)s)")
    data.add_argument("--vocab-size", type=positive_int, default=20000,
                      help="most frequent words kept, or WordPiece vocabulary size "
                      "(default: %(default)s)")
    data.add_argument("--max-length", type=positive_int, default=100,
                      help="tokens kept per text; longer texts are cut (default: %(default)s)")
    return data


def check_data_flags(parser, args):
    """Exits through `parser.error` (status 2) when `--folds` / `--fold` do not fit together."""
    if args.folds is not None and not (args.folds >= 2 and 0 <= args.fold < args.folds):
        parser.error(f"--folds must be at least 2 and --fold in 0..folds-1; found --folds "
                     f"{args.folds} --fold {args.fold}")
