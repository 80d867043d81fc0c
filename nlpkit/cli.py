"""Command-line flags that every recipe shares, options dataclasses as flags, and run configs.
May import `nlpkit.training` and `nlpkit.atomic_files`; never a task or `nlpkit.export`.

A recipe adds its own flags next to these:

    parser = argparse.ArgumentParser(description="Sentiment classification.")
    add_training_flags(parser, name="sentiment", epochs=5)
    parser.add_argument("--model", choices=["bow", "cnn", "rnn"], default="cnn", ...)
    args = parser.parse_args()
    strategy = setup_runtime(args)           # --cpu-devices, --strategy, --seed, in that order
    config = training_config_from_args(args, monitor="val_accuracy", monitor_mode="max")
    save_run_config(os.path.join(args.run_dir, "run_config.json"), run_config(args))

TensorFlow is only imported by `setup_runtime`, so `--help` and flag errors stay fast.
"""

import argparse
import dataclasses
import json
import os
import platform
import re
import sys

from nlpkit.atomic_files import write_json

STRATEGY_CHOICES = ("auto", "one_device", "mirrored", "multi_worker")
LR_SCHEDULE_CHOICES = ("constant", "cosine", "linear")
OPTIMIZER_CHOICES = ("adam", "adamw", "sgd", "rmsprop")
MIXED_PRECISION_CHOICES = ("off", "mixed_float16", "mixed_bfloat16")
JIT_COMPILE_CHOICES = ("auto", "on", "off")
# nlpkit.training.RESUME_MODES, spelled out so that --help does not import TensorFlow; a test
# keeps the two equal.
RESUME_CHOICES = ("exact", "continue", "restart")
# Training flags that may differ between the models of one run (ensemble members); data,
# tokenizer, runtime and export flags are the run's.
PER_MODEL_TRAINING_FLAGS = frozenset({
    "epochs", "batch_size", "learning_rate", "lr_schedule", "optimizer", "clipnorm",
    "weight_decay", "ema_momentum", "patience",
})


class NumberRange:
    """An argparse `type` for a number within a range, which states the range it accepts.

    `NumberRange(int, minimum=1)` parses "3" and refuses "0" or "x" with a usage error (exit 2)
    that names the flag and says "expected an integer >= 1"; `str(range)` is that text, which
    the flag's help shows, and `edges()` the values at and beyond its ends
    (what the tests of every recipe's flags try).

    Args:
        kind: `int` or `float`.
        minimum, maximum: the ends, or None for none.
        exclusive_minimum, exclusive_maximum: whether the ends themselves are refused.
    """

    def __init__(self, kind, minimum=None, maximum=None, *, exclusive_minimum=False,
                 exclusive_maximum=False):
        self.kind = kind
        self.minimum, self.maximum = minimum, maximum
        self.exclusive_minimum, self.exclusive_maximum = exclusive_minimum, exclusive_maximum
        self.__name__ = kind.__name__  # argparse names the type in some messages

    def accepts(self, value):
        if value != value or value in (float("inf"), float("-inf")):
            return False
        if self.minimum is not None and (
            value < self.minimum or (self.exclusive_minimum and value == self.minimum)
        ):
            return False
        return self.maximum is None or not (
            value > self.maximum or (self.exclusive_maximum and value == self.maximum)
        )

    def __call__(self, text):
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {self}, found {text!r}") from None
        if not self.accepts(value):
            raise argparse.ArgumentTypeError(f"expected {self}, found {text!r}")
        return value

    def __str__(self):
        noun = "an integer" if self.kind is int else "a number"
        low = None if self.minimum is None else ("(" if self.exclusive_minimum else "[")
        high = None if self.maximum is None else (")" if self.exclusive_maximum else "]")
        if low and high:
            return f"{noun} in {low}{self.minimum:g}, {self.maximum:g}{high}"
        if low:
            return f"{noun} {'>' if self.exclusive_minimum else '>='} {self.minimum:g}"
        if high:
            return f"{noun} {'<' if self.exclusive_maximum else '<='} {self.maximum:g}"
        return noun

    def edges(self):
        """`(accepted, refused)`: values at (or just inside) the ends, and values beyond them."""
        step = 1 if self.kind is int else 1e-6
        accepted, refused = [], ["nan" if self.kind is float else "x"]
        for end, exclusive, inward in ((self.minimum, self.exclusive_minimum, 1),
                                       (self.maximum, self.exclusive_maximum, -1)):
            if end is None:
                continue
            accepted.append(end + inward * step if exclusive else end)
            refused.append(end if exclusive else end - inward * step)
        return [self.kind(v) for v in accepted], [str(v) for v in refused]


