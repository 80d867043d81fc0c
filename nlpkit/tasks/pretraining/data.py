"""The two streams of a bidirectional language model: the text's word ids forwards and
backwards, each cut into TBPTT windows by `nlpkit.data.stream_examples`."""

import numpy as np
import tensorflow as tf

from nlpkit.data import stream_examples
from nlpkit.tasks.pretraining.model import BACKWARD_IDS, FORWARD_IDS


def bidirectional_examples(ids, batch_size, bptt):
    """Unbatched `({"forward_ids", "backward_ids"}, targets)` windows in TBPTT order.

    Row r of every batch continues row r of the previous batch in both directions (the
    backward stream is the same text reversed, cut the same way). `targets` `(2 * bptt,)` are
    the forward targets then the backward ones, as the model's logits are laid out.
    """
    ids = np.asarray(ids)
    forward = stream_examples(ids, batch_size, bptt)
    backward = stream_examples(ids[::-1].copy(), batch_size, bptt)

    def join(forward_window, backward_window):
        (forward_inputs, forward_targets), (backward_inputs, backward_targets) = (
            forward_window, backward_window)
        return ({FORWARD_IDS: forward_inputs, BACKWARD_IDS: backward_inputs},
                tf.concat([forward_targets, backward_targets], axis=0))

    return tf.data.Dataset.zip((forward, backward)).map(join)
