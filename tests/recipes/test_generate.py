"""recipes/generate.py end to end: train a character model on the built-in text with TBPTT ->
metrics, learning curve and export -> sample and evaluate through the export, export again; bad
input exits with 2."""

import json
import os

import pytest

from tests.recipes.recipe_checks import check_numeric_flags_at_their_edges
from tests.recipes.recipe_checks import recipe_module as load_recipe
from tests.recipes.recipe_checks import recipe_runner

run_recipe = recipe_runner("generate")


def recipe_module():
    return load_recipe("generate")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("generate")
    flags = ["--run-dir", str(root / "run"), "--export-dir", str(root / "export")]
    result = run_recipe("--epochs", "3", "--units", "48", "--layers", "1", "--bptt", "40",
                        "--batch-size", "16", "--learning-rate", "0.01", "--length", "60",
                        "--seed", "1", *flags)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return root, flags, result.stdout.decode()


def test_training_learns_writes_the_curve_and_exports_version_1(trained):
    root, _, stdout = trained
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    # A uniform guess over the sample's ~50 characters costs ln(50) = 3.9 nats; three short
    # epochs on its templates get far below that.
    assert metrics["nats_per_unit"] < 2.5
    assert metrics["bits_per_unit"] == pytest.approx(metrics["nats_per_unit"] / 0.6931, rel=1e-3)
    assert len(metrics["history"]["val_loss"]) == metrics["epochs_run"] == 3
    assert (root / "run" / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert stdout.count("--- temperature") == 3
    config = json.loads((root / "export" / "1" / "assets.extra" / "run_config.json").read_text())
    assert config["flags"]["bptt"] == 40 and config["model"]["units"] == 48


def test_sample_is_repeatable_for_a_seed_and_evaluate_scores_text(trained, capsys):
    _, flags, _ = trained
    recipe = recipe_module()
    texts = []
    for seed in ("3", "3", "4"):
        assert recipe.main(["sample", *flags, "--prompt", "MARINA:\n", "--length", "80",
                            "--sample-seed", seed]) == 0
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] != texts[2]
    assert texts[0].startswith("MARINA:\n") and len(texts[0]) > 40
    assert recipe.main(["evaluate", *flags]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0 < report["nats_per_unit"] < 2.5 and report["units"] > 90_000
    assert recipe.main(["export", *flags]) == 0
    assert sorted(os.listdir(flags[3])) == ["1", "2"]


@pytest.mark.parametrize("content, found", [
    (b"", "an empty file"),
    (b"\x00\xff\xfe binary", "UTF-8"),
    (b"far too short for one window", "at least"),
])
def test_bad_text_files_exit_with_2(tmp_path, capsys, content, found):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    recipe = recipe_module()
    with pytest.raises(SystemExit) as raised:
        recipe.main(["--data", str(bad), "--run-dir", str(tmp_path / "run")])
    message = capsys.readouterr().err
    assert raised.value.code == 2 and found in message and str(bad) in message, message


def test_every_numeric_flag_states_its_range_and_is_checked_at_its_edges(capsys):
    check_numeric_flags_at_their_edges(recipe_module(), capsys)
