"""nlpkit.tasks.classification.metrics: the scores recipes report, checked by hand."""

import numpy as np
import pytest

from nlpkit.tasks.classification import metrics as classification


def test_classification_report_counts_by_hand():
    labels = np.array([0, 0, 1, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]])
    report = classification.classification_report(labels, probabilities, ["neg", "pos"])
    assert report["confusion_matrix"] == [[1, 1], [1, 2]]
    assert report["accuracy"] == pytest.approx(3 / 5)
    f1_neg = 2 * 1 / (2 * 1 + 1 + 1)  # tp=1, fp=1, fn=1
    f1_pos = 2 * 2 / (2 * 2 + 1 + 1)  # tp=2, fp=1, fn=1
    assert report["macro_f1"] == pytest.approx((f1_neg + f1_pos) / 2)
    assert "accuracy 0.6000" in classification.format_report(report)
