"""nlpkit.tasks.tagging.flags: the data and model flags, and the word-vector checks (exit 2)."""

import argparse

import pytest

from nlpkit import cli
from nlpkit.tasks.tagging.flags import add_data_flags, add_tagger_flags, check_word_vector_flags
from nlpkit.tasks.tagging.model import TaggerOptions


def parser():
    result = argparse.ArgumentParser()
    add_data_flags(result)
    add_tagger_flags(result)
    cli.add_word_vector_flags(result)
    return result


def test_defaults_make_the_default_options_and_every_help_states_a_default():
    flags = parser()
    args = flags.parse_args([])
    assert cli.options_from_args(TaggerOptions, args) == TaggerOptions()
    assert (args.tag_scheme, args.output_scheme, args.sequences) == ("iob1", "iob2", "sentences")
    for action in flags._actions:
        if action.dest != "help":
            assert "default" in action.help, action.dest
    args = flags.parse_args(["--char-encoder", "lstm", "--no-casing", "--layers", "2",
                             "--decoder", "softmax", "--no-lowercase"])
    options = cli.options_from_args(TaggerOptions, args)
    assert (options.char_encoder, options.casing, options.num_layers, options.decoder) == (
        "lstm", False, 2, "softmax")
    assert args.lowercase is False


def test_word_vector_flags_are_checked_against_the_file(tmp_path, capsys):
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("the 1 2 3\nparis 1 2\n", encoding="utf-8")
    flags = parser()
    check_word_vector_flags(flags, flags.parse_args(["--embeddings", str(vectors)]))
    for argv, message in (
        (["--embeddings", str(vectors), "--embedding-dim", "50"], "--embedding-dim 50 differs"),
        (["--embeddings", str(tmp_path / "absent.txt")], "absent.txt"),
        (["--embeddings-trainable", "false"], "needs --embeddings PATH"),
    ):
        with pytest.raises(SystemExit) as raised:
            check_word_vector_flags(flags, flags.parse_args(argv))
        assert raised.value.code == 2 and message in capsys.readouterr().err
