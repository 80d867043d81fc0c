import numpy as np
import pytest

from nlpkit.data import DataFormatError, char_windows, read_text, stateful_batches


def test_read_text_keeps_line_breaks_and_reports_bad_bytes(tmp_path):
    path = tmp_path / "input.txt"
    path.write_bytes(b"First Citizen:\r\nBefore we proceed\n")
    assert read_text(path) == "First Citizen:\r\nBefore we proceed\n"
    path.write_bytes(b"ok\nstill ok\nbad \xff here\n")
    with pytest.raises(DataFormatError) as caught:
        read_text(path)
    assert caught.value.line == 3 and "\\xff" in caught.value.found
    path.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty file"):
        read_text(path)


def test_windows_predict_the_next_character():
    ids = np.arange(11)
    inputs, targets = char_windows(ids, window_length=4)
    np.testing.assert_array_equal(inputs, [[0, 1, 2, 3], [4, 5, 6, 7]])
    np.testing.assert_array_equal(targets, [[1, 2, 3, 4], [5, 6, 7, 8]])
    inputs, targets = char_windows(ids, window_length=4, stride=1)
    assert inputs.shape == (7, 4)
    np.testing.assert_array_equal(targets, inputs + 1)
    with pytest.raises(ValueError, match="no window"):
        char_windows(np.arange(4), window_length=4)


def test_stateful_batches_continue_row_by_row():
    ids = np.arange(103)
    inputs, targets = stateful_batches(ids, batch_size=4, window_length=5)
    # 4 streams of 25 ids; (25 - 1) // 5 = 4 batches
    assert inputs.shape == targets.shape == (4, 4, 5)
    np.testing.assert_array_equal(targets, inputs + 1)
    for row in range(4):
        stream = np.concatenate([inputs[k, row] for k in range(4)])
        # each row is one contiguous stretch of the text, continued batch after batch
        np.testing.assert_array_equal(stream, np.arange(row * 25, row * 25 + 20))
    with pytest.raises(ValueError, match="too short"):
        stateful_batches(np.arange(10), batch_size=4, window_length=5)
