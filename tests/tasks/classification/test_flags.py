"""nlpkit.tasks.classification.flags: the data flags and their checks."""

import argparse

import pytest

from nlpkit.tasks.classification import flags as classification


def test_data_flags_have_documented_defaults_and_folds_are_checked(capsys):
    parser = argparse.ArgumentParser(prog="recipe")
    group = classification.add_data_flags(parser)
    for action in group._group_actions:
        assert "default:" in action.help, action.dest
    args = parser.parse_args(["--folds", "5", "--fold", "4"])
    classification.check_data_flags(parser, args)  # fits: no exit
    assert (args.dev_fraction, args.tokenizer, args.vocab_size) == (0.1, "word", 20000)
    with pytest.raises(SystemExit) as raised:
        parser.parse_args(["--folds", "1"])
    assert raised.value.code == 2
    assert "--folds: expected an integer >= 2" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        classification.check_data_flags(parser, parser.parse_args(["--folds", "3", "--fold", "3"]))
    assert raised.value.code == 2
    assert "--fold in 0..folds-1" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--vocab-size", "1"], "--vocab-size: expected an integer >= 5"),
    (["--dev-fraction", "1.5"], "--dev-fraction: expected a number in (0, 1)"),
    (["--dev-fraction", "0"], "--dev-fraction: expected a number in (0, 1)"),
    (["--fold", "-1"], "--fold: expected an integer >= 0"),
])
def test_bad_data_flags_are_usage_errors_naming_the_range(argv, message, capsys):
    parser = argparse.ArgumentParser(prog="recipe")
    classification.add_data_flags(parser)
    with pytest.raises(SystemExit) as raised:
        parser.parse_args(argv)
    assert raised.value.code == 2 and message in capsys.readouterr().err
