"""nlpkit.cli: the shared flags, their defaults and errors, and the run config JSON."""

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from nlpkit import cli

SHARED_FLAGS = (
    "--data",
    "--epochs",
    "--batch-size",
    "--seed",
    "--export-dir",
    "--run-dir",
    "--resume",
    "--strategy",
    "--cpu-devices",
    "--learning-rate",
    "--lr-schedule",
    "--optimizer",
    "--clipnorm",
    "--weight-decay",
    "--ema-momentum",
    "--mixed-precision",
    "--jit-compile",
    "--patience",
)


def make_parser(**defaults):
    parser = argparse.ArgumentParser(prog="recipe")
    cli.add_training_flags(parser, name="sentiment", **defaults)
    return parser


def test_help_documents_every_shared_flag_with_its_default():
    parser = make_parser(epochs=7)
    help_text = " ".join(parser.format_help().split())  # undo argparse's line wrapping
    for flag in SHARED_FLAGS:
        assert flag in help_text
    group = next(g for g in parser._action_groups if g.title.startswith("training and export"))
    assert {a.option_strings[0] for a in group._group_actions} == set(SHARED_FLAGS)
    for action in group._group_actions:
        rendered = " ".join((action.help % {"default": action.default}).split())
        # numeric flags state their range first: "(an integer >= 1; default: 7)"
        stated = re.search(r"\((?:[^();]*(?:\([^()]*\))?[^();]*; )?default: ([^,)]*)", rendered)
        assert stated and stated.group(1) in (str(action.default), "the recipe's built-in sample"), (
            action.option_strings, rendered
        )
        if isinstance(action.type, cli.NumberRange):
            assert f"({action.type}; default:" in rendered, action.option_strings
    assert "(an integer >= 1; default: 7)" in help_text
    assert f"(default: {os.path.join('saved_models', 'sentiment')})" in help_text
    assert f"(default: {os.path.join('runs', 'sentiment')})" in help_text


def test_defaults_and_recipe_specific_defaults():
    args = make_parser(epochs=4, batch_size=64, learning_rate=0.01, patience=2).parse_args([])
    assert (args.epochs, args.batch_size, args.learning_rate, args.patience) == (4, 64, 0.01, 2)
    assert args.data is None and args.seed is None and args.cpu_devices is None
    assert args.clipnorm is None and args.ema_momentum is None and args.weight_decay is None
    assert (args.strategy, args.mixed_precision, args.jit_compile) == ("auto", "off", "auto")
    assert args.export_dir == os.path.join("saved_models", "sentiment")


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--epochs", "0"], "--epochs"),
        (["--batch-size", "x"], "--batch-size"),
        (["--cpu-devices", "-1"], "--cpu-devices"),
        (["--learning-rate", "nan"], "--learning-rate"),
        (["--clipnorm", "-1"], "--clipnorm"),
        (["--ema-momentum", "1"], "--ema-momentum"),
        (["--weight-decay", "-0.1"], "--weight-decay"),
        (["--ema-momentum", "0"], "--ema-momentum"),
        (["--strategy", "tpu"], "--strategy"),
        (["--mixed-precision", "float16"], "--mixed-precision"),
    ],
)
def test_bad_values_exit_with_code_2_naming_the_flag(argv, flag, capsys):
    with pytest.raises(SystemExit) as raised:
        make_parser().parse_args(argv)
    assert raised.value.code == 2
    assert flag in capsys.readouterr().err


def test_choices_match_what_training_accepts():
    from nlpkit import training

    assert cli.STRATEGY_CHOICES == training.STRATEGY_NAMES
    assert cli.LR_SCHEDULE_CHOICES == training.LEARNING_RATE_SCHEDULES
    assert set(cli.OPTIMIZER_CHOICES) == set(training.OPTIMIZERS)
    assert set(cli.MIXED_PRECISION_CHOICES) - {"off"} == set(training.MIXED_PRECISION_POLICIES)
    assert cli.RESUME_CHOICES == training.RESUME_MODES


def test_training_config_from_args():
    args = make_parser().parse_args(
        "--epochs 3 --batch-size 8 --learning-rate 0.5 --lr-schedule cosine --optimizer sgd "
        "--clipnorm 1.5 --mixed-precision mixed_bfloat16 --jit-compile off --seed 9 "
        "--run-dir /tmp/r --patience 5 --ema-momentum 0.999 --weight-decay 0.1 "
        "--resume continue".split()
    )
    config = cli.training_config_from_args(args, monitor="val_accuracy", monitor_mode="max")
    assert (config.epochs, config.batch_size, config.learning_rate) == (3, 8, 0.5)
    assert (config.lr_schedule, config.optimizer, config.clipnorm) == ("cosine", "sgd", 1.5)
    assert (config.mixed_precision, config.jit_compile) == ("mixed_bfloat16", False)
    assert (config.seed, config.run_dir, config.patience) == (9, "/tmp/r", 5)
    assert (config.ema_momentum, config.weight_decay) == (0.999, 0.1)
    assert (config.monitor, config.monitor_mode) == ("val_accuracy", "max")
    assert config.resume == "continue"
    defaults = cli.training_config_from_args(make_parser().parse_args([]))
    assert defaults.mixed_precision is None and defaults.jit_compile == "auto"
    assert defaults.ema_momentum is None and defaults.weight_decay is None
    assert defaults.resume == "exact"
    on = cli.training_config_from_args(make_parser().parse_args(["--jit-compile", "on"]))
    assert on.jit_compile is True


