"""The serving signatures of a tagger: raw text in, tokens, tags and entity spans out.

`serving_default`:

    inputs:   text          string  [batch]                 raw UTF-8 sentences (any bytes)
    outputs:  tokens        string  [batch, tokens]         the words, padded with ""
              tags          string  [batch, tokens]         one tag per word, "" at padding
              token_start   int32   [batch, tokens]         byte offset of each word in `text`
              token_end     int32   [batch, tokens]         ... and of its end (exclusive)
              lengths       int32   [batch]                 words per text
              entity_text   string  [batch, entities]       the entities' bytes of `text`
              entity_type   string  [batch, entities]       PER, LOC, ...; "" at padding
              entity_start  int32   [batch, entities]       byte offsets in `text`, 0 at padding
              entity_end    int32   [batch, entities]
              num_entities  int32   [batch]                 entities per text

`tag_tokens`, for text that comes split into words (CoNLL files):

    inputs:   tokens        string  [batch, time]           words, padded with ""
              lengths       int32   [batch]                 words per row
    outputs:  tags          string  [batch, time]           one tag per word, "" at padding

Splitting (`nlpkit.tasks.tagging.data.split_words`: invalid UTF-8 replaced, at most
`max_tokens` words per text), the word, character and casing lookups, the network, the CRF's
Viterbi decoding and the entity spans (conlleval's chunking, as `metrics.entity_boundaries`)
all run in the graph: serving needs TensorFlow and TF Text, not nlpkit. Offsets index the text
as sent, so `text[entity_start:entity_end] == entity_text` for every entity, whatever the input.
"""

import keras
import tensorflow as tf

from nlpkit.export import export_model
from nlpkit.tasks.tagging.data import split_words
from nlpkit.tasks.tagging.metrics import entity_boundaries, entity_types

SIGNATURE_KEY = "serving_default"
TOKENS_SIGNATURE_KEY = "tag_tokens"
TEXT_OUTPUTS = ("tokens", "tags", "token_start", "token_end", "lengths", "entity_text",
                "entity_type", "entity_start", "entity_end", "num_entities")


def entity_spans(texts, tag_ids, lengths, token_starts, token_ends, tag_names):
    """The entities of tagged texts as padded `[batch, entities]` tensors, in the graph.

    Args:
        texts: string `(batch,)`, the texts as sent.
        tag_ids: int `(batch, time)`.
        lengths: int `(batch,)`, real tokens per row (later steps are padding).
        token_starts, token_ends: int `(batch, time)` byte offsets of the tokens in `texts`.
        tag_names: the tag of each id.

    Returns:
        A dict: `entity_text`, `entity_type` (strings, "" at padding), `entity_start`,
        `entity_end` (int32, 0 at padding) and `num_entities` (int32 `(batch,)`).
    """
    batch, time = tf.shape(tag_ids)[0], tf.shape(tag_ids)[1]
    mask = tf.sequence_mask(lengths, time)
    starts, ends, types = entity_boundaries(tag_ids, mask, tag_names)
    # shape: (entities, 2), [row, token] in row-major order: the k-th start and the k-th end
    # belong to the same entity (entities neither nest nor overlap).
    first, last = tf.where(starts), tf.where(ends)
    rows = first[:, 0]
    byte_start = tf.cast(tf.gather_nd(token_starts, first), tf.int32)
    byte_end = tf.cast(tf.gather_nd(token_ends, last), tf.int32)
    names = tf.constant(entity_types(tag_names) or [""], tf.string)
    kinds = tf.gather(names, tf.maximum(tf.gather_nd(types, first), 0))
    text = tf.strings.substr(tf.gather(texts, rows), byte_start, byte_end - byte_start)

    def padded(values, default):
        ragged = tf.RaggedTensor.from_value_rowids(values, rows, nrows=tf.cast(batch, tf.int64))
        return ragged.to_tensor(default)

    return {
        "entity_text": padded(text, ""),
        "entity_type": padded(kinds, ""),
        "entity_start": padded(byte_start, 0),
        "entity_end": padded(byte_end, 0),
        "num_entities": tf.cast(tf.math.bincount(tf.cast(rows, tf.int32), minlength=batch,
                                                 maxlength=batch), tf.int32),
    }


