"""nlpkit.tasks.classification.flags: the data flags and their checks."""

import argparse

import pytest

from nlpkit.layers import token_module
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


def vector_flags_parser():
    from nlpkit.cli import (
        add_ensemble_flags,
        add_training_flags,
        add_word_vector_flags,
        member_overrides,
    )
    from nlpkit.tasks.classification.model import ClassifierOptions

    parser = argparse.ArgumentParser(prog="recipe")
    add_training_flags(parser, name="test")
    classification.add_data_flags(parser)
    classification.add_classifier_flags(parser)
    group = add_word_vector_flags(parser)
    add_ensemble_flags(parser)

    def parse(*argv):
        args = parser.parse_args(list(argv))
        args.member_overrides = member_overrides(parser, args, ClassifierOptions)
        classification.check_word_vector_flags(parser, args)
        return args

    return parser, group, parse


def test_word_vector_flags_have_documented_defaults_and_give_the_options(tmp_path):
    from nlpkit.cli import WordVectorOptions

    parser, group, parse = vector_flags_parser()
    for action in group._group_actions:
        assert "default:" in action.help, action.dest
    assert WordVectorOptions.from_args(parse()) == WordVectorOptions()
    path = tmp_path / "v.txt"
    path.write_text("good 1 2 3\nbad 3 2 1\n", encoding="utf-8")
    args = parse("--embeddings", str(path), "--embeddings-trainable", "False",
                 "--trained-embedding-dim", "4", "--vocabulary-from-embeddings", "100",
                 "--embedding-dim", "3", "--model", "cnn")
    assert WordVectorOptions.from_args(args) == WordVectorOptions(
        path=str(path), trainable=False, channels=1, trained_dim=4, vocabulary_from_file=100)
    assert WordVectorOptions.from_args(parse("--embeddings", str(path), "--embeddings-channels",
                                             "2")).channels == 2


@pytest.mark.parametrize("argv, message", [
    (["--embeddings-trainable", "no"], "--embeddings-trainable: expected true or false"),
    (["--embeddings-channels", "3"], "invalid choice: 3"),
    (["--trained-embedding-dim", "-1"], "--trained-embedding-dim: expected an integer >= 0"),
    (["--vocabulary-from-embeddings", "100"], "--vocabulary-from-embeddings 100: needs --embed"),
    (["--embeddings-trainable", "false"], "--embeddings-trainable false: needs --embeddings"),
    (["@", "--embeddings-channels", "2", "--embeddings-trainable", "false"],
     "with --embeddings-trainable false both would be frozen"),
    (["@", "--tokenizer", "wordpiece", "--vocabulary-from-embeddings", "5"],
     "it needs --tokenizer word"),
    (["@", "--model", "bow"], "--model bow has no word embedding"),
    (["@", "--member", "model=bow"], "--model bow has no word embedding"),
    (["@", "--embedding-dim", "300"], "--embedding-dim 300 differs from the 3 dimensions"),
    (["@", "--member", "embedding-dim=4"], "--embedding-dim 4 differs from the 3 dimensions"),
    (["--embeddings", "absent.txt"], "--embeddings: [Errno 2] No such file"),
    # Only the first vector is read here; later lines are checked when the file is read.
    (["--embeddings", "BAD"], "bad.txt, line 1: expected a number in column 3, found 'x'"),
])
def test_word_vector_flags_that_cannot_be_used_are_usage_errors(tmp_path, capsys, argv, message):
    good = tmp_path / "v.txt"
    good.write_text("good 1 2 3\nbad 3 2 1\n", encoding="utf-8")
    bad = tmp_path / "bad.txt"
    bad.write_text("good 1 x 3\nbad 3 2\n", encoding="utf-8")
    argv = [{"@": "--embeddings", "BAD": str(bad)}.get(item, item) for item in argv]
    if argv[0] == "--embeddings" and argv[1] not in (str(bad), "absent.txt"):
        argv.insert(1, str(good))
    _, _, parse = vector_flags_parser()
    with pytest.raises(SystemExit) as raised:
        parse(*argv)
    assert raised.value.code == 2
    assert message in " ".join(capsys.readouterr().err.split())


# --hub-encoder: a model on raw text, refused with the flags of models on token ids.

def hub_flags_parser():
    from nlpkit.cli import (
        add_ensemble_flags,
        add_training_flags,
        add_word_vector_flags,
        member_overrides,
    )
    from nlpkit.tasks.classification.model import ClassifierOptions

    parser = argparse.ArgumentParser(prog="recipe")
    add_training_flags(parser, name="test")
    classification.add_data_flags(parser)
    classification.add_classifier_flags(parser)
    add_word_vector_flags(parser)
    add_ensemble_flags(parser)

    def parse(*argv):
        args = parser.parse_args(list(argv))
        args.member_overrides = member_overrides(parser, args, ClassifierOptions)
        classification.check_hub_encoder_flags(parser, args)
        return args

    return parse


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    """A directory that looks like a SavedModel, given relative to the working directory."""
    (tmp_path / "module" / "1").mkdir(parents=True)
    (tmp_path / "module" / "1" / "saved_model.pb").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    # These tests are about the flags: the stand-in module is taken for a sentence encoder
    # without being opened (tests/recipes/test_token_hub_encoder.py opens real ones).
    monkeypatch.setattr(token_module, "per_token_description", lambda handle: None)
    return tmp_path / "module" / "1"