positive_int = NumberRange(int, minimum=1)
positive_float = NumberRange(float, minimum=0, exclusive_minimum=True)
non_negative_float = NumberRange(float, minimum=0)
rate = NumberRange(float, minimum=0, maximum=1, exclusive_maximum=True)
fraction = NumberRange(float, minimum=0, maximum=1, exclusive_minimum=True,
                       exclusive_maximum=True)
any_int = NumberRange(int)
non_negative_int = NumberRange(int, minimum=0)


def add_training_flags(parser, *, name, epochs=10, batch_size=32, learning_rate=1e-3, patience=3,
                       data_help=None, data_nargs=None):
    """Adds the flags shared by all recipes to `parser` and returns the flag group.

    Args:
        parser: an `argparse.ArgumentParser`.
        name: the recipe's name; the defaults of `--export-dir` and `--run-dir` are
            `saved_models/<name>` and `runs/<name>`.
        epochs, batch_size, learning_rate, patience: the recipe's defaults for these flags.
        data_help, data_nargs: `--data`'s help and argparse `nargs`, for a recipe whose data
            can be several files (translation: `--data SOURCE_FILE TARGET_FILE`); `args.data`
            is then a list.
    """
    group = parser.add_argument_group("training and export (shared by all recipes)")
    group.add_argument(
        "--data",
        default=None,
        metavar="PATH",
        nargs=data_nargs,
        help=data_help or "training data; the recipe documents the formats it reads "
        "(default: the recipe's built-in sample)",
    )
    group.add_argument(
        "--epochs", type=positive_int, default=epochs, help="passes over the training data "
        f"({positive_int}; default: %(default)s)"
    )
    group.add_argument(
        "--batch-size",
        type=positive_int,
        default=batch_size,
        help="GLOBAL batch size: examples per optimizer step over all devices and workers, "
        "split evenly among the replicas; the learning rate is not rescaled "
        f"({positive_int}; default: %(default)s)",
    )
    group.add_argument(
        "--seed",
        type=any_int,
        default=None,
        help="seed Python, NumPy, TensorFlow and Keras and turn on deterministic ops, so that "
        f"a CPU run is repeatable ({any_int}; default: %(default)s, i.e. not seeded)",
    )
    group.add_argument(
        "--export-dir",
        default=os.path.join("saved_models", name),
        metavar="DIR",
        help="base directory of the SavedModel export; each export goes to a new integer "
        "version DIR/<version>/ (default: %(default)s)",
    )
    group.add_argument(
        "--run-dir",
        default=os.path.join("runs", name),
        metavar="DIR",
        help="checkpoints (DIR/checkpoints), TensorBoard logs (DIR/logs) and the backup an "
        "interrupted run resumes from (DIR/backup) (default: %(default)s)",
    )
    group.add_argument(
        "--resume",
        choices=RESUME_CHOICES,
        default="exact",
        help="what to do with the backup an interrupted run left in DIR/backup: exact resumes "
        "it only when it was taken with the same settings (and refuses otherwise, listing the "
        "differences), continue goes on from it even when settings changed (the run is then "
        "not the one an uninterrupted run would have been), restart deletes it and starts "
        "afresh (default: %(default)s)",
    )
    group.add_argument(
        "--strategy",
        choices=STRATEGY_CHOICES,
        default="auto",
        help="tf.distribute strategy: auto = MirroredStrategy when several GPUs are visible, "
        "else one device; multi_worker reads the cluster from TF_CONFIG (default: %(default)s)",
    )
    group.add_argument(
        "--cpu-devices",
        type=positive_int,
        default=None,
        metavar="N",
        help="split the CPU into N logical devices, e.g. to try --strategy mirrored without "
        f"GPUs ({positive_int}; default: %(default)s, i.e. TensorFlow's default)",
    )
    group.add_argument(
        "--learning-rate",
        type=positive_float,
        default=learning_rate,
        help=f"peak learning rate ({positive_float}; default: %(default)s)",
    )
    group.add_argument(
        "--lr-schedule",
        choices=LR_SCHEDULE_CHOICES,
        default="constant",
        help="learning-rate schedule over the whole run; cosine and linear decay to 0 "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--optimizer", choices=OPTIMIZER_CHOICES, default="adam",
        help="optimizer (default: %(default)s)",
    )
    group.add_argument(
        "--clipnorm",
        type=positive_float,
        default=None,
        help="clip gradients to this global norm, computed over all weights together "
        f"({positive_float}; default: %(default)s, i.e. no clipping)",
    )
    group.add_argument(
        "--weight-decay",
        type=non_negative_float,
        default=None,
        metavar="WD",
        help="decoupled weight decay: every step each weight w becomes w - learning rate * WD * "
        f"w, with any --optimizer (adam + WD = AdamW) ({non_negative_float}; default: "
        "%(default)s, i.e. the optimizer's own: 0.004 for adamw, none for the others)",
    )
    group.add_argument(
        "--ema-momentum",
        type=fraction,
        default=None,
        metavar="M",
        help="keep an exponential moving average of the weights, average = M * average + "
        "(1 - M) * weights after every step, and evaluate, checkpoint, early-stop and export "
        f"the averaged weights, e.g. 0.99 ({fraction}; default: %(default)s, i.e. no averaging)",
    )
    group.add_argument(
        "--mixed-precision",
        choices=MIXED_PRECISION_CHOICES,
        default="off",
        help="Keras mixed-precision policy: mixed_float16 for GPUs, mixed_bfloat16 for CPUs "
        "and recent accelerators (default: %(default)s)",
    )
    group.add_argument(
        "--jit-compile",
        choices=JIT_COMPILE_CHOICES,
        default="auto",
        help="compile training steps with XLA; auto lets Keras decide (on for a single GPU) "
        "(default: %(default)s)",
    )
    group.add_argument(
        "--patience",
        type=positive_int,
        default=patience,
        help="stop after this many epochs without improvement on the dev set and keep the best "
        f"epoch's weights ({positive_int}; default: %(default)s)",
    )
    return group


