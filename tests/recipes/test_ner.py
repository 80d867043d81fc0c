"""recipes/ner.py end to end: train on the sample -> export -> predict on raw text, evaluate and
export again; bad data files exit with 2 naming file and line."""

import json
import os

import pytest

from tests.recipes.recipe_checks import check_numeric_flags_at_their_edges
from tests.recipes.recipe_checks import recipe_module as load_recipe
from tests.recipes.recipe_checks import recipe_runner

run_recipe = recipe_runner("ner")




def recipe_module():
    return load_recipe("ner")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner")
    flags = ["--run-dir", str(root / "run"), "--export-dir", str(root / "export")]
    result = run_recipe("--epochs", "8", "--units", "32", "--seed", "1", *flags)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return root, flags, result.stdout.decode()


def test_training_on_the_sample_learns_and_exports_version_1(trained):
    root, _, stdout = trained
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    assert metrics["f1"] > 0.8 and set(metrics["per_type"]) == {"PER", "LOC", "ORG", "MISC"}
    assert len(metrics["history"]["val_f1"]) == metrics["epochs_run"]
    assert "exported" in stdout and "overall" in stdout
    config = json.loads((root / "export" / "1" / "assets.extra" / "run_config.json").read_text())
    assert config["flags"]["decoder"] == "crf" and config["tag_names"][0] == "O"
    assert config["dev_metrics"]["f1"] == metrics["f1"]
    assert (root / "run" / "run_config.json").exists()


TEXTS = [
    "Grace Tanaka flew from Oslo to Lima with Vantage Airlines .",
    "",
    "   \t  ",
    "Omar Haddad " * 8_334,  # 100,008 characters
    "😀👍🏽 Anna Novak 🎉",
    "Анна живёт в Москве , 東京 に 住む",
]


def check_answers(lines, texts):
    assert len(lines) == len(texts)
    for line, text in zip(lines, texts):
        answer = json.loads(line)
        assert len(answer["tokens"]) == len(answer["tags"]) <= 256
        for entity in answer["entities"]:
            assert 0 <= entity["start"] < entity["end"] <= len(text)
            assert text[entity["start"] : entity["end"]].decode(errors="replace") == (
                entity["text"])
    return [json.loads(line) for line in lines]


def test_predict_answers_every_kind_of_text_with_spans_inside_it(trained):
    _, flags, _ = trained
    result = run_recipe("predict", *flags, *TEXTS)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    answers = check_answers(result.stdout.decode().splitlines(), [t.encode() for t in TEXTS])
    assert {entity["type"] for entity in answers[0]["entities"]} >= {"PER", "LOC"}
    assert answers[1] == {"entities": [], "tokens": [], "tags": []} == answers[2]
    assert len(answers[3]["tokens"]) == 256  # tagged up to --max-length words
    # invalid UTF-8 on stdin gets an answer too, with spans in the bytes as sent
    texts = [b"bad \xff\xfe bytes Omar Haddad", b"\xc3"]
    result = run_recipe("predict", *flags, stdin=b"\n".join(texts) + b"\n")
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    check_answers(result.stdout.decode().splitlines(), texts)


def test_evaluate_and_export_again(trained, capsys):
    root, flags, _ = trained
    recipe = recipe_module()
    assert recipe.main(["evaluate", *flags]) == 0
    out = capsys.readouterr().out
    assert "400 sentences" in out and "overall" in out
    assert recipe.main(["export", *flags]) == 0
    assert sorted(os.listdir(root / "export")) == ["1", "2"]


@pytest.mark.parametrize("content, scheme, line, found", [
    ("EU B-ORG\nrejects O O\n", "iob1", 2, "found 3: 'rejects O O'"),
    ("EU B-ORG\nrejects NOT-A-TAG\n", "iob1", 2, "'NOT-A-TAG'"),
    ("EU B-ORG\nsays O\nGerman I-MISC\n", "iob2", 3, "B-MISC or I-MISC before I-MISC"),
    ("".join(f"w{i} O\n" for i in range(300)), "iob1", 257, "at most 256 tokens"),
    ("", "iob1", None, "an empty file"),
])
def test_bad_data_files_exit_with_2_naming_file_and_line(tmp_path, capsys, content, scheme,
                                                         line, found):
    bad = tmp_path / "bad.txt"
    bad.write_text(content, encoding="utf-8")
    recipe = recipe_module()
    with pytest.raises(SystemExit) as raised:
        recipe.main(["--data", str(bad), "--tag-scheme", scheme,
                     "--run-dir", str(tmp_path / "run")])
    message = capsys.readouterr().err
    assert raised.value.code == 2 and found in message, message
    assert (f"{bad}, line {line}:" if line else f"{bad}: expected") in message


def test_unknown_dev_tags_and_missing_files_exit_with_2(tmp_path, capsys):
    dev = tmp_path / "dev.txt"
    dev.write_text("Ann B-PER\n\nat O\nACME B-COMPANY\n", encoding="utf-8")
    recipe = recipe_module()
    with pytest.raises(SystemExit) as raised:
        recipe.main(["--dev-data", str(dev), "--run-dir", str(tmp_path / "run")])
    message = capsys.readouterr().err
    assert raised.value.code == 2 and f"{dev}, line 4" in message and "B-COMPANY" in message
    with pytest.raises(SystemExit) as raised:
        recipe.main(["--data", str(tmp_path / "absent.txt"), "--run-dir", str(tmp_path / "r")])
    assert raised.value.code == 2 and "no such file" in capsys.readouterr().err


def test_every_numeric_flag_states_its_range_and_is_checked_at_its_edges(capsys):
    check_numeric_flags_at_their_edges(recipe_module(), capsys)
