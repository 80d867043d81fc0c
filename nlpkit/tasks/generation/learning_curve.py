"""The learning curve of a language model as a PNG: training and validation loss per epoch."""

import math

from nlpkit.atomic_files import written_atomically


def plot_learning_curve(history, path, *, unit="char"):
    """Writes training and validation loss (nats per unit, and bits on a second axis) per epoch
    to the PNG `path`, all or nothing.

    Args:
        history: a training history, `{"loss": [...], "val_loss": [...]}` (per epoch).
        path: the PNG file to write.
        unit: "char" or "word", for the axis label.

    Raises:
        ValueError: a history without a `loss` entry.
    """
    # Imported here: plotting is a training-time extra, and pyplot's import is slow.
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    from matplotlib import pyplot

    if not history.get("loss"):
        raise ValueError("plot_learning_curve needs a history with a 'loss' entry")
    epochs = range(1, len(history["loss"]) + 1)
    figure, axis = pyplot.subplots(figsize=(6, 4))
    axis.plot(epochs, history["loss"], marker="o", label="training (TBPTT windows)")
    if history.get("val_loss"):
        axis.plot(epochs, history["val_loss"], marker="o", label="validation")
    axis.set_xlabel("epoch")
    axis.set_ylabel(f"nats per {unit}")
    bits = axis.secondary_yaxis("right", functions=(lambda nats: nats / math.log(2),
                                                    lambda bits: bits * math.log(2)))
    bits.set_ylabel(f"bits per {unit}")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    with written_atomically(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
    pyplot.close(figure)
    return path
