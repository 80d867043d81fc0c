"""Translation data: sentence pairs from files, splits grouped by source, subword vocabularies.

A pair becomes one training example::

    ({"source_ids": [s1 .. sn], "target_inputs": [BOS t1 .. tm]}, [t1 .. tm EOS])

teacher forcing: the decoder reads the target shifted right and predicts it unshifted. Ids are
0-padded in batches, and 0 ([PAD]) marks padding in the loss.
"""

import dataclasses

import numpy as np
import tensorflow as tf

from nlpkit.data import DataFormatError, read_parallel_files, read_tsv_pairs, split_grouped
from nlpkit.text import WordPieceTokenizer, WordTokenizer

SOURCE_IDS = "source_ids"
TARGET_INPUTS = "target_inputs"
TOKENIZERS = ("wordpiece", "word")


def read_pairs(paths, *, source_column=0, target_column=1, skip_bad_lines=False):
    """Reads sentence pairs from one TSV file or from two line-aligned files.

    Args:
        paths: `[pairs.tsv]` (one pair per line, the sides in `source_column` and
            `target_column`: `spa.txt` is English<TAB>Spanish) or `[source_file, target_file]`.
        source_column, target_column: for a TSV file.
        skip_bad_lines: skip malformed lines and count them instead of raising.

    Returns:
        `nlpkit.data.SentencePairs`, with a `path` attribute naming the file(s) for messages.

    Raises:
        DataFormatError: a missing column, an empty side, misaligned files (different line
            counts), undecodable bytes or no pairs, naming the file and line; the same column
            for both sides.
        ValueError: no path or more than two.
    """
    paths = [paths] if isinstance(paths, str) else list(paths)
    if len(paths) == 1:
        if source_column == target_column:
            raise DataFormatError(paths[0], None, "different source and target columns",
                                  f"both in column {source_column}")
        pairs = read_tsv_pairs(paths[0], source_column, target_column, skip_bad_lines)
    elif len(paths) == 2:
        pairs = read_parallel_files(paths[0], paths[1], skip_bad_lines)
    else:
        raise ValueError(f"read_pairs takes one TSV file or two aligned files, got {paths}")
    pairs.path = " and ".join(paths)
    return pairs


def source_key(sentence):
    """The group of a source sentence for splitting: its words, case-folded. "Go." and " go. "
    are one sentence; Tatoeba lists them once per translation."""
    return " ".join(sentence.split()).casefold()


def split_pairs(pairs, dev_pairs=None, *, dev_fraction=0.1, test_fraction=0.0, seed=0):
    """`(train, dev, test)`: seeded parts of `pairs`, grouped by source sentence.

    No source sentence (`source_key`) is in two parts, so a test sentence was never seen in
    training with another of its translations. With `dev_pairs`, the dev set is that and only
    the test part (if any) is held out of `pairs`. `test` is None when `test_fraction` is 0.

    Raises:
        DataFormatError: too few distinct source sentences for the parts.
    """
    fractions = [f for f in ((dev_fraction if dev_pairs is None else 0.0), test_fraction)]
    held_out = [f for f in fractions if f > 0]
    if not held_out:
        return pairs, dev_pairs, None
    try:
        parts = split_grouped(pairs, [source_key(s) for s in pairs.sources],
                              (1 - sum(held_out), *held_out), seed=seed)
    except ValueError as error:
        raise DataFormatError(
            getattr(pairs, "path", None), None,
            "enough distinct source sentences for the held-out parts (or a --dev-data file)",
            f"{len(pairs)} pairs ({error})") from None
    train, rest = parts[0], parts[1:]
    dev = dev_pairs if dev_pairs is not None else rest.pop(0)
    return train, dev, (rest[0] if rest else None)


def _tokenizer(kind, *, lowercase, normalization, max_length, add_marks):
    marks = dict(add_bos=add_marks, add_eos=add_marks)
    if kind == "wordpiece":
        # Whitespace words, cut into pieces: punctuation stays glued ("sorry" "##."), so
        # detokenizing gives the text back exactly (up to normalization and case).
        return WordPieceTokenizer(split="whitespace", lowercase=lowercase,
                                  normalization=normalization, max_length=max_length, **marks)
    if kind == "word":
        return WordTokenizer(split="unicode_script", lowercase=lowercase,
                             normalization=normalization, max_length=max_length, **marks)
    raise ValueError(f"tokenizer must be one of {TOKENIZERS}, got {kind!r}")


