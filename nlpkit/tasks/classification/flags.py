"""The command-line flags of classification recipes: data and tokenization, and the model.

The model's flags are generated from `ClassifierOptions` (`nlpkit.cli.add_option_flags`), so a
new option is one field there; the data flags are written out here. The pretrained word-vector
flags are every recipe's (`nlpkit.cli.add_word_vector_flags`); `check_word_vector_flags` checks
them against the file and the models. `check_hub_encoder_flags` checks `--hub-encoder` (a model
that reads raw text) against the flags that only models on token ids use.
"""

import os

from nlpkit import cli
from nlpkit.cli import NumberRange, add_option_flags, positive_int
from nlpkit.data import DataFormatError
from nlpkit.layers import token_module
from nlpkit.tasks.classification.model import (
    HUB_OPTIONS,
    TOKEN_HUB_CONCAT_OPTIONS,
    TOKEN_HUB_OPTIONS,
    ClassifierOptions,
)
from nlpkit.text import RESERVED_TOKENS, vector_dimension

FOLDS = NumberRange(int, minimum=2)
FOLD = NumberRange(int, minimum=0)
# The reserved tokens ([PAD], [UNK], [BOS], [EOS]) and at least one word.
VOCABULARY_SIZE = NumberRange(int, minimum=len(RESERVED_TOKENS) + 1)
# The run's flags that only a model on token ids uses (a Hub module tokenizes by itself).
TOKENIZER_FLAGS = ("tokenizer", "vocab_size", "max_length", "embeddings")


def add_classifier_flags(parser):
    """Adds one flag per `ClassifierOptions` field as the group "model"; returns the group."""
    return add_option_flags(parser, ClassifierOptions, "model")


def add_data_flags(parser):
    """Adds the data and tokenization flags of a classification recipe (group "data and
    tokenization"): the dev set or split (`--dev-data`, `--dev-fraction`, `--split-seed`,
    `--folds`, `--fold`), `--label-names`, `--tokenizer`, `--vocab-size`, `--max-length`.
    Every flag's help states its default; check the parsed values with `check_data_flags`."""
    data = parser.add_argument_group("data and tokenization")
    cli.add_dev_split_flags(data, seed_of="the train/dev split or of the folds")
    data.add_argument("--folds", type=FOLDS, default=None, metavar="N",
                      help="cross-validation: cut --data into N seeded folds and hold out fold "
                      f"--fold as the dev set; run once per fold ({FOLDS}; default: "
                      "%(default)s, i.e. hold out --dev-fraction)")
    data.add_argument("--fold", type=FOLD, default=0, metavar="K",
                      help=f"with --folds N: the fold held out, 0..N-1 ({FOLD}; default: "
                      "%(default)s)")
    data.add_argument("--label-names", default="negative,positive",
                      help="comma-separated names of the label ids 0, 1, ... as the export "
                      "answers them; a table's labels must be these names or the ids "
                      "(default: %(default)s)")
    data.add_argument("--tokenizer", choices=["word", "wordpiece"], default="word",
                      help="word ids, or WordPiece subword ids so that words unseen in training "
                      "are read from their pieces (default: %(default)s)")
    data.add_argument("--vocab-size", type=VOCABULARY_SIZE, default=20000,
                      help="most frequent words kept, or WordPiece vocabulary size, the "
                      f"{len(RESERVED_TOKENS)} reserved tokens included ({VOCABULARY_SIZE}; "
                      "default: %(default)s)")
    data.add_argument("--max-length", type=positive_int, default=100,
                      help=f"tokens kept per text; longer texts are cut ({positive_int}; "
                      "default: %(default)s)")
    return data


def check_data_flags(parser, args):
    """Exits through `parser.error` (status 2) when `--folds` / `--fold` do not fit together."""
    if args.folds is not None and not args.fold < args.folds:
        parser.error(f"--folds must be at least 2 and --fold in 0..folds-1; found --folds "
                     f"{args.folds} --fold {args.fold}")


def check_word_vector_flags(parser, args):
    """Exits through `parser.error` (status 2) when the word-vector flags cannot be used: those
    `nlpkit.cli.check_word_vector_flags` refuses, `--vocabulary-from-embeddings` with WordPiece,
    a `bow` model (no embedding), a vectors file that is missing or malformed (the message names
    file and line), or an `--embedding-dim` (of the run or of a `--member`) other than the
    vectors' width. Reads only the file's first lines; call after `cli.member_overrides`."""
    cli.check_word_vector_flags(parser, args)
    if args.embeddings is None:
        return
    if args.vocabulary_from_embeddings and args.tokenizer != "word":
        parser.error("--vocabulary-from-embeddings adds whole words: it needs --tokenizer word")
    models = [{**vars(args), **changes} for changes in getattr(args, "member_overrides", [{}])]
    if any(model["model"] == "bow" for model in models):
        parser.error("--embeddings: --model bow has no word embedding; use boe, cnn or rnn")
    try:
        dimension = vector_dimension(args.embeddings)
    except (FileNotFoundError, DataFormatError) as error:
        parser.error(f"--embeddings: {error}")
    for model in models:
        if model["embedding_dim"] not in (None, dimension):
            parser.error(f"--embedding-dim {model['embedding_dim']} differs from the "
                         f"{dimension} dimensions of the vectors in {args.embeddings}; leave "
                         "it out (the width follows the vectors) or add trained dimensions "
                         "with --trained-embedding-dim")


