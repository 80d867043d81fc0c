"""Token vocabularies with fixed reserved ids, saved as one token per line.

Every nlpkit vocabulary starts with the same four reserved tokens, so models, losses and
decoders can rely on the ids without looking anything up:

====  =========  ======================================================================
id    token      meaning
====  =========  ======================================================================
0     ``[PAD]``  padding; `Embedding(mask_zero=True)` masks it
1     ``[UNK]``  out of vocabulary: any token not in the vocabulary maps here
2     ``[BOS]``  begin of sequence (added by tokenizers with `add_bos=True`)
3     ``[EOS]``  end of sequence (added by tokenizers with `add_eos=True`)
====  =========  ======================================================================

The reserved strings only ever name these ids: a literal ``[PAD]`` in input text is an ordinary
unknown word (id 1), never padding.
"""

import collections
import os
import re

import numpy as np

from nlpkit.atomic_files import written_atomically
from nlpkit.data.errors import DataFormatError

PAD_TOKEN = "[PAD]"
OOV_TOKEN = "[UNK]"
BOS_TOKEN = "[BOS]"
EOS_TOKEN = "[EOS]"
RESERVED_TOKENS = (PAD_TOKEN, OOV_TOKEN, BOS_TOKEN, EOS_TOKEN)
PAD_ID, OOV_ID, BOS_ID, EOS_ID = range(len(RESERVED_TOKENS))

# A token may contain a line break (character vocabularies hold "\n"), so the file format escapes
# the three characters that would otherwise break "one token per line".
_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}
_ESCAPE_PATTERN = re.compile(r"\\(.?)", re.DOTALL)


def _escape(token):
    return "".join(_ESCAPES.get(char, char) for char in token)


def _unescape(text, path, line):
    def replace(match):
        code = match.group(1)
        if code not in _UNESCAPES:
            raise DataFormatError(
                path, line, "an escape \\\\, \\n or \\r after a backslash", repr(match.group(0))
            )
        return _UNESCAPES[code]

    return _ESCAPE_PATTERN.sub(replace, text)


def _as_str(token):
    if isinstance(token, bytes):
        return token.decode("utf-8")
    if isinstance(token, (str, np.str_)):
        return str(token)
    raise TypeError(f"Vocabulary tokens must be str or UTF-8 bytes, got {type(token).__name__}")


