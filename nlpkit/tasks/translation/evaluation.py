"""Scoring translations: corpus BLEU and chrF with sacreBLEU, batched translation of texts, and
the sample translations printed after each epoch.

sacreBLEU rather than our own BLEU: its 13a tokenization and signature are what MT papers
report, and scores from two BLEU implementations are not comparable.
"""

import keras
import numpy as np
import sacrebleu
import tensorflow as tf

from nlpkit.tasks.translation.export import translate_batch


def bleu_report(hypotheses, references):
    """Corpus BLEU (13a tokenization) and chrF of detokenized `hypotheses` against one
    reference each, with sacreBLEU's signatures.

    Returns:
        `{"bleu", "chrf", "bleu_signature", "chrf_signature", "sentences"}`.
    """
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu = sacrebleu.metrics.BLEU()
    chrf = sacrebleu.metrics.CHRF()
    bleu_score = bleu.corpus_score(list(hypotheses), [list(references)])
    chrf_score = chrf.corpus_score(list(hypotheses), [list(references)])
    return {
        "bleu": round(bleu_score.score, 2),
        "chrf": round(chrf_score.score, 2),
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "sentences": len(hypotheses),
    }


def translate_texts(tokenizers, model, texts, *, beam_size=4, max_length=64,
                    length_penalty=0.6, max_length_ratio=2.0, batch_size=128):
    """The best translation of each text (str), in batches through one compiled search."""

    # autograph=False: the search is tf.while_loops already, and autograph would re-read (and
    # convert) every Python function it calls.
    @tf.function(reduce_retracing=True, autograph=False)
    def search(text):
        return translate_batch(tokenizers, model, text, beam_size=beam_size,
                               max_length=max_length, length_penalty=length_penalty,
                               max_length_ratio=max_length_ratio)

    translations = []
    for start in range(0, len(texts), batch_size):
        strings, _ = search(tf.constant(list(texts[start : start + batch_size])))
        translations += [t.decode("utf-8", errors="replace") for t in strings[:, 0].numpy()]
    return translations


class SampleTranslations(keras.callbacks.Callback):
    """Prints greedy translations of a few fixed dev sources after each epoch, next to their
    references: the quickest look at what the model has learned."""

    def __init__(self, tokenizers, sources, references, *, count=3, seed=0, max_length=64):
        super().__init__()
        chosen = np.random.default_rng(seed).choice(len(sources), size=min(count, len(sources)),
                                                    replace=False)
        self.tokenizers = tokenizers
        self.sources = [sources[i] for i in chosen]
        self.references = [references[i] for i in chosen]
        self.max_length = max_length

    def on_epoch_end(self, epoch, logs=None):
        if not self.sources:
            return
        translations = translate_texts(self.tokenizers, self.model, self.sources, beam_size=1,
                                       max_length=self.max_length)
        # On a line of its own: the progress bar of the epoch may not have ended its line yet.
        print()
        for source, reference, translation in zip(self.sources, self.references, translations):
            print(f"  source:    {source}\n  reference: {reference}\n  model:     {translation}")