def training_config_from_args(args, *, monitor="val_loss", monitor_mode="min", **overrides):
    """Returns the `nlpkit.training.TrainingConfig` that the parsed shared flags describe.

    Args:
        args: the `argparse.Namespace` from a parser set up by `add_training_flags`.
        monitor, monitor_mode: the dev metric early stopping watches and whether `"max"` or
            `"min"` is better (recipe-specific, so not a flag).
        **overrides: other `TrainingConfig` fields.
    """
    from nlpkit.training import TrainingConfig

    jit_compile = {"auto": "auto", "on": True, "off": False}[args.jit_compile]
    return TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lr_schedule=args.lr_schedule,
        optimizer=args.optimizer,
        clipnorm=args.clipnorm,
        weight_decay=args.weight_decay,
        ema_momentum=args.ema_momentum,
        mixed_precision=None if args.mixed_precision == "off" else args.mixed_precision,
        jit_compile=jit_compile,
        run_dir=args.run_dir,
        resume=args.resume,
        seed=args.seed,
        monitor=monitor,
        monitor_mode=monitor_mode,
        patience=args.patience,
        **overrides,
    )


def parse_overrides(parser, args, spec, allowed, *, option):
    """The flags `spec` ("model=cnn,max-norm=3") changes relative to `args`, as {dest: value}.

    For flags such as `--member` that describe one more model by how it differs from the rest:
    each FLAG=VALUE item is parsed by `parser` itself (so the flag's type, choices and checks
    apply) onto a copy of `args`. Items are split at the commas that start a new `FLAG=`, so
    `widths=3,4,5` stays one item. Only values that differ from `args` are returned.

    Args:
        parser: the parser that produced `args`.
        args: the parsed shared flags.
        spec: the option's text.
        allowed: the destinations (`max_norm`) that `spec` may set.
        option: the option's name, for error messages (`--member`).

    A malformed item or a flag outside `allowed` exits through `parser.error` (status 2),
    naming the option, the item and the flags allowed.
    """
    tokens = []
    for item in re.split(r",(?=[\w-]+=)", spec):
        name, equals, value = item.partition("=")
        dest = name.strip().replace("-", "_")
        if not equals or dest not in allowed:
            parser.error(f"{option} {spec}: expected FLAG=VALUE items separated by commas, each "
                         f"FLAG one of {', '.join(sorted(f.replace('_', '-') for f in allowed))};"
                         f" found {item!r}")
        tokens += [f"--{dest.replace('_', '-')}", value.strip()]
    changed = parser.parse_args(tokens, namespace=argparse.Namespace(**vars(args)))
    return {dest: getattr(changed, dest) for dest in allowed
            if getattr(changed, dest) != getattr(args, dest)}


