"""nlpkit.tasks.classification.flags: the data flags and their checks."""

import argparse

import pytest

from nlpkit.tasks.classification import flags as classification


def test_data_flags_have_documented_defaults_and_folds_are_checked(capsys):
    import argparse

    parser = argparse.ArgumentParser(prog="recipe")
    group = classification.add_data_flags(parser)
    for action in group._group_actions:
        assert "(default:" in action.help, action.dest
    args = parser.parse_args(["--folds", "5", "--fold", "4"])
    classification.check_data_flags(parser, args)  # fits: no exit
    assert (args.dev_fraction, args.tokenizer, args.vocab_size) == (0.1, "word", 20000)
    for argv in (["--folds", "1"], ["--folds", "3", "--fold", "3"]):
        with pytest.raises(SystemExit) as raised:
            classification.check_data_flags(parser, parser.parse_args(argv))
        assert raised.value.code == 2
    assert "--fold in 0..folds-1" in capsys.readouterr().err
