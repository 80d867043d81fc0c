"""nlpkit.tasks.tagging.metrics: the in-graph entity scores equal seqeval's (conlleval's)."""

import numpy as np
import pytest
from seqeval.metrics import f1_score, precision_score, recall_score

from nlpkit.tasks.tagging.metrics import (
    EntityScore,
    chunk_tables,
    entity_report,
    entity_types,
    format_report,
)

IOB2 = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER", "B-MISC", "I-MISC"]
BIOES = ["O", "B-LOC", "E-LOC", "I-LOC", "S-LOC", "B-PER", "E-PER", "I-PER", "S-PER"]


def random_batch(tag_names, rng, batch=16, time=9):
    """Random (often invalid) tag id sequences of random lengths, labels as the data feeds
    them (tag id + 1, 0 at padding) and the tag lists of the real tokens."""
    lengths = rng.integers(0, time + 1, size=batch)
    gold = rng.integers(0, len(tag_names), size=(batch, time))
    predicted = np.where(rng.random((batch, time)) < 0.7, gold,
                         rng.integers(0, len(tag_names), size=(batch, time)))
    mask = np.arange(time)[None, :] < lengths[:, None]
    labels = np.where(mask, gold + 1, 0)
    # What a softmax tagger leaves at padding: anything.
    predicted = np.where(mask, predicted, rng.integers(0, len(tag_names), size=(batch, time)))

    def as_names(ids):
        return [[tag_names[i] for i in row[:n]] for row, n in zip(ids, lengths)]

    return labels, predicted, as_names(gold), as_names(predicted)


@pytest.mark.parametrize("tag_names", [IOB2, BIOES], ids=["iob2", "bioes"])
def test_entity_scores_equal_seqeval_over_batches(tag_names):
    rng = np.random.default_rng(0)
    metrics = {score: EntityScore(tag_names, score) for score in ("precision", "recall", "f1")}
    all_gold, all_predicted = [], []
    for _ in range(4):
        labels, predicted, gold_names, predicted_names = random_batch(tag_names, rng)
        for metric in metrics.values():
            metric.update_state(labels, predicted)
        all_gold += gold_names
        all_predicted += predicted_names
    expected = {
        "precision": precision_score(all_gold, all_predicted, zero_division=0),
        "recall": recall_score(all_gold, all_predicted, zero_division=0),
        "f1": f1_score(all_gold, all_predicted, zero_division=0),
    }
    for score, metric in metrics.items():
        assert float(metric.result()) == pytest.approx(expected[score], abs=1e-6), score
    assert 0.2 < expected["f1"] < 0.9  # a real mix of right and wrong entities


def test_probabilities_are_argmaxed_and_padding_never_counts():
    labels = np.array([[4, 5, 1, 0, 0]])  # B-PER I-PER O, then padding
    probabilities = np.eye(len(IOB2))[[[3, 4, 0, 4, 4]]]  # I-PER at the padding
    metric = EntityScore(IOB2, "f1")
    metric.update_state(labels, probabilities)
    assert float(metric.result()) == 1.0
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_chunk_tables_follow_conlleval():
    starts, ends, types = chunk_tables(IOB2)
    index = IOB2.index
    assert starts[index("O"), index("I-PER")]  # an I- after O starts an entity
    assert not starts[index("B-PER"), index("I-PER")]
    assert starts[index("B-LOC"), index("I-PER")]  # a change of type too
    assert ends[index("I-PER"), index("O")] and not ends[index("B-PER"), index("I-PER")]
    assert list(types) == [-1, 0, 0, 2, 2, 1, 1] and entity_types(IOB2) == ["LOC", "MISC", "PER"]


def test_entity_report_per_type_and_format():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-PER"], ["B-ORG", "O"]]
    report = entity_report(gold, predicted)
    assert report["f1"] == pytest.approx(2 / 3) and report["entities"] == 3
    assert report["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                         "support": 1}
    assert report["per_type"]["PER"]["precision"] == 0.5
    assert report["token_accuracy"] == pytest.approx(5 / 6)
    text = format_report(report)
    assert "overall" in text and "66.67" in text
    with pytest.raises(ValueError, match="same lengths"):
        entity_report(gold, predicted[:1])


def test_metric_config_round_trip():
    metric = EntityScore(BIOES, "recall", name="r")
    clone = EntityScore.from_config(metric.get_config())
    assert clone.tag_names == BIOES and clone.score == "recall" and clone.name == "r"
    with pytest.raises(ValueError, match="'O'"):
        EntityScore(["B-X", "I-X"])