class Vocabulary:
    """An ordered list of distinct tokens whose ids are their positions.

    Ids 0-3 are always `[PAD]`, `[UNK]`, `[BOS]`, `[EOS]` (see the module docstring). Build one from
    token counts or token lists, or let a tokenizer layer build it from raw texts with
    `tokenizer.adapt(texts)` (which splits words exactly as the exported graph will).

    Args:
        tokens: every token in id order, starting with `RESERVED_TOKENS`.

    Example:

    >>> vocab = Vocabulary.build([["a", "rose", "is", "a", "rose"], ["a", "cat"]], max_size=6)
    >>> vocab.tokens
    ['[PAD]', '[UNK]', '[BOS]', '[EOS]', 'a', 'rose']
    >>> vocab.encode(["a", "dog"])
    [4, 1]
    >>> vocab.save("vocab.txt"); Vocabulary.load("vocab.txt") == vocab
    True
    """

    def __init__(self, tokens):
        tokens = [_as_str(token) for token in tokens]
        if tuple(tokens[: len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
            raise ValueError(
                f"A vocabulary must start with {list(RESERVED_TOKENS)}, got {tokens[:4]}"
            )
        ids = {}
        for index, token in enumerate(tokens):
            if token == "":
                raise ValueError(f"Vocabulary token {index} is the empty string")
            if token in ids:
                raise ValueError(
                    f"Vocabulary token {token!r} appears at ids {ids[token]} and {index}"
                )
            ids[token] = index
        self._tokens = tokens
        self._ids = ids

    @classmethod
    def from_counts(cls, counts, max_size=None, min_frequency=1):
        """A vocabulary of the most frequent tokens.

        Args:
            counts: mapping token -> count (e.g. a `collections.Counter`).
            max_size: the largest total size, the 4 reserved tokens included, so that
                `Embedding(input_dim=max_size)` fits; None keeps every token.
            min_frequency: tokens seen fewer times are left out (they become `[UNK]`).

        Tokens are ordered by decreasing count, ties alphabetically, so the same counts always
        give the same ids. Counts of the reserved strings themselves are ignored.
        """
        if max_size is not None and max_size < len(RESERVED_TOKENS):
            raise ValueError(f"max_size must be at least {len(RESERVED_TOKENS)}, got {max_size}")
        if min_frequency < 1:
            raise ValueError(f"min_frequency must be at least 1, got {min_frequency}")
        merged = collections.Counter()
        for token, count in counts.items():
            merged[_as_str(token)] += count  # b"word" and "word" are one token
        kept = [
            (token, count)
            for token, count in merged.items()
            if count >= min_frequency and token not in RESERVED_TOKENS and token
        ]
        kept.sort(key=lambda item: (-item[1], item[0]))
        if max_size is not None:
            kept = kept[: max_size - len(RESERVED_TOKENS)]
        return cls(list(RESERVED_TOKENS) + [token for token, _ in kept])

    @classmethod
    def build(cls, token_lists, max_size=None, min_frequency=1):
        """A vocabulary from an iterable of token sequences.

        Args:
            token_lists: iterable of token sequences: lists of str/bytes, NumPy arrays, or
                tensors (e.g. iterating a `tf.data.Dataset` of string tokens, dense or ragged).
                A plain string is refused: raw text must be split the way the graph splits it,
                which `tokenizer.adapt(texts)` does.
            max_size, min_frequency: see `from_counts`.
        """
        counts = collections.Counter()
        for tokens in token_lists:
            if isinstance(tokens, (str, bytes)):
                raise TypeError(
                    "Vocabulary.build takes token lists, got a string; to build from raw text "
                    "use a tokenizer layer's adapt(texts), which splits as the model will"
                )
            tokens = getattr(tokens, "flat_values", tokens)
            if hasattr(tokens, "numpy"):
                tokens = tokens.numpy()
            counts.update(np.asarray(tokens, dtype=object).reshape(-1).tolist())
        return cls.from_counts(counts, max_size=max_size, min_frequency=min_frequency)

    @classmethod
    def load(cls, path):
        """Reads a file written by `save` (UTF-8, one token per line).

        Raises:
            DataFormatError: undecodable bytes, a bad escape, a missing reserved token on the
                first four lines, an empty line or a duplicate, naming the line.
        """
        path = os.fspath(path)
        with open(path, "rb") as handle:
            data = handle.read()
        lines = data.split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        tokens = []
        first_line = {}
        for number, raw in enumerate(lines, start=1):
            if raw.endswith(b"\r"):  # a Windows line ending; a token's own \r is escaped
                raw = raw[:-1]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DataFormatError(
                    path,
                    number,
                    "UTF-8 text",
                    f"undecodable bytes {raw[error.start : error.end]!r}",
                ) from None
            token = _unescape(text, path, number)
            if number <= len(RESERVED_TOKENS) and token != RESERVED_TOKENS[number - 1]:
                raise DataFormatError(path, number, repr(RESERVED_TOKENS[number - 1]), repr(token))
            if token == "":
                raise DataFormatError(path, number, "a token", "an empty line")
            if token in first_line:
                raise DataFormatError(
                    path,
                    number,
                    "distinct tokens",
                    f"{token!r} again (first on line {first_line[token]})",
                )
            first_line[token] = number
            tokens.append(token)
        if len(tokens) < len(RESERVED_TOKENS):
            raise DataFormatError(
                path, None, f"the {len(RESERVED_TOKENS)} reserved tokens", f"{len(tokens)} line(s)"
            )
        return cls(tokens)

    def save(self, path):
        """Writes one token per line (UTF-8, `\\n` endings), atomically.

        Backslash, line feed and carriage return inside a token are written as `\\\\`, `\\n`
        and `\\r`; every other character is written as itself.
        """
        text = "".join(_escape(token) + "\n" for token in self._tokens)
        with written_atomically(os.fspath(path), prefix=".vocab-", suffix=".tmp") as temporary:
            with open(temporary, "w", encoding="utf-8", newline="\n") as file:
                file.write(text)

    @property
    def tokens(self):
        """All tokens in id order (a copy)."""
        return list(self._tokens)

    def __len__(self):
        return len(self._tokens)

    def __contains__(self, token):
        return token in self._ids

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and self._tokens == other._tokens

    def __repr__(self):
        preview = ", ".join(repr(token) for token in self._tokens[4:9])
        return f"Vocabulary(size={len(self)}, tokens=[reserved, {preview}, ...])"

    def token_to_id(self, token):
        """The id of `token`, `OOV_ID` when it is not in the vocabulary."""
        return self._ids.get(token, OOV_ID) if token not in RESERVED_TOKENS else OOV_ID

    def id_to_token(self, token_id):
        """The token with id `token_id`, `[UNK]` for ids outside the vocabulary."""
        token_id = int(token_id)
        return self._tokens[token_id] if 0 <= token_id < len(self._tokens) else OOV_TOKEN

    def encode(self, tokens):
        """Token strings -> list of ids (unknown and reserved strings -> `OOV_ID`)."""
        return [self.token_to_id(token) for token in tokens]

    def decode(self, ids):
        """Ids -> list of token strings (reserved ids included; see tokenizers' `detokenize`)."""
        return [self.id_to_token(token_id) for token_id in ids]
