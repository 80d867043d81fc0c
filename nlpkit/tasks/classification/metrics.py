"""Scores of a classifier's predictions: accuracy, macro F1 and the confusion matrix.

scikit-learn computes them (its definitions are the field's); `format_report` prints them.
"""

import numpy as np


def classification_report(labels, probabilities, label_names):
    """Accuracy, macro F1 and the confusion matrix of predictions (scikit-learn's definitions).

    Args:
        labels: true class ids, `(examples,)`.
        probabilities: predicted probabilities, `(examples, classes)`.
        label_names: class names in id order.

    Returns:
        A JSON-ready dict: `accuracy`, `macro_f1`, `confusion_matrix` (rows = true class,
        columns = predicted class), `label_names`, `examples`.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    labels = np.asarray(labels)
    predictions = np.asarray(probabilities).argmax(axis=-1)
    classes = list(range(len(label_names)))
    return {
        "examples": int(len(labels)),
        "accuracy": float(accuracy_score(labels, predictions)),
        "macro_f1": float(f1_score(labels, predictions, labels=classes, average="macro", zero_division=0)),
        "confusion_matrix": confusion_matrix(labels, predictions, labels=classes).tolist(),
        "label_names": list(label_names),
    }


def format_report(report):
    """The report as the few lines a person reads after training."""
    names = report["label_names"]
    width = max(len(name) for name in names + ["true \\ predicted"])
    lines = [
        f"examples {report['examples']}   accuracy {report['accuracy']:.4f}   "
        f"macro F1 {report['macro_f1']:.4f}",
        "true \\ predicted".ljust(width) + "".join(f"{name:>10}" for name in names),
    ]
    for name, row in zip(names, report["confusion_matrix"]):
        lines.append(name.ljust(width) + "".join(f"{count:>10}" for count in row))
    return "\n".join(lines)