def test_run_config_round_trips_through_json(tmp_path):
    import tensorflow as tf

    args = make_parser().parse_args(["--epochs", "2", "--data", "reviews.tsv"])
    config = cli.run_config(args, labels=["neg", "pos"], vocabulary=pathlib.Path("vocab.txt"))
    path = tmp_path / "run" / "run_config.json"
    assert cli.save_run_config(path, config) == str(path)
    saved = json.loads(path.read_text())
    assert saved["flags"]["epochs"] == 2 and saved["flags"]["data"] == "reviews.tsv"
    assert saved["labels"] == ["neg", "pos"] and saved["vocabulary"] == "vocab.txt"
    assert saved["versions"]["tensorflow"] == tf.__version__
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)


def test_save_run_config_refuses_non_json_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "run_config.json"
    cli.save_run_config(path, {"epochs": 1})
    with pytest.raises(TypeError, match=r"config\.model"):
        cli.save_run_config(path, {"epochs": 2, "model": object()})
    assert json.loads(path.read_text()) == {"epochs": 1}
    assert os.listdir(tmp_path) == ["run_config.json"]


def test_importing_cli_does_not_import_tensorflow():
    # --help must not pay TensorFlow's import time.
    result = subprocess.run(
        [sys.executable, "-c", "import sys, nlpkit.cli; print('tensorflow' in sys.modules)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=pathlib.Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_setup_runtime_splits_cpu_then_builds_the_strategy():
    script = """
import argparse, tensorflow as tf
from nlpkit import cli
parser = argparse.ArgumentParser()
cli.add_training_flags(parser, name="demo")
args = parser.parse_args(["--cpu-devices", "2", "--strategy", "mirrored", "--seed", "3"])
strategy = cli.setup_runtime(args)
print(strategy.num_replicas_in_sync, len(tf.config.list_logical_devices("CPU")))
"""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=pathlib.Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == ["2", "2"]


def overrides_parser():
    parser = make_parser()
    parser.add_argument("--model", choices=["cnn", "rnn"], default="rnn")
    parser.add_argument("--widths", type=lambda t: tuple(int(w) for w in t.split(",")),
                        default=(3, 4, 5))
    parser.add_argument("--vocab-size", type=int, default=100)
    return parser


def test_parse_overrides_returns_only_changed_values_parsed_by_their_flags():
    parser = overrides_parser()
    args = parser.parse_args(["--epochs", "3"])
    allowed = {"model", "widths", "epochs", "learning_rate"}
    spec = "model=cnn,widths=2,3,epochs=3,learning-rate=0.01"
    assert cli.parse_overrides(parser, args, spec, allowed, option="--member") == {
        "model": "cnn", "widths": (2, 3), "learning_rate": 0.01}
    # The shared flags are not touched.
    assert args.model == "rnn" and args.widths == (3, 4, 5)


@pytest.mark.parametrize("spec, found", [
    ("vocab-size=5", "'vocab-size=5'"),   # a flag outside `allowed`
    ("model", "'model'"),                # no value
    ("model=gru", "invalid choice"),     # the flag's own check
    ("epochs=0", "--epochs"),
])
def test_parse_overrides_errors_exit_with_2_naming_the_option(spec, found, capsys):
    parser = overrides_parser()
    args = parser.parse_args([])
    with pytest.raises(SystemExit) as raised:
        cli.parse_overrides(parser, args, spec, {"model", "epochs"}, option="--member")
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert found in error
    if "=" not in spec or spec.startswith("vocab"):
        assert f"--member {spec}" in error and "epochs, model" in error


def test_per_model_training_flags_are_shared_flags():
    dests = {action.dest for action in make_parser()._actions}
    assert cli.PER_MODEL_TRAINING_FLAGS <= dests


def test_options_dataclass_becomes_flags_and_back():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Options:
        num_layers: int = cli.option(1, flag="--layers", type=cli.positive_int, help="layers")
        gate: str = cli.option("sigmoid", choices=["sigmoid", "hard"], help="gate")
        peephole: bool = cli.option(False, help="peepholes")
        rate: float = cli.option(None, type=cli.rate, default_text="none", help="dropout")

    parser = argparse.ArgumentParser(prog="recipe")
    cli.add_option_flags(parser, Options, "model")
    args = parser.parse_args(["--layers", "3", "--peephole", "--rate", "0.25"])
    assert cli.options_from_args(Options, args) == Options(3, "sigmoid", True, 0.25)
    assert cli.option_flags(Options)["num_layers"] == "--layers"
    assert "dropout (a number in [0, 1); default: none)" in " ".join(parser.format_help().split())

    @dataclasses.dataclass
    class Untyped:
        width: int = cli.option(None, help="no type to parse it with")

    with pytest.raises(TypeError, match="Untyped.width"):
        cli.add_option_flags(argparse.ArgumentParser(), Untyped, "model")


@pytest.mark.parametrize("kind, text, accepted, refused", [
    (cli.positive_int, "an integer >= 1", [1], ["x", "0"]),
    (cli.fraction, "a number in (0, 1)", [1e-6, 1 - 1e-6], ["nan", "0", "1"]),
    (cli.rate, "a number in [0, 1)", [0.0, 1 - 1e-6], ["nan", "-1e-06", "1"]),
    (cli.non_negative_float, "a number >= 0", [0.0], ["nan", "-1e-06"]),
    (cli.any_int, "an integer", [], ["x"]),
])
def test_number_ranges_state_and_check_their_ends(kind, text, accepted, refused):
    assert str(kind) == text
    assert kind.edges() == (accepted, refused)
    for value in refused + ["inf"] * (kind.kind is float):
        with pytest.raises(argparse.ArgumentTypeError, match=f"expected {re.escape(text)}"):
            kind(value)
    assert [kind(str(value)) for value in accepted] == accepted
