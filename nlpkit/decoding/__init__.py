"""Decoding for autoregressive models: greedy and beam search, model-agnostic TensorFlow loops.

A model takes part through one `step_fn(tokens, state, time) -> (log_probs, new_state)`; see
`nlpkit.decoding.search` for the conventions of ids, lengths and scores.
"""

from nlpkit.decoding.sampling import (
    SampleResult,
    filter_logits,
    sample_sequence,
    sample_tokens,
)
from nlpkit.decoding.search import (
    SearchResult,
    beam_search,
    gnmt_length_penalty,
    greedy_search,
    tile_beams,
)

__all__ = [
    "SampleResult",
    "SearchResult",
    "beam_search",
    "filter_logits",
    "gnmt_length_penalty",
    "greedy_search",
    "sample_sequence",
    "sample_tokens",
    "tile_beams",
]