def _tag_strings(tag_ids, mask, tag_names):
    names = tf.constant(list(tag_names), tf.string)
    return tf.where(mask, tf.gather(names, tf.cast(tag_ids, tf.int32)), "")


def tagger_archive(features, model, tag_names, max_tokens):
    """A `keras.export.ExportArchive` with the `serving_default` and `tag_tokens` signatures.

    Args:
        features: the `nlpkit.tasks.tagging.data.TokenFeatures` of the training run.
        model: a serving tagger (`nlpkit.tasks.tagging.model.serving_tagger`): features in,
            tag ids `(batch, time)` out.
        tag_names: the tag of each id.
        max_tokens: the most words `serving_default` tags per text.
    """
    tag_names = list(tag_names)

    def serve(text):
        words, starts, ends = split_words(text, max_tokens)
        lengths = tf.cast(words.row_lengths(), tf.int32)
        width = tf.cast(words.bounding_shape(axis=1), tf.int32)
        # shape: (batch, max(width, 1)): the network needs a step even for empty texts.
        tag_ids = model(features.dense(words), training=False)[:, :width]
        mask = tf.sequence_mask(lengths, width)
        token_starts = tf.cast(starts.to_tensor(0), tf.int32)
        token_ends = tf.cast(ends.to_tensor(0), tf.int32)
        return {
            "tokens": words.to_tensor(""),
            "tags": _tag_strings(tag_ids, mask, tag_names),
            "token_start": token_starts,
            "token_end": token_ends,
            "lengths": lengths,
            **entity_spans(text, tag_ids, lengths, token_starts, token_ends, tag_names),
        }

    def tag_tokens(tokens, lengths):
        time = tf.shape(tokens)[1]
        lengths = tf.clip_by_value(lengths, 0, time)
        words = tf.RaggedTensor.from_tensor(tokens, lengths=lengths)
        tag_ids = model(features.dense(words, time=tf.maximum(time, 1)), training=False)
        return {"tags": _tag_strings(tag_ids[:, :time], tf.sequence_mask(lengths, time),
                                     tag_names)}

    archive = keras.export.ExportArchive()
    for layer in features.layers:
        archive.track(layer)
    archive.track(model)
    archive.add_endpoint(
        name=SIGNATURE_KEY, fn=serve,
        input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="text")])
    archive.add_endpoint(
        name=TOKENS_SIGNATURE_KEY, fn=tag_tokens,
        input_signature=[tf.TensorSpec(shape=[None, None], dtype=tf.string, name="tokens"),
                         tf.TensorSpec(shape=[None], dtype=tf.int32, name="lengths")])
    return archive


def export_tagger(features, model, tag_names, export_base, *, max_tokens=256, version=None,
                  run_config=None, chief=None):
    """Exports a tagger as `<export_base>/<version>/` for TensorFlow Serving.

    Args:
        features: the run's `TokenFeatures`.
        model: a serving tagger (`serving_tagger`).
        tag_names: the tag of each id (IOB2 or BIOES names, `"O"` among them).
        export_base: the model's base directory, e.g. `saved_models/ner`.
        max_tokens: the most words `serving_default` tags per text.
        version: integer version, None for the next free one.
        run_config: optional JSON-ready dict stored as `assets.extra/run_config.json`.
        chief: see `nlpkit.export.export_model`.

    Returns:
        The new version directory (None on non-chief workers).
    """
    if "O" not in tag_names:
        raise ValueError(f"tag_names must hold 'O'; got {list(tag_names)}")
    archive = tagger_archive(features, model, tag_names, max_tokens)
    return export_model(archive, export_base, version=version, run_config=run_config,
                        chief=chief)
