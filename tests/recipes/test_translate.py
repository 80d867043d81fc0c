"""recipes/translate.py end to end: train on the sample -> export -> predict raw text, evaluate
and export again; bad pair files exit with 2 naming file and line."""

import json
import os

import pytest

from tests.recipes.recipe_checks import check_numeric_flags_at_their_edges
from tests.recipes.recipe_checks import recipe_module as load_recipe
from tests.recipes.recipe_checks import recipe_runner

run_recipe = recipe_runner("translate")




def recipe_module():
    return load_recipe("translate")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("translate")
    flags = ["--run-dir", str(root / "run"), "--export-dir", str(root / "export")]
    result = run_recipe("--epochs", "4", "--batch-size", "32", "--learning-rate", "0.005",
                        "--units", "64", "--embedding-dim", "32", "--seed", "1",
                        "--test-fraction", "0.1", "--cell", "gru", *flags)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return root, flags, result.stdout.decode()


def test_training_on_the_sample_learns_and_exports_version_1(trained):
    root, _, stdout = trained
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    # The sample's sentences are made from a few templates: a few epochs translate them well.
    assert metrics["dev"]["bleu"] > 30 and metrics["test"]["bleu"] > 30
    assert metrics["dev"]["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert metrics["test"]["sentences"] == 200
    assert len(metrics["history"]["val_loss"]) == metrics["epochs_run"] == 4
    assert stdout.count("  reference: ") == 4 * 3  # three sample translations per epoch
    config = json.loads((root / "export" / "1" / "assets.extra" / "run_config.json").read_text())
    assert config["flags"]["cell"] == "gru" and config["model"]["units"] == 64
    assert config["metrics"]["dev"] == metrics["dev"]


TEXTS = [
    "Nosotros tenemos un perro grande.",
    "",
    "   \t  ",
    "Ella ve la mesa blanca. " * 4_200,  # 100,800 characters
    "😀👍🏽 Ella 🎉",
    "Анна живёт в Москве, 東京に住む",
]


def test_predict_answers_every_kind_of_text_with_a_bounded_translation(trained):
    _, flags, _ = trained
    result = run_recipe("predict", *flags, *TEXTS)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    lines = result.stdout.decode().splitlines()
    assert len(lines) == len(TEXTS)
    for line in lines:
        score, translation = line.split("\t")
        assert float(score) <= 0 and len(translation.split()) <= 63  # --max-target-length - 1
    assert lines[0].split("\t")[1] == "We have a big dog."
    # invalid UTF-8 on stdin gets an answer too
    result = run_recipe("predict", *flags, stdin=b"bad \xff\xfe bytes\n\xc3\n")
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert len(result.stdout.decode().splitlines()) == 2


def test_evaluate_and_export_again(trained, capsys, tmp_path):
    root, flags, _ = trained
    recipe = recipe_module()
    sample = open(recipe.SAMPLE, encoding="utf-8").read().splitlines()[:100]
    # Two aligned files, the layout of most MT corpora: Spanish sources, English targets.
    source, target = tmp_path / "test.es", tmp_path / "test.en"
    source.write_text("".join(line.split("\t")[1] + "\n" for line in sample), encoding="utf-8")
    target.write_text("".join(line.split("\t")[0] + "\n" for line in sample), encoding="utf-8")
    assert recipe.main(["evaluate", "--data", str(source), str(target), *flags]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sentences"] == 100 and report["bleu"] > 30 and report["beam_size"] == 4
    # The test part of the training split: the 200 pairs training held out and scored, with
    # the same search through the export.
    assert recipe.main(["evaluate", "--test-fraction", "0.1", *flags]) == 0
    beam = json.loads(capsys.readouterr().out)
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    assert beam["sentences"] == 200 and abs(beam["bleu"] - metrics["test"]["bleu"]) < 0.5
    assert recipe.main(["evaluate", "--test-fraction", "0.1", "--beam-size", "1", *flags]) == 0
    greedy = json.loads(capsys.readouterr().out)
    assert greedy["beam_size"] == 1 and greedy["bleu"] > 30
    assert recipe.main(["export", *flags, "--beam-size", "2"]) == 0
    assert sorted(os.listdir(root / "export")) == ["1", "2"]
    config = json.loads((root / "export" / "2" / "assets.extra" / "run_config.json").read_text())
    assert config["model"]["cell"] == "gru"


@pytest.mark.parametrize("content, line, found", [
    ("Hello.\tHola.\nno tab\n", 2, "no tab"),
    ("Hello.\tHola.\n\t  \n", 2, "a non-empty source and target"),
    ("", None, "an empty file"),
])
def test_bad_pair_files_exit_with_2_naming_file_and_line(tmp_path, capsys, content, line, found):
    bad = tmp_path / "bad.tsv"
    bad.write_text(content, encoding="utf-8")
    recipe = recipe_module()
    with pytest.raises(SystemExit) as raised:
        recipe.main(["--data", str(bad), "--run-dir", str(tmp_path / "run")])
    message = capsys.readouterr().err
    assert raised.value.code == 2 and found in message, message
    assert (f"{bad}, line {line}:" if line else f"{bad}: expected") in message


def test_misaligned_files_and_wrong_path_counts_exit_with_2(tmp_path, capsys):
    source, target = tmp_path / "train.es", tmp_path / "train.en"
    source.write_text("Hola.\nAdiós.\nGracias.\n", encoding="utf-8")
    target.write_text("Hello.\nGoodbye.\n", encoding="utf-8")
    recipe = recipe_module()
    with pytest.raises(SystemExit) as raised:
        recipe.main(["--data", str(source), str(target), "--run-dir", str(tmp_path / "run")])
    message = capsys.readouterr().err
    assert raised.value.code == 2 and str(source) in message and str(target) in message
    with pytest.raises(SystemExit) as raised:
        recipe.parse_args(["--data", "a", "b", "c"])
    assert raised.value.code == 2 and "two aligned files" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        recipe.main(["--data", str(tmp_path / "absent.tsv"), "--run-dir", str(tmp_path / "r")])
    assert raised.value.code == 2 and "no such file" in capsys.readouterr().err.lower()


def test_every_numeric_flag_states_its_range_and_is_checked_at_its_edges(capsys):
    check_numeric_flags_at_their_edges(recipe_module(), capsys)
