"""Raw text for language models: windows, stateful batches and the TBPTT examples of a text."""

import os

import numpy as np
import tensorflow as tf

from nlpkit.data.errors import DataFormatError


def read_text(path):
    """Reads a whole UTF-8 text file (Tiny Shakespeare's `input.txt`, any plain text).

    The format is any text; line breaks are kept (`\\r\\n` too), since a character model learns
    them::

        First Citizen:
        Before we proceed any further, hear me speak.

    Raises:
        DataFormatError: undecodable bytes (naming the line) or an empty file.
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        data = handle.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise DataFormatError(
            path, line, "UTF-8 text", f"undecodable bytes {data[error.start : error.end]!r}"
        ) from None
    if not text:
        raise DataFormatError(path, None, "some text", "an empty file")
    return text


def _as_ids(ids):
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"Expected a 1-D integer array of ids, got shape {ids.shape} {ids.dtype}")
    return ids


def char_windows(ids, window_length, stride=None):
    """Cuts a long id sequence into windows with next-character targets.

    Window i is `inputs[i] = ids[s : s + window_length]` with targets
    `ids[s + 1 : s + window_length + 1]` (each position predicts the next character), where
    `s = i * stride`. Shuffle and batch the windows freely (stateless training).

    Args:
        ids: 1-D integer array, e.g. `CharacterTokenizer().tokenize([text])[0].numpy()`.
        window_length: characters per window, N.
        stride: start-to-start distance; default N (windows touch, every character is a
            target once).

    Returns:
        `(inputs, targets)`, int arrays of shape `(num_windows, window_length)`; for tf.data,
        `tf.data.Dataset.from_tensor_slices((inputs, targets))`.
    """
    ids = _as_ids(ids)
    stride = window_length if stride is None else stride
    if window_length < 1 or stride < 1:
        raise ValueError(
            f"window_length and stride must be positive, got {window_length}, {stride}"
        )
    if len(ids) < window_length + 1:
        raise ValueError(
            f"A text of {len(ids)} ids has no window of {window_length} ids plus a target"
        )
    starts = np.arange(0, len(ids) - window_length, stride)
    # shape: (num_windows, window_length + 1), each row one window and its last target
    rows = ids[starts[:, None] + np.arange(window_length + 1)[None, :]]
    return rows[:, :-1], rows[:, 1:]


def stateful_batches(ids, batch_size, window_length):
    """Contiguous batches for stateful RNNs trained with truncated backpropagation through time.

    The text is cut into `batch_size` equal streams (the tail that does not fit is dropped);
    batch k holds window k of every stream, so row r of batch k+1 continues exactly where row r
    of batch k stopped, and an RNN with `stateful=True` can carry its state across batches.
    Feed the batches in order, unshuffled, and reset states at each epoch.

    Args:
        ids: 1-D integer array of the whole text.
        batch_size: number of parallel streams.
        window_length: time steps per batch (the truncation length of backpropagation).

    Returns:
        `(inputs, targets)`, int arrays of shape `(num_batches, batch_size, window_length)`;
        targets are the inputs shifted by one character. For tf.data,
        `tf.data.Dataset.from_tensor_slices((inputs, targets))` yields the batches in order.
    """
    ids = _as_ids(ids)
    if batch_size < 1 or window_length < 1:
        raise ValueError(
            f"batch_size and window_length must be positive, got {batch_size}, {window_length}"
        )
    stream_length = len(ids) // batch_size
    num_batches = (stream_length - 1) // window_length
    if num_batches < 1:
        raise ValueError(
            f"A text of {len(ids)} ids is too short for {batch_size} streams of "
            f"{window_length} + 1 ids"
        )
    # shape: (batch_size, stream_length)
    streams = ids[: batch_size * stream_length].reshape(batch_size, stream_length)
    used = num_batches * window_length
    inputs = streams[:, :used].reshape(batch_size, num_batches, window_length)
    targets = streams[:, 1 : used + 1].reshape(batch_size, num_batches, window_length)
    # shape: (num_batches, batch_size, window_length)
    return inputs.transpose(1, 0, 2), targets.transpose(1, 0, 2)


def stream_examples(ids, batch_size, bptt):
    """The unbatched `(input_ids, target_ids)` windows of a text, in TBPTT order.

    The ids are cut into `batch_size` streams as `stateful_batches` cuts them, and
    the windows are listed window 0 of every stream, then window 1 of every stream, ... so that
    batching them by `batch_size` without shuffling (`TrainingConfig(shuffle=False)`) gives
    exactly `stateful_batches(ids, batch_size, bptt)`: row r of batch k+1 continues row r of
    batch k. The number of examples is a multiple of `batch_size` (no partial batch, which a
    stateful model's fixed batch size could not take).

    Args:
        ids: 1-D integer array of the whole text's unit ids.
        batch_size: the number of parallel streams: the global batch size of training.
        bptt: time steps per window (the truncation length of backpropagation).

    Returns:
        A `tf.data.Dataset` of `(input_ids, target_ids)`, both int32 of shape `(bptt,)`;
        targets are the inputs shifted by one unit.

    Raises:
        ValueError: the text is too short for one window of every stream (the message gives
            the numbers).
    """
    ids = np.asarray(ids)
    if batch_size < 1 or bptt < 1:
        raise ValueError(f"batch_size and bptt must be positive; got {batch_size}, {bptt}.")
    needed = batch_size * (bptt + 1)
    if len(ids) < needed:
        raise ValueError(
            f"a text of {len(ids)} units is too short for {batch_size} streams of one {bptt}-unit "
            f"window plus its next unit: it needs at least {needed} units ({batch_size} x "
            f"({bptt} + 1)); use a smaller batch size or BPTT length, or more text.")
    # shape: (num_batches, batch_size, bptt)
    inputs, targets = stateful_batches(ids, batch_size, bptt)
    # shape: (num_batches * batch_size, bptt): batch k's rows, then batch k+1's.
    inputs = inputs.reshape(-1, bptt).astype(np.int32)
    targets = targets.reshape(-1, bptt).astype(np.int32)
    return tf.data.Dataset.from_tensor_slices((inputs, targets))