def option(default, *, help, flag=None, type=None, choices=None, metavar=None, default_text=None):
    """A field of a model's options dataclass that also describes its command-line flag.

    A task declares its model's options once, as a dataclass of `option(...)` fields;
    `add_option_flags` makes the flags, `options_from_args` reads them back, `ensemble_members`
    lets `--member` change them, and `dataclasses.asdict` records them in the run config.

    Args:
        default: the option's default value (a bool makes an on/off `--flag/--no-flag`, unless
            `type` is given, e.g. `true_or_false` for a `--flag true|false`).
        help: the flag's help, without the default (appended as "(default: ...)").
        flag: the flag's name when it is not `--<field-name-with-dashes>`.
        type: argparse type; default `type(default)`, required when `default` is None.
        choices, metavar: as in argparse.
        default_text: how the default reads in the help, e.g. "3,4,5" or "none".
    """
    metadata = {"help": help, "flag": flag, "type": type, "choices": choices,
                "metavar": metavar, "default_text": default_text}
    return dataclasses.field(default=default, metadata=metadata)


def option_flags(options_class):
    """`{field name: flag name}` of an options dataclass, e.g. `{"num_layers": "--layers"}`."""
    return {
        field.name: field.metadata.get("flag") or "--" + field.name.replace("_", "-")
        for field in dataclasses.fields(options_class)
    }


def _destination(flag):
    return flag.lstrip("-").replace("-", "_")


def add_option_flags(parser, options_class, title):
    """Adds one flag per field of `options_class` (see `option`) as the group `title`.

    Returns the group. Every flag's help states its default.
    """
    group = parser.add_argument_group(title)
    for field, flag in zip(dataclasses.fields(options_class), option_flags(options_class).values()):
        meta = field.metadata
        shown = meta["default_text"] if meta["default_text"] is not None else "%(default)s"
        accepted = f"{meta['type']}; " if isinstance(meta["type"], NumberRange) else ""
        kwargs = {"dest": _destination(flag), "default": field.default,
                  "help": f"{meta['help']} ({accepted}default: {shown})"}
        if isinstance(field.default, bool) and meta["type"] is None:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            if meta["type"] is None and field.default is None:
                raise TypeError(f"{options_class.__name__}.{field.name}: an option whose default "
                                "is None needs a type")
            kwargs["type"] = meta["type"] or type(field.default)
            if meta["choices"] is not None:
                kwargs["choices"] = meta["choices"]
            if meta["metavar"] is not None:
                kwargs["metavar"] = meta["metavar"]
        group.add_argument(flag, **kwargs)
    return group


def options_from_args(options_class, args):
    """The `options_class` instance that the flags of `add_option_flags` describe."""
    return options_class(**{
        name: getattr(args, _destination(flag))
        for name, flag in option_flags(options_class).items()
    })


