"""nlpkit.training.ensemble: members train with their own configs; the ensemble averages them."""

import dataclasses

import keras
import numpy as np
import pytest

from nlpkit.training import EnsembleMember, TrainingConfig, average_models, train_ensemble
from tests.training.tiny_training import build_token_classifier, token_examples

TOKEN_IDS = np.array([[5, 6, 7, 8, 2, 0], [9, 3, 4, 1, 5, 6]], "int32")


def named(name):
    model = build_token_classifier()
    model.name = name
    return model


def test_average_models_answers_the_mean_of_its_members_and_saves(tmp_path):
    members = [named(f"member_{index}") for index in range(3)]
    ensemble = average_models(members, output_name="probabilities")
    answers = [keras.ops.convert_to_numpy(member(TOKEN_IDS)) for member in members]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ensemble(TOKEN_IDS)), np.mean(answers, axis=0), atol=1e-6
    )
    assert ensemble.get_layer("probabilities") is not None
    path = tmp_path / "ensemble.keras"
    ensemble.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(TOKEN_IDS)),
        keras.ops.convert_to_numpy(ensemble(TOKEN_IDS)), atol=1e-6)


def test_an_ensemble_needs_two_models():
    with pytest.raises(ValueError, match="at least 2 models"):
        average_models([named("only")])


def config(tmp_path, name, **changes):
    settings = dict(epochs=1, batch_size=16, run_dir=str(tmp_path / name), seed=1,
                    monitor="val_accuracy", monitor_mode="max", verbose=0)
    return TrainingConfig(**{**settings, **changes})


def test_train_ensemble_trains_each_member_with_its_config_and_averages(tmp_path):
    built = []

    def build_model(options, name):
        built.append((options, name))
        model = build_token_classifier()
        model.name = name
        return model

    members = [
        EnsembleMember("member_0", {"width": 8}, config(tmp_path, "member_0")),
        EnsembleMember("member_1", {"width": 8}, config(tmp_path, "member_1", epochs=2),
                       changes={"epochs": 2}),
    ]
    result = train_ensemble(members, build_model, token_examples(), loss="sparse_categorical_crossentropy",
                            metrics=["accuracy"], dev_data=token_examples(16, seed=1),
                            score=lambda model: {"scored": model.name})
    assert built == [({"width": 8}, "member_0"), ({"width": 8}, "member_1")]
    assert [record["epochs_run"] for record in result.summary["members"]] == [1, 2]
    assert [record["flags"] for record in result.summary["members"]] == [{}, {"epochs": 2}]
    assert [record["scored"] for record in result.summary["members"]] == ["member_0", "member_1"]
    assert (tmp_path / "member_1" / "checkpoints").is_dir()
    answers = [keras.ops.convert_to_numpy(model(TOKEN_IDS)) for model in result.members]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(result.model(TOKEN_IDS)),
                               np.mean(answers, axis=0), atol=1e-6)


def test_one_member_is_the_model_itself_with_its_own_summary(tmp_path):
    member = EnsembleMember("classifier", None, config(tmp_path, "run"))
    result = train_ensemble([member], lambda options, name: build_token_classifier(),
                            token_examples(), loss="sparse_categorical_crossentropy",
                            metrics=["accuracy"], dev_data=token_examples(16, seed=1))
    assert result.model is result.members[0]
    assert result.summary["epochs_run"] == 1 and "members" not in result.summary
    assert dataclasses.asdict(member)["config"]["run_dir"] == str(tmp_path / "run")
