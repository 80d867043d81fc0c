"""A trained bidirectional LM out as a per-token TF Hub module (ELMo's interface), through
`nlpkit.export.export_text_encoder(per_token=True)`: see `nlpkit.layers.token_module`."""

from nlpkit.export import export_text_encoder
from nlpkit.tasks.pretraining.model import BiLMTokenEncoder, build_bidirectional_lm
from nlpkit.text import WordSplitter


def export_bilm(model, words, options, export_base, *, max_tokens=None, run_config=None):
    """Writes `model` (trained, stateful or not) as `<export_base>/<version>/`.

    The module splits text on whitespace, as training did (`WordSplitter`), reads each sentence
    from zero states both ways and answers `word_emb`, `lstm_outputs1..N`, `default` (their
    equal mix), `mask` and `sequence_len`; `tokens` + `sequence_len` skip the splitting.
    Returns the version directory.
    """
    # Without state (any batch size), with the trained weights.
    stateless, _, _ = build_bidirectional_lm(words, options)
    stateless.set_weights(model.get_weights())
    return export_text_encoder(WordSplitter(max_length=max_tokens),
                               BiLMTokenEncoder(stateless, options, name="bilm"), export_base,
                               per_token=True, run_config=run_config)