def add_ensemble_flags(parser):
    """Adds `--ensemble K` and `--member FLAG=VALUE,...` (group "ensemble"), which every recipe
    that trains through `nlpkit.training.train_ensemble` offers."""
    group = parser.add_argument_group("ensemble")
    group.add_argument("--ensemble", type=positive_int, default=1, metavar="K",
                       help="train K models of this kind one after another (shuffling seeds "
                       "--seed, --seed+1, ...) and export the average of their probabilities "
                       f"({positive_int}; default: %(default)s)")
    group.add_argument("--member", action="append", default=[], metavar="FLAG=VALUE,...",
                       help="add one ensemble member that differs from the model the other "
                       "flags describe by these model and training flags, written without "
                       "dashes, e.g. --member model=cnn,embedding-dropout=0,max-norm=3 "
                       "--member cell=gru; repeat for more members. Members train one after "
                       "another after the --ensemble ones (seeds continue from there) and the "
                       "export averages all their probabilities (default: none)")
    return group


def member_overrides(parser, args, options_class):
    """How each model of the run differs from `args`: `--ensemble` empty dicts (copies of the
    model the flags describe), then one dict per `--member` (`parse_overrides`).

    A member may change any option of `options_class` except on/off switches (which FLAG=VALUE
    does not express) and the training flags in `PER_MODEL_TRAINING_FLAGS`.

    Returns:
        A list of `{flag destination: value}`, one per model, at least one. A bad `--member`
        exits with status 2.
    """
    allowed = {
        _destination(flag)
        for field, flag in zip(dataclasses.fields(options_class),
                               option_flags(options_class).values())
        if not isinstance(field.default, bool)
    } | PER_MODEL_TRAINING_FLAGS
    return [{} for _ in range(args.ensemble)] + [
        parse_overrides(parser, args, spec, allowed, option="--member") for spec in args.member
    ]


def ensemble_members(args, options_class, *, name, monitor="val_loss", monitor_mode="min"):
    """The models a run trains, as `nlpkit.training.EnsembleMember`s: one per entry of
    `args.member_overrides` (see `member_overrides`), or one model when the list is missing.

    Each member gets its options, its training config (its own run directory
    `<run-dir>/member_<i>` and shuffling seed `--seed + i` when there are several) and the
    flags that make it differ from the others.
    """
    from nlpkit.training import EnsembleMember

    overrides = getattr(args, "member_overrides", None) or [{}]
    several = len(overrides) > 1
    members = []
    for index, changes in enumerate(overrides):
        flags = argparse.Namespace(**{**vars(args), **changes})
        members.append(EnsembleMember(
            name=f"member_{index}" if several else name,
            options=options_from_args(options_class, flags),
            config=dataclasses.replace(
                training_config_from_args(flags, monitor=monitor, monitor_mode=monitor_mode),
                run_dir=os.path.join(args.run_dir, f"member_{index}") if several else args.run_dir,
                seed=None if args.seed is None else args.seed + index),
            changes=changes,
        ))
    return members