def test_hub_encoder_makes_the_model_hub_with_an_absolute_handle(module_dir):
    from nlpkit.cli import options_from_args
    from nlpkit.tasks.classification.model import ClassifierOptions

    parse = hub_flags_parser()
    args = parse("--hub-encoder", "module/1", "--hub-trainable", "true", "--dropout", "0.2",
                 "--max-norm", "3", "--ensemble", "2", "--member", "hub-encoder=./module/1")
    assert (args.model, args.hub_encoder, args.hub_trainable) == ("hub", str(module_dir), True)
    assert args.member_overrides[-1] == {"hub_encoder": str(module_dir)}
    assert options_from_args(ClassifierOptions, args) == ClassifierOptions(
        encoder="hub", hub_encoder=str(module_dir), hub_trainable=True, dropout=0.2,
        max_norm=3.0)
    args = parse("--model", "hub", "--hub-encoder", "https://tfhub.dev/google/nnlm-en-dim50/2")
    assert args.hub_encoder == "https://tfhub.dev/google/nnlm-en-dim50/2"  # URLs as given
    assert (parse().model, parse().hub_encoder, parse().hub_trainable) == ("rnn", None, False)


@pytest.mark.parametrize("argv, message", [
    (["--model", "hub"], "--model hub needs --hub-encoder HANDLE"),
    (["--hub-trainable", "true"], "--hub-trainable true fine-tunes a Hub module: it needs"),
    (["--hub-trainable", "yes"], "--hub-trainable: expected true or false"),
    (["@", "--model", "bow"], "so it cannot go with --model bow"),
    (["@", "--member", "model=cnn"], "(--member): the Hub module is the encoder"),
    (["--member", "hub-encoder=module/1"], "cannot mix Hub-encoder models"),
    (["@", "--tokenizer", "wordpiece", "--units", "64", "--no-bidirectional", "--widths", "2,3"],
     "do not apply: --tokenizer wordpiece, --no-bidirectional, --units 64, --widths 2,3;"),
    (["@", "--embeddings", "vectors.txt"], "do not apply: --embeddings vectors.txt"),
    (["@", "--member", "cell=gru"], "do not apply: --cell gru"),
    (["--hub-encoder", "module"], "--hub-encoder module: not a SavedModel directory"),
])
def test_hub_encoder_flags_that_cannot_be_used_are_usage_errors(module_dir, capsys, argv,
                                                                message):
    argv = [item for entry in argv
            for item in (["--hub-encoder", "module/1"] if entry == "@" else [entry])]
    with pytest.raises(SystemExit) as raised:
        hub_flags_parser()(*argv)
    assert raised.value.code == 2
    assert message in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("argv, message", [
    (["--hub-combine", "concat", "--tokenizer", "wordpiece"],
     "--hub-combine concat embeds whole words next to the module's: it needs --tokenizer word"),
    (["--embeddings", "vectors.txt"], "do not apply: --embeddings vectors.txt"),
    (["--hub-combine", "concat", "--widths", "2,3"], "do not apply: --widths 2,3"),
])
def test_a_per_token_module_takes_word_flags_only_with_concat(module_dir, monkeypatch, capsys,
                                                              argv, message):
    monkeypatch.setattr(token_module, "per_token_description",
                        lambda handle: token_module.TokenModuleInfo(("word_emb",), 8))
    parse = hub_flags_parser()
    args = parse("--hub-encoder", "module/1", "--hub-combine", "concat", "--embeddings",
                 "vectors.txt", "--vocab-size", "500", "--embedding-dim", "50",
                 "--embedding-dropout", "0.1", "--units", "64")
    assert (args.model, args.hub_combine, args.embeddings) == ("hub", "concat", "vectors.txt")
    with pytest.raises(SystemExit) as raised:
        parse("--hub-encoder", "module/1", *argv)
    assert raised.value.code == 2
    assert message in " ".join(capsys.readouterr().err.split())


def test_a_sentence_module_has_no_words_to_concatenate_with(module_dir, capsys):
    with pytest.raises(SystemExit) as raised:
        hub_flags_parser()("--hub-encoder", "module/1", "--hub-combine", "concat")
    assert raised.value.code == 2
    assert "do not apply: --hub-combine concat" in capsys.readouterr().err
