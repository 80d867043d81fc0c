"""Ensembles: several models trained one after another, served as the mean of their outputs.

Every recipe gets `--ensemble K` and `--member FLAG=VALUE,...` (`nlpkit.cli.add_ensemble_flags`):
`nlpkit.cli.ensemble_members` turns the flags into `EnsembleMember`s (options, training config,
run directory, seed), `train_ensemble` trains them through `train` and averages them with
`average_models`. A run of one model is an ensemble of one: the same code path, no averaging.
"""

import dataclasses
import time

import keras

from nlpkit.training.fit import TrainingConfig, train


@dataclasses.dataclass
class EnsembleMember:
    """One model of a run.

    Attributes:
        name: the model's name (`member_<i>` in an ensemble).
        options: the task's model options (e.g. `ClassifierOptions`), passed to `build_model`.
        config: its `TrainingConfig` (own `run_dir` and `seed` in an ensemble).
        changes: `{flag: value}` that make it differ from the run's flags (empty for copies).
    """

    name: str
    options: object
    config: TrainingConfig
    changes: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class EnsembleResult:
    """What `train_ensemble` returns.

    Attributes:
        model: the one model to evaluate and export (the members' average, or the only member).
        members: the trained member models.
        summary: JSON-ready record of training: one member's `TrainResult.summary`, or
            `{"members": [...], "training_seconds": total}` with each member's changed flags and
            scores.
    """

    model: keras.Model
    members: list
    summary: dict


def average_models(models, name="ensemble", output_name="average"):
    """One model whose output is the mean of the outputs of `models` (e.g. probabilities).

    Args:
        models: trained single-input, single-output models taking the same input and answering
            the same classes; their names must differ (e.g. `member_0`, `member_1`, ...).
        name: name of the new model.
        output_name: name of its averaging layer.
    """
    if len(models) < 2:
        raise ValueError(f"an ensemble needs at least 2 models; got {len(models)}.")
    first = models[0].inputs[0]
    inputs = keras.Input(shape=first.shape[1:], dtype=first.dtype, name=first.name)
    outputs = keras.layers.Average(name=output_name)([model(inputs) for model in models])
    return keras.Model(inputs, outputs, name=name)


def train_ensemble(members, build_model, train_data, *, score=None, output_name="average",
                   **train_arguments):
    """Trains every member with `train`, one after another, and averages them.

    Args:
        members: `EnsembleMember`s, at least one.
        build_model: `(options, name) -> keras.Model`, called for each member under its strategy.
        train_data: the unbatched training dataset every member reads.
        score: optional `model -> dict` of extra scores recorded per member of an ensemble
            (e.g. its own dev accuracy).
        output_name: name of the averaging layer (see `average_models`).
        **train_arguments: `loss`, `metrics`, `dev_data`, `strategy`, ... for `train`.

    Returns:
        An `EnsembleResult`.
    """
    if not members:
        raise ValueError("train_ensemble needs at least one member")
    models, records = [], []
    for member in members:
        started = time.perf_counter()
        result = train(
            lambda member=member: build_model(member.options, member.name),
            train_data,
            member.config,
            **train_arguments,
        )
        models.append(result.model)
        monitor = member.config.monitor or "val_loss"
        records.append(result.summary(
            time.perf_counter() - started, monitor=monitor, mode=member.config.monitor_mode))
        if len(members) > 1:
            records[-1]["flags"] = member.changes
            if score is not None:
                records[-1].update(score(result.model))
    if len(members) == 1:
        return EnsembleResult(model=models[0], members=models, summary=records[0])
    summary = {
        "members": records,
        "training_seconds": round(sum(record["training_seconds"] for record in records), 1),
    }
    model = average_models(models, output_name=output_name)
    return EnsembleResult(model=model, members=models, summary=summary)
