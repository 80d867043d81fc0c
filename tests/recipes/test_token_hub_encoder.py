"""`--hub-encoder` with a per-token Hub module (ELMo's interface) in the NER and sentiment
recipes: a tiny module mixed by ScalarMix trains for an epoch and exports; a handle that is
missing, not a module, or a module of the wrong shapes exits with 2 naming it."""

import json

import pytest

from tests.export.tiny_token_module import export_tiny_token_module
from tests.recipes.recipe_checks import recipe_module, recipe_runner

run_ner = recipe_runner("ner")
run_sentiment = recipe_runner("sentiment")


@pytest.fixture(scope="module")
def handle(tmp_path_factory):
    return export_tiny_token_module(tmp_path_factory.mktemp("modules") / "tiny")


def test_ner_trains_with_the_mixed_module_and_exports(tmp_path, handle):
    result = run_ner("--epochs", "1", "--units", "8", "--char-encoder", "none", "--seed", "1",
                     "--hub-encoder", handle, "--hub-trainable", "true",
                     "--run-dir", str(tmp_path / "run"),
                     "--export-dir", str(tmp_path / "export"))
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    config = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert config["flags"]["hub_encoder"] == handle
    assert (tmp_path / "export" / "1" / "saved_model.pb").exists()
    predicted = run_ner("predict", "Anna visited Paris .", "--export-dir",
                        str(tmp_path / "export"))
    assert predicted.returncode == 0, predicted.stderr.decode()[-3000:]
    assert json.loads(predicted.stdout)["tokens"] == ["Anna", "visited", "Paris", "."]


def test_sentiment_trains_with_the_mixed_module_under_a_recurrent_encoder(tmp_path, handle):
    result = run_sentiment("--epochs", "1", "--units", "8", "--pooling", "mean",
                           "--hub-encoder", handle, "--run-dir", str(tmp_path / "run"),
                           "--export-dir", str(tmp_path / "export"))
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    config = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert config["flags"]["hub_encoder"] == handle and config["flags"]["pooling"] == "mean"
    assert (tmp_path / "export" / "1" / "saved_model.pb").exists()


def test_sentiment_concatenates_the_mix_with_pretrained_vectors_and_serves_raw_text(tmp_path,
                                                                                    handle):
    from tests.recipes.test_sentiment import write_vectors

    write_vectors(tmp_path / "vectors.txt", ["the", "film", "good", "bad", "a"])
    flags = ["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "export")]
    result = run_sentiment("--epochs", "1", "--units", "8", "--pooling", "mean", "--seed", "1",
                           "--hub-encoder", handle, "--hub-combine", "concat",
                           "--embeddings", str(tmp_path / "vectors.txt"), *flags)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    config = json.loads((tmp_path / "run" / "run_config.json").read_text())
    assert config["hub_encoder"] == {"handle": handle, "trainable": False, "combine": "concat"}
    assert config["word_vectors"]["dimension"] == 4
    # The tokenizer lives inside the model, so the export is still raw text in.
    texts = ["the film is good", "a bad film", ""]
    result = run_sentiment("predict", *flags, *texts)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    rows = [line.split("\t") for line in result.stdout.decode().splitlines()]
    assert [row[2] for row in rows] == texts


@pytest.mark.parametrize("recipe", ["ner", "sentiment"])
def test_bad_handles_exit_with_2_naming_the_handle(tmp_path, handle, recipe, capsys):
    parse_args = recipe_module(recipe).parse_args
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "saved_model.pb").write_bytes(b"\x00 not a protobuf")
    for bad in (tmp_path / "no-such-module", junk):
        with pytest.raises(SystemExit) as raised:
            parse_args(["--hub-encoder", str(bad)])
        assert raised.value.code == 2
        assert f"--hub-encoder {bad}" in capsys.readouterr().err
    _, args = parse_args(["--hub-encoder", handle])
    assert args.hub_encoder == handle
