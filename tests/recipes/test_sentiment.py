"""recipes/sentiment.py end to end: train -> export -> predict, and bad input exits with 2."""

import json
import os
import subprocess
import sys

import pytest

from tests.recipes.recipe_checks import check_numeric_flags_at_their_edges
from tests.recipes.recipe_checks import recipe_module as load_recipe
from tests.recipes.recipe_checks import recipe_path, recipe_runner

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
run_recipe = recipe_runner("sentiment")




@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("sentiment")
    flags = ["--run-dir", str(root / "run"), "--export-dir", str(root / "export")]
    result = run_recipe("--model", "cnn", "--epochs", "3", "--filters", "16", "--seed", "1", *flags)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    return root, flags, result.stdout.decode()


def test_training_on_the_sample_learns_and_exports_version_1(trained):
    root, _, stdout = trained
    metrics = json.loads((root / "run" / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.8  # the sample is easy; chance is 0.5
    assert "exported" in stdout and (root / "export" / "1" / "saved_model.pb").exists()
    config = json.loads((root / "export" / "1" / "assets.extra" / "run_config.json").read_text())
    assert config["flags"]["model"] == "cnn" and config["label_names"] == ["negative", "positive"]


def test_predict_answers_every_kind_of_text(trained):
    _, flags, _ = trained
    texts = ["the acting is superb", "the script is awful", "", "😀 東京 ok", "x" * 100_000]
    result = run_recipe("predict", *flags, *texts)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    rows = [line.split("\t") for line in result.stdout.decode().splitlines()]
    assert len(rows) == len(texts)
    assert rows[0][0] == "positive" and rows[1][0] == "negative"
    assert all(0.0 <= float(score) <= 1.0 for _, score, _ in rows)
    # invalid UTF-8 on stdin gets an answer too
    result = run_recipe("predict", *flags, stdin=b"bad \xff\xfe bytes\n")
    assert result.returncode == 0 and result.stdout.decode().split("\t")[0] in ("positive", "negative")


def test_export_again_makes_version_2_and_keeps_version_1(trained):
    root, flags, _ = trained
    result = run_recipe("export", *flags)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert sorted(os.listdir(root / "export")) == ["1", "2"]


def test_bad_data_exits_with_2_naming_file_and_line(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence\tlabel\ngood\t1\nno tab here\n", encoding="utf-8")
    result = run_recipe("--data", str(bad), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2
    message = result.stderr.decode()
    assert f"{bad}, line 3" in message and "Traceback" not in message
    result = run_recipe("--data", str(tmp_path / "absent.tsv"))
    assert result.returncode == 2 and "no such file" in result.stderr.decode()


def test_members_with_their_own_flags_train_into_one_exported_ensemble(tmp_path):
    flags = ["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "export")]
    result = run_recipe("--model", "cnn", "--filters", "8", "--epochs", "1", "--seed", "1",
                        "--member", "model=bow,epochs=2", "--member",
                        "model=cnn,widths=2,3,filters=4,max-norm=3", *flags)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    members = metrics["members"]
    assert [member["flags"] for member in members] == [
        {}, {"model": "bow", "epochs": 2},
        {"widths": [2, 3], "filters": 4, "max_norm": 3.0}]
    assert [member["epochs_run"] for member in members] == [1, 2, 1]
    assert metrics["training_seconds"] == pytest.approx(
        sum(member["training_seconds"] for member in members), abs=0.2)
    assert sorted(os.listdir(tmp_path / "run")) >= ["member_0", "member_1", "member_2"]
    assert (tmp_path / "export" / "1" / "saved_model.pb").exists()
    result = run_recipe("predict", *flags, "the acting is superb")
    assert result.returncode == 0 and result.stdout.decode().split("\t")[0] in (
        "positive", "negative")


@pytest.mark.parametrize("spec, message", [("vocab-size=100", "--member vocab-size=100"),
                                           ("dropout", "--member dropout"),
                                           ("model=xyz", "invalid choice: 'xyz'")])
def test_bad_member_flags_exit_with_2(tmp_path, spec, message):
    result = run_recipe("--member", spec, "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2 and message in result.stderr.decode()
    assert not (tmp_path / "run").exists()


def recipe_module():
    return load_recipe("sentiment")


def test_every_numeric_flag_states_its_range_and_is_checked_at_its_edges(capsys):
    check_numeric_flags_at_their_edges(recipe_module(), capsys)


@pytest.mark.parametrize("labels, found", [("7", "'7'"), ("maybe", "'maybe'")])
def test_labels_outside_the_label_names_exit_with_2_naming_the_line(tmp_path, labels, found):
    data = tmp_path / "data.tsv"
    data.write_text(f"sentence\tlabel\ngood\t1\nhmm\t{labels}\n", encoding="utf-8")
    result = run_recipe("--data", str(data), "--run-dir", str(tmp_path / "run"))
    message = result.stderr.decode()
    assert result.returncode == 2 and f"{data}, line 3" in message and found in message
    assert "Traceback" not in message


def test_a_run_dir_is_owned_by_one_run_and_a_changed_run_does_not_resume_its_backup(tmp_path):
    import time

    flags = ["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "export"),
             "--model", "bow", "--epochs", "1"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO)
    # Long enough to still own the lock when the second run starts; it is killed below.
    first = subprocess.Popen([sys.executable, recipe_path("sentiment"), *flags, "--epochs", "500", "--patience",
                              "500"], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lock = tmp_path / "run" / "run.lock"
    backup = tmp_path / "run" / "backup" / "checkpoint"
    try:
        deadline = time.monotonic() + 300
        # Waits on the first run's own progress: its lock file and its first epoch's backup.
        while not backup.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lock.exists() and backup.exists(), "the first run never took the lock or a backup"
        second = run_recipe(*flags)
        message = second.stderr.decode()
        assert second.returncode == 2 and f"in use by process {first.pid}" in message
        assert "Traceback" not in message
    finally:
        first.kill()
        first.wait(timeout=60)
    # The killed run's lock is stale and is taken over, but its backup is of a 500-epoch run:
    # resuming it would not give the 1-epoch run asked for, so the run refuses, saying why.
    third = run_recipe(*flags)
    message = third.stderr.decode()
    assert "taking over" in message and third.returncode == 2, message[-3000:]
    assert "epochs: 500 in the backup, 1 now" in message and "--resume" in message
    assert "Traceback" not in message and not lock.exists()
    fourth = run_recipe(*flags, "--resume", "restart")
    assert fourth.returncode == 0, fourth.stderr.decode()[-3000:]
    assert "deleting the backup" in fourth.stderr.decode() + fourth.stdout.decode()


def write_vectors(path, words, dimension=4):
    """A GloVe-style vectors file whose values are exact in float32 (multiples of 1/8)."""
    import numpy as np

    rng = np.random.default_rng(0)
    rows = {word: rng.integers(-16, 16, size=dimension) / 8 for word in words}
    path.write_text("".join(f"{word} " + " ".join(str(v) for v in row) + "\n"
                            for word, row in rows.items()), encoding="utf-8")
    return {word: row.astype(np.float32) for word, row in rows.items()}


def test_frozen_pretrained_vectors_are_the_exported_models_embedding_rows(tmp_path):
    import numpy as np
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  registers the ops of the exported tokenizer

    # "The" lower-cases onto "the"; "zebra" and "yak" are not in the sample: vocabulary
    # expansion adds them.
    file_vectors = write_vectors(tmp_path / "vectors.txt", [
        "the", "The", "brilliant", "terrible", "animation", "zebra", "waste", "yak"])
    flags = ["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "export")]
    result = run_recipe("--model", "cnn", "--filters", "4", "--epochs", "1", "--seed", "1",
                        "--embeddings", str(tmp_path / "vectors.txt"), "--embeddings-trainable",
                        "false", "--vocabulary-from-embeddings", "7", *flags)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert "6 of " in result.stdout.decode() and "are words added from the file" in (
        result.stdout.decode())
    config = json.loads((tmp_path / "export" / "1" / "assets.extra" / "run_config.json")
                        .read_text())
    assert config["flags"]["embeddings"] == str(tmp_path / "vectors.txt")
    assert config["flags"]["embeddings_trainable"] is False
    assert config["word_vectors"]["dimension"] == 4 and config["word_vectors"]["exact"] == 6
    tokens = json.loads((tmp_path / "run" / "tokenizer.json").read_text())["config"][
        "vocabulary"]
    assert tokens[-1] == "zebra" and "yak" not in tokens  # the 8th word was not considered
    served = tf.saved_model.load(str(tmp_path / "export" / "1"))
    (table,) = [variable.numpy() for variable in served.variables
                if "frozen_vectors" in variable.name]
    assert table.shape == (len(tokens), 4)
    for word in ("the", "brilliant", "terrible", "animation", "zebra", "waste"):
        np.testing.assert_array_equal(table[tokens.index(word)], file_vectors[word])
    np.testing.assert_array_equal(table[0], 0.0)
    result = run_recipe("predict", *flags, "a zebra")
    assert result.returncode == 0 and result.stdout.decode().split("\t")[0] in (
        "positive", "negative")


def test_a_bad_vectors_file_exits_with_2_naming_file_and_line(tmp_path):
    bad = tmp_path / "vectors.txt"
    bad.write_text("the 1 2 3\nbrilliant 1 2 3\nterrible 1 2\n", encoding="utf-8")
    result = run_recipe("--embeddings", str(bad), "--run-dir", str(tmp_path / "run"))
    message = result.stderr.decode()
    assert result.returncode == 2 and "Traceback" not in message
    assert f"{bad}, line 3: expected a word and 3 values (as on line 1), found 2" in message
    result = run_recipe("--embeddings", str(bad), "--embedding-dim", "300",
                        "--run-dir", str(tmp_path / "run"))
    message = result.stderr.decode()
    assert result.returncode == 2 and "--embedding-dim 300 differs from the 3" in message


# TF Hub in and out: a Hub module as the encoder (--hub-encoder), and the trained model's encoder
# written as a Hub module (export-encoder) and read back.

def test_a_word_vectors_hub_module_as_encoder_trains_exports_and_predicts(tmp_path, capsys):
    from nlpkit.export import saved_model_op_types, unservable_ops
    from nlpkit.export.word_vectors_module import main as build_word_vectors_module

    vectors = tmp_path / "vectors.txt"
    write_vectors(vectors, ["the", "brilliant", "terrible", "animation", "waste", "surprise",
                            "smiling", "forgotten"])
    assert build_word_vectors_module([str(vectors), str(tmp_path / "glove"),
                                      "--split", "whitespace"]) == 0
    handle = str(tmp_path / "glove" / "1")
    # Flags of models on token ids are refused before anything runs.
    with pytest.raises(SystemExit) as raised:
        recipe_module().parse_args(["--hub-encoder", handle, "--model", "bow"])
    assert raised.value.code == 2 and "cannot go with --model bow" in capsys.readouterr().err

    flags = ["--run-dir", str(tmp_path / "run"), "--export-dir", str(tmp_path / "export")]
    result = run_recipe("--hub-encoder", handle, "--epochs", "1", "--seed", "1", *flags)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert f"raw text into the Hub module {handle}" in result.stdout.decode()
    config = json.loads((tmp_path / "export" / "1" / "assets.extra" / "run_config.json")
                        .read_text())
    assert config["hub_encoder"] == {"handle": handle, "trainable": False, "combine": "replace"}
    assert config["flags"]["model"] == "hub" and config["models"][0]["hub_encoder"] == handle
    assert json.loads((tmp_path / "run" / "tokenizer.json").read_text()) is None
    assert unservable_ops(saved_model_op_types(tmp_path / "export" / "1")) == {}
    result = run_recipe("export", *flags)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    assert sorted(os.listdir(tmp_path / "export")) == ["1", "2"]
    texts = ["the animation is brilliant", "what a waste", "", "😀 東京 ok"]
    result = run_recipe("predict", *flags, *texts)
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    rows = [line.split("\t") for line in result.stdout.decode().splitlines()]
    assert [row[2] for row in rows] == texts
    assert all(label in ("positive", "negative") and 0.5 <= float(score) <= 1.0
               for label, score, _ in rows)


def test_export_encoder_writes_the_pooled_vector_and_hub_encoder_fine_tunes_it(trained,
                                                                                tmp_path):
    import keras
    import numpy as np
    import tensorflow as tf

    import nlpkit.layers  # noqa: F401  registers the layers the .keras files hold
    import nlpkit.text  # noqa: F401  and TF Text's ops, which the module's tokenizer uses
    from nlpkit.tasks.classification import sentence_encoder

    root, _, _ = trained
    encoder_base = tmp_path / "encoder"
    result = run_recipe("export-encoder", "--run-dir", str(root / "run"),
                        "--export-dir", str(encoder_base))
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    handle = str(encoder_base / "1")
    assert f"(48 dimensions) as the Hub module {handle}" in result.stdout.decode()  # 16 x 3

    # The module is the trained model's tokenizer, embedding, CNN and pooling.
    model = keras.models.load_model(root / "run" / "model.keras")
    tokenizer = keras.saving.deserialize_keras_object(
        json.loads((root / "run" / "tokenizer.json").read_text()))
    texts = ["the acting is superb", "the script is awful", "", "😀 東京 ok", "x " * 300]
    pooled = keras.ops.convert_to_numpy(sentence_encoder(model)(tokenizer(tf.constant(texts))))
    module = tf.saved_model.load(handle)
    np.testing.assert_allclose(module(tf.constant(texts)).numpy(), pooled, atol=1e-5)

    # Another run starts from it and fine-tunes it.
    run_dir = tmp_path / "run"
    result = run_recipe("--hub-encoder", handle, "--hub-trainable", "true", "--epochs", "1",
                        "--seed", "1", "--run-dir", str(run_dir),
                        "--export-dir", str(tmp_path / "export"))
    assert result.returncode == 0, result.stderr.decode()[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 1 and metrics["accuracy"] > 0.5
    tuned = keras.models.load_model(run_dir / "model.keras").get_layer("hub_encoder")
    assert len(tuned.trainable_weights) == len(module.trainable_variables) > 0
    moved = [not np.array_equal(keras.ops.convert_to_numpy(weight), variable.numpy())
             for weight, variable in zip(tuned.trainable_weights, module.trainable_variables)]
    assert all(moved), moved