def true_or_false(text):
    """An argparse `type` for `true` / `false` (any case), as a bool."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise argparse.ArgumentTypeError(f"expected true or false, found {text!r}")


@dataclasses.dataclass(frozen=True)
class WordVectorOptions:
    """How a model's word embedding uses a pretrained vectors file: the flags of
    `add_word_vector_flags`, which every recipe with a word embedding offers.

    Attributes:
        path: the vectors file (`--embeddings`), or None for randomly initialised embeddings.
        trainable: fine-tune the vectors (`--embeddings-trainable`); rows of words added by
            vocabulary expansion stay frozen either way.
        channels: 1, or 2 for a frozen copy of the vectors next to the fine-tuned ones, as in
            Kim's (2014) CNN-multichannel (`--embeddings-channels`).
        trained_dim: randomly initialised, trained dimensions concatenated after the vectors
            (`--trained-embedding-dim`).
        vocabulary_from_file: how many of the file's most frequent words join the vocabulary
            (`--vocabulary-from-embeddings`).
    """

    path: str | None = None
    trainable: bool = True
    channels: int = 1
    trained_dim: int = 0
    vocabulary_from_file: int = 0

    @classmethod
    def from_args(cls, args):
        """The options the flags of `add_word_vector_flags` describe."""
        return cls(path=args.embeddings, trainable=args.embeddings_trainable,
                   channels=args.embeddings_channels, trained_dim=args.trained_embedding_dim,
                   vocabulary_from_file=args.vocabulary_from_embeddings)

    def embedding_arguments(self, vectors, vocab_size, embedding_dim=None):
        """The arguments of the `nlpkit.layers.PretrainedEmbedding` that starts from `vectors`
        (an `nlpkit.text.EmbeddingMatrix`) as these options say: every task builds its word
        embedding as `PretrainedEmbedding(**options.embedding_arguments(...), name=...)`.

        Args:
            vectors: the matrix of the task's vocabulary.
            vocab_size: the number of ids the model embeds.
            embedding_dim: the model's `--embedding-dim`, None when not given.

        Raises:
            ValueError: an `embedding_dim` other than the vectors' width, or vectors with another
                number of rows than `vocab_size`.
        """
        if embedding_dim not in (None, vectors.dimension):
            raise ValueError(f"embedding_dim {embedding_dim} differs from the width of the "
                             f"vectors in {vectors.path}, {vectors.dimension}")
        if len(vectors.matrix) != vocab_size:
            raise ValueError(f"the vectors have {len(vectors.matrix)} rows for {vocab_size} ids")
        frozen_from = vocab_size if vectors.frozen_from is None else vectors.frozen_from
        return dict(input_dim=vocab_size, vector_dim=vectors.dimension, vectors=vectors.matrix,
                    trainable_rows=frozen_from if self.trainable else 0,
                    static_channel=self.channels == 2, trained_dim=self.trained_dim,
                    mask_zero=True)


def add_dev_split_flags(group, *, seed_of="the train/dev split", nargs=None):
    """Adds the dev-set flags every recipe shares to `group`: `--dev-data PATH`, or else a
    seeded `--dev-fraction` of `--data` held out (`--split-seed`, the seed of `seed_of`).
    `nargs` as for `--data` (`add_training_flags`)."""
    group.add_argument("--dev-data", metavar="PATH", nargs=nargs,
                       help="dev set, in the format of --data "
                       "(default: hold out --dev-fraction of --data)")
    group.add_argument("--dev-fraction", type=fraction, default=0.1,
                       help=f"share of --data held out as dev set ({fraction}; default: "
                       "%(default)s)")
    group.add_argument("--split-seed", type=any_int, default=0,
                       help=f"seed of {seed_of} ({any_int}; default: %(default)s)")


def add_word_vector_flags(parser):
    """Adds the pretrained word-vector flags (group "pretrained word vectors"): `--embeddings`,
    `--embeddings-trainable`, `--embeddings-channels`, `--trained-embedding-dim`,
    `--vocabulary-from-embeddings`. Read them with `WordVectorOptions.from_args` after checking
    them with `check_word_vector_flags`. Returns the group."""
    group = parser.add_argument_group(
        "pretrained word vectors",
        "The word embedding takes the vectors' width; the exported model holds the vectors and "
        "needs no vectors file.")
    group.add_argument("--embeddings", metavar="PATH", default=None,
                       help="start the word embedding from the vectors in PATH: GloVe or "
                       "word2vec text ('word v1 ... vd' per line) or fastText .vec (a first line "
                       "'count dim'), plain or gzipped; each vocabulary word takes the vector of "
                       "the same word, else of its lower-cased form, else a random one "
                       "(default: %(default)s, i.e. random embeddings)")
    group.add_argument("--embeddings-trainable", type=true_or_false, default=True,
                       metavar="{true,false}",
                       help="fine-tune the vectors with the rest of the model, or keep them "
                       "frozen (default: true)")
    group.add_argument("--embeddings-channels", type=int, choices=(1, 2), default=1,
                       help="2: a frozen copy of the vectors next to the fine-tuned ones, as in "
                       "Kim's (2014) CNN-multichannel (default: %(default)s)")
    group.add_argument("--trained-embedding-dim", type=non_negative_int, default=0,
                       metavar="D",
                       help="D more dimensions per word, randomly initialised and trained, "
                       f"concatenated after the vectors ({non_negative_int}; default: "
                       "%(default)s)")
    group.add_argument("--vocabulary-from-embeddings", type=non_negative_int, default=0,
                       metavar="N",
                       help="add the words among the N most frequent of the vectors file that "
                       "the vocabulary lacks, so that words unseen in training still get their "
                       "vectors; their rows stay frozen (--tokenizer word only) "
                       f"({non_negative_int}; default: %(default)s)")
    return group


def check_word_vector_flags(parser, args):
    """Exits through `parser.error` (status 2) when the word-vector flags contradict each
    other; the checks that need the file or the model are the task's."""
    if args.embeddings is None:
        given = [flag for flag, used in (
            ("--embeddings-trainable false", not args.embeddings_trainable),
            ("--embeddings-channels 2", args.embeddings_channels == 2),
            (f"--trained-embedding-dim {args.trained_embedding_dim}",
             args.trained_embedding_dim > 0),
            (f"--vocabulary-from-embeddings {args.vocabulary_from_embeddings}",
             args.vocabulary_from_embeddings > 0)) if used]
        if given:
            parser.error(f"{', '.join(given)}: needs --embeddings PATH")
    elif args.embeddings_channels == 2 and not args.embeddings_trainable:
        parser.error("--embeddings-channels 2 puts a frozen copy next to fine-tuned vectors; "
                     "with --embeddings-trainable false both would be frozen")


