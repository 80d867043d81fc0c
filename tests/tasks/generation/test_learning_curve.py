"""nlpkit.tasks.generation.learning_curve: the PNG of training and validation loss."""

import os

import pytest

from nlpkit.tasks.generation import plot_learning_curve


def test_the_curve_is_a_png_written_all_or_nothing(tmp_path):
    path = tmp_path / "learning_curve.png"
    plot_learning_curve({"loss": [2.5, 1.9, 1.6], "val_loss": [2.2, 1.8, 1.7]}, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(tmp_path) == ["learning_curve.png"]  # no temporary file left behind
    with pytest.raises(ValueError, match="loss"):
        plot_learning_curve({"val_loss": [1.0]}, str(tmp_path / "other.png"))
    assert not (tmp_path / "other.png").exists()