# Words split by script come back space-joined ("I ' m sorry ."); these rules glue back what
# English and Spanish write without spaces.
_DETOKENIZE_RULES = (
    (r" ([.,!?;:%)\]}»]+)", r"\1"),
    (r"([(\[{¿¡«]+) ", r"\1"),
    (r"(\pL) ' (\pL)", r"\1'\2"),
    (r"(\pL) - (\pL)", r"\1-\2"),
)


@dataclasses.dataclass
class PairTokenizers:
    """The source and target tokenizer layers of a translator, fitted on the training pairs.

    The source is cut to `max_source_length` pieces (served text too: longer text is
    truncated); the target gets `[BOS]` and `[EOS]` and at most `max_target_length` pieces
    with them.
    """

    source: object
    target: object
    tokenizer: str = "wordpiece"

    @classmethod
    def fit(cls, sources, targets, *, tokenizer="wordpiece", source_vocab_size=8000,
            target_vocab_size=8000, lowercase_source=True, lowercase_target=False,
            normalization="NFKC", max_source_length=64, max_target_length=64):
        """Learns both vocabularies (WordPiece of about the given sizes, or the most frequent
        words) from the training sentences."""
        source = _tokenizer(tokenizer, lowercase=lowercase_source, normalization=normalization,
                            max_length=max_source_length, add_marks=False)
        target = _tokenizer(tokenizer, lowercase=lowercase_target, normalization=normalization,
                            max_length=max_target_length, add_marks=True)
        for layer, texts, size in ((source, sources, source_vocab_size),
                                   (target, targets, target_vocab_size)):
            if tokenizer == "wordpiece":
                layer.adapt(texts, vocab_size=size)
            else:
                layer.adapt(texts, max_size=size)
        return cls(source, target, tokenizer)

    @property
    def layers(self):
        return [self.source, self.target]

    def get_config(self):
        return {"tokenizer": self.tokenizer, "source": self.source.get_config(),
                "target": self.target.get_config()}

    @classmethod
    def from_config(cls, config):
        layer_class = WordPieceTokenizer if config["tokenizer"] == "wordpiece" else WordTokenizer
        return cls(layer_class.from_config(config["source"]),
                   layer_class.from_config(config["target"]), config["tokenizer"])

    def source_ids(self, texts):
        """Strings `(batch,)` -> int32 `(batch, time)` source ids, 0-padded (at least 1 column)."""
        return self.source(texts)

    def detokenize(self, ids):
        """Target ids `(batch, time)` -> strings `(batch,)`, up to the first `[EOS]`."""
        texts = self.target.detokenize(ids)
        if self.tokenizer == "word":
            for pattern, replacement in _DETOKENIZE_RULES:
                texts = tf.strings.regex_replace(texts, pattern, replacement)
        return texts

    def examples(self, pairs, batch_size=4096):
        """An unbatched, cached `tf.data.Dataset` of teacher-forcing examples (module doc).

        Raises:
            ValueError: no pairs.
        """
        if not len(pairs):
            raise ValueError("examples() needs at least one pair")
        sources, targets = [], []
        for start in range(0, len(pairs), batch_size):
            sources.append(self.source.tokenize(
                tf.constant(pairs.sources[start : start + batch_size])))
            targets.append(self.target.tokenize(
                tf.constant(pairs.targets[start : start + batch_size])))
        sources, targets = tf.concat(sources, axis=0), tf.concat(targets, axis=0)

        def example(source, target):
            return {SOURCE_IDS: source, TARGET_INPUTS: target[:-1]}, target[1:]

        return tf.data.Dataset.from_tensor_slices((sources, targets)).map(example).cache()


def length_statistics(pairs, tokenizers, sample=2000, seed=0):
    """Mean and 99th percentile of source and target lengths in pieces, on a sample: what the
    recipe prints so that `--max-*-length` can be checked against the data."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(pairs), size=min(sample, len(pairs)), replace=False)
    lengths = {}
    for side, layer in (("source", tokenizers.source), ("target", tokenizers.target)):
        texts = [getattr(pairs, side + "s")[i] for i in chosen]
        counts = layer.tokenize(tf.constant(texts)).row_lengths().numpy()
        lengths[side] = (float(counts.mean()), float(np.percentile(counts, 99)))
    return lengths