def setup_runtime(args):
    """Applies `--cpu-devices`, `--strategy` and `--seed`; returns the strategy.

    Call it right after parsing, before the program creates any tensor: the logical CPU split and
    `MultiWorkerMirroredStrategy` are only possible before TensorFlow initialises its runtime.
    """
    from nlpkit.training import configure_cpu_devices, enable_repeatable_runs, make_strategy

    configure_cpu_devices(args.cpu_devices)
    strategy = make_strategy(args.strategy)
    if args.seed is not None:
        enable_repeatable_runs(args.seed)
    return strategy


def run_command(parser, args, commands):
    """Runs a recipe's command as every recipe does: `commands[args.command](args, strategy)`.

    The runtime is set up first (`setup_runtime`); `train` owns the run directory for its whole
    run (`nlpkit.training.RunDirectoryLock`, on the chief). Errors the user can fix (a missing
    file, malformed data, a run directory in use, a backup this run cannot resume) exit with
    status 2 and one line naming the problem, as flag errors do; anything else is a bug and keeps
    its traceback.

    Args:
        parser: the recipe's parser, for the exit message.
        args: its parsed flags, with `command`, `run_dir` and the flags of `add_training_flags`.
        commands: `{command name: function(args, strategy)}`.
    """
    from nlpkit.data import DataFormatError
    from nlpkit.training import ResumeMismatch, RunDirectoryInUse, RunDirectoryLock, is_chief

    try:
        # Before the program creates any tensor: logical CPUs and multi-worker need a fresh
        # runtime.
        strategy = setup_runtime(args)
        command = commands[args.command]
        if args.command != "train":
            return command(args, strategy)
        with RunDirectoryLock(args.run_dir, enabled=is_chief()):
            return command(args, strategy)
    except (FileNotFoundError, DataFormatError, RunDirectoryInUse, ResumeMismatch) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")


def run_config(args, **extra):
    """A JSON-ready record of a run: every flag, the command line and library versions.

    Args:
        args: the parsed `argparse.Namespace`.
        **extra: more entries, e.g. the vocabulary size or the labels.
    """
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for package in ("nlpkit", "tensorflow", "keras", "tensorflow-text"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "flags": dict(sorted(vars(args).items())),
        "command": [os.path.basename(sys.argv[0])] + sys.argv[1:],
        "versions": versions,
        **extra,
    }


def read_run_file(run_dir, name):
    """The JSON file `name` that training left in `run_dir` (a run config, a vocabulary, ...),
    for commands that rebuild a trained model (`export`).

    Raises:
        FileNotFoundError: no such file, with a message saying to train with that run directory
            first (`run_command` turns it into exit status 2).
    """
    path = os.path.join(run_dir, name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file; train with this --run-dir first")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def save_run_config(path, config):
    """Writes `config` as indented JSON to `path`, all or nothing (`nlpkit.atomic_files`).

    Raises:
        TypeError: an entry is not JSON (paths are written as strings); nothing is written.
    """
    return write_json(path, config)
