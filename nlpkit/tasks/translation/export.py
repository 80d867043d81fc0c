"""The serving signatures of a translator: text in, translated text out, beam search inside.

`serving_default`:

    inputs:   text          string   [batch]          source sentences (any bytes)
    outputs:  translation   string   [batch]          the best translation
              score         float32  [batch]          its log-probability / GNMT length penalty

`translate_nbest`:

    inputs:   text          string   [batch]
              beam_size     int32    []               clipped to 1..`MAX_BEAM_SIZE`
              max_length    int32    []               most target pieces, [EOS] included;
                                                      clipped to 1..the trained maximum
                                                      (--max-target-length less [BOS])
    outputs:  translations  string   [batch, beam]    best first
              scores        float32  [batch, beam]

Tokenization (invalid UTF-8 replaced, the source cut to the trained `--max-source-length`
pieces), the encoder, the beam search (`nlpkit.decoding.beam_search`, a `tf.while_loop` that
stops at `[EOS]` or at the length limit: at most `max_length_ratio` times the source's pieces
plus 10) and detokenization all run in the graph: serving needs TensorFlow and TF Text, not
nlpkit.
"""

import keras
import tensorflow as tf

from nlpkit.export import export_model

SIGNATURE_KEY = "serving_default"
NBEST_SIGNATURE_KEY = "translate_nbest"
MAX_BEAM_SIZE = 64


def translate_batch(tokenizers, model, text, *, beam_size, max_length, length_penalty=0.6,
                    max_length_ratio=2.0):
    """Strings `(batch,)` -> `(translations (batch, beam) strings, scores (batch, beam))`,
    best first: what both signatures and the recipe's evaluation run, in the graph or eagerly.
    """
    source_ids = tokenizers.source_ids(text)
    result = model.translate(source_ids, beam_size=beam_size, max_length=max_length,
                             length_penalty=length_penalty, max_length_ratio=max_length_ratio)
    batch, beams = tf.shape(result.ids)[0], tf.shape(result.ids)[1]
    # shape: (batch * beam, time) -> strings (batch, beam)
    flat = tf.reshape(result.ids, [batch * beams, -1])
    texts = tf.reshape(tokenizers.detokenize(flat), [batch, beams])
    return texts, tf.cast(result.scores, tf.float32)


def translator_archive(tokenizers, model, *, beam_size=4, length_penalty=0.6,
                       max_length_ratio=2.0, max_target_length=64):
    """A `keras.export.ExportArchive` with the `serving_default` and `translate_nbest`
    signatures (module docstring).

    Args:
        tokenizers: the run's `nlpkit.tasks.translation.data.PairTokenizers`.
        model: a trained `Translator`.
        beam_size: the beam of `serving_default`.
        length_penalty: GNMT alpha of both signatures.
        max_length_ratio: target pieces per source piece, at most (plus 10).
        max_target_length: the most target pieces ever generated.
    """

    def search(text, beam, max_length):
        return translate_batch(tokenizers, model, text, beam_size=beam, max_length=max_length,
                               length_penalty=length_penalty,
                               max_length_ratio=max_length_ratio)

    # Generated pieces, [EOS] included: the target side's limit less its [BOS].
    most_pieces = max_target_length - 1

    def serve(text):
        texts, scores = search(text, beam_size, most_pieces)
        return {"translation": texts[:, 0], "score": scores[:, 0]}

    def nbest(text, beam_size, max_length):
        beam = tf.clip_by_value(beam_size, 1, MAX_BEAM_SIZE)
        limit = tf.clip_by_value(max_length, 1, most_pieces)
        texts, scores = search(text, beam, limit)
        return {"translations": texts, "scores": scores}

    archive = keras.export.ExportArchive()
    for layer in tokenizers.layers:
        archive.track(layer)
    archive.track(model)
    archive.add_endpoint(
        name=SIGNATURE_KEY, fn=serve,
        input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="text")])
    archive.add_endpoint(
        name=NBEST_SIGNATURE_KEY, fn=nbest,
        input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="text"),
                         tf.TensorSpec(shape=[], dtype=tf.int32, name="beam_size"),
                         tf.TensorSpec(shape=[], dtype=tf.int32, name="max_length")])
    return archive


def export_translator(tokenizers, model, export_base, *, beam_size=4, length_penalty=0.6,
                      max_length_ratio=2.0, max_target_length=64, version=None,
                      run_config=None, chief=None):
    """Exports a translator as `<export_base>/<version>/` for TensorFlow Serving, all or
    nothing (`nlpkit.export.export_model`). Returns the version directory (None on non-chief
    workers)."""
    archive = translator_archive(tokenizers, model, beam_size=beam_size,
                                 length_penalty=length_penalty,
                                 max_length_ratio=max_length_ratio,
                                 max_target_length=max_target_length)
    return export_model(archive, export_base, version=version, run_config=run_config,
                        chief=chief)