def _flag_text(flag, value):
    """How a flag with `value` reads on a command line: `--units 64`, `--no-bidirectional`."""
    if isinstance(value, bool):
        return flag if value else f"--no-{flag[2:]}"
    if isinstance(value, (tuple, list)):
        value = ",".join(str(item) for item in value)
    return f"{flag} {value}"


def _destination(flag):
    return flag.lstrip("-").replace("-", "_")


def check_hub_encoder_flags(parser, args):
    """Checks `--hub-encoder HANDLE` / `--model hub` and makes them agree; exits through
    `parser.error` (status 2) when they cannot be used.

    A Hub encoder reads the raw text itself, so with it the model is `hub` (set here when
    `--model` was left at its default), and the flags of models on token ids are refused when
    given a value other than their default: `--model` of another kind, `--tokenizer`,
    `--vocab-size`, `--max-length`, `--embeddings` and the embedding, encoder and pooling options
    of `ClassifierOptions`; with a per-token module the recurrent encoder's flags apply, and with
    `--hub-combine concat` the tokenizer (`word` only), word-vector and embedding flags too.
    `--model hub` needs a handle, `--hub-trainable true` a Hub encoder,
    and an ensemble cannot mix Hub members (text in) with others (token ids in). A local handle
    must be a SavedModel directory and is made absolute (the `.keras` file and the run config
    keep it, and it must resolve from anywhere). Call after `cli.member_overrides`, before
    `check_word_vector_flags`.
    """
    default_model = parser.get_default("model")
    overrides = getattr(args, "member_overrides", None) or [{}]
    models = [{**vars(args), **changes} for changes in overrides]
    for model, changes in zip(models, overrides):
        where = " (--member)" if changes else ""
        if model["hub_encoder"] is None:
            if model["model"] == "hub":
                parser.error(f"--model hub{where} needs --hub-encoder HANDLE, the module to use")
            if model["hub_trainable"]:
                parser.error(f"--hub-trainable true{where} fine-tunes a Hub module: it needs "
                             "--hub-encoder HANDLE")
        elif model["model"] not in ("hub", default_model):
            parser.error(f"--hub-encoder{where}: the Hub module is the encoder and reads the raw "
                         f"text, so it cannot go with --model {model['model']}")
    hub = [model["hub_encoder"] is not None for model in models]
    if not any(hub):
        return
    if not all(hub):
        parser.error("--member: an ensemble cannot mix Hub-encoder models (raw text in) with "
                     "models on token ids; give every member a --hub-encoder, or none")
    # A per-token module (ELMo's interface) feeds the recurrent encoder: its flags apply.
    per_token = False
    for model in models:
        # Only what can be a module is opened here; the checks below name the rest.
        if model["hub_encoder"] is not None and (
                "://" in model["hub_encoder"]
                or os.path.isfile(os.path.join(model["hub_encoder"], "saved_model.pb"))):
            try:
                if token_module.per_token_description(model["hub_encoder"]) is not None:
                    per_token = True
            except token_module.TokenModuleError as error:
                parser.error(f"--hub-encoder {error}")
    concat = per_token and any(model["hub_combine"] == "concat" for model in models)
    if concat and args.tokenizer != "word":
        parser.error("--hub-combine concat embeds whole words next to the module's: it needs "
                     f"--tokenizer word, not {args.tokenizer}")
    used = TOKEN_HUB_CONCAT_OPTIONS if concat else TOKEN_HUB_OPTIONS if per_token else HUB_OPTIONS
    flags = {} if concat else {_destination(flag): flag for flag in (
        "--" + dest.replace("_", "-") for dest in TOKENIZER_FLAGS)}
    flags.update({_destination(flag): flag
                  for name, flag in cli.option_flags(ClassifierOptions).items()
                  if name not in used})
    unused = [_flag_text(flag, model[dest]) for model in models for dest, flag in flags.items()
              if model[dest] != parser.get_default(dest)]
    if unused:
        parser.error("--hub-encoder: the Hub module reads the raw text itself, so these flags "
                     "do not apply: "
                     f"{', '.join(dict.fromkeys(unused))}; leave them out")
    for changes in [vars(args)] + overrides:
        if "model" in changes:
            changes["model"] = "hub"
        handle = changes.get("hub_encoder")
        if handle is None or "://" in handle:  # a URL, resolved by hub.load
            continue
        if not os.path.isfile(os.path.join(handle, "saved_model.pb")):
            parser.error(f"--hub-encoder {handle}: not a SavedModel directory (no "
                         "saved_model.pb there); give a module's version directory, e.g. "
                         "saved_models/glove-6b-50d/1, or a URL")
        changes["hub_encoder"] = os.path.abspath(handle)
