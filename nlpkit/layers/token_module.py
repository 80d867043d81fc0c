"""Per-token Hub modules (ELMo's interface): what they answer, checking one, and mixing its layers.

A per-token module (written by `nlpkit.export.export_text_encoder(..., per_token=True)`, e.g.
the pretraining recipe's bidirectional language model) is a TF2 SavedModel whose `__call__`
takes either a batch of strings `[batch]` (tokenized in its graph) or a dict of pre-tokenized
input `{"tokens": string [batch, time], "sequence_len": int32 [batch]}`, and answers a dict:

    word_emb, lstm_outputs1, ..., lstm_outputsN   float32 [batch, time, dim]: every layer
    default                                       float32 [batch, time, dim]: their mix
    mask                                          bool [batch, time]: True at real tokens
    sequence_len                                  int32 [batch]: tokens per row

`describe_token_module(handle)` checks that a handle is such a module (a clear `ValueError`
naming the handle otherwise) and `mix_token_module` puts one in a Keras model: a `HubLayer`,
then a `ScalarMix` of its layers carrying the module's mask. TensorFlow backend only.
"""

import dataclasses
import os
import re

import keras

from nlpkit.layers.hub_layer import HubLayer, load_module
from nlpkit.layers.scalar_mix import ScalarMix

WORD_EMBEDDING = "word_emb"
LAYER_PREFIX = "lstm_outputs"
DEFAULT = "default"
MASK = "mask"
SEQUENCE_LENGTH = "sequence_len"
TOKENS = "tokens"
# How a task model uses the mix: next to its word embedding (ELMo's usual way) or instead of it.
COMBINES = ("concat", "replace")

_LAYER_NAME = re.compile(rf"^{LAYER_PREFIX}(\d+)$")


class TokenModuleError(ValueError):
    """A handle that is not a per-token module (or not a module at all); the message names it."""


def layer_names(outputs):
    """`["word_emb", "lstm_outputs1", ..., "lstm_outputsN"]`, the layers a module's output dict
    has, in order; raises `TokenModuleError` when the numbering has a gap."""
    numbers = sorted(int(match.group(1)) for match in map(_LAYER_NAME.match, outputs) if match)
    if numbers != list(range(1, len(numbers) + 1)):
        raise TokenModuleError(f"layers {[f'{LAYER_PREFIX}{n}' for n in numbers]} are not "
                               f"numbered 1..N")
    return [WORD_EMBEDDING] + [f"{LAYER_PREFIX}{n}" for n in numbers]


@dataclasses.dataclass(frozen=True)
class TokenModuleInfo:
    """What `describe_token_module` found: the per-token layers' names and their width."""

    layers: tuple
    dim: int


def _check_outputs(handle, outputs, batch, what):
    if not isinstance(outputs, dict) or WORD_EMBEDDING not in outputs or MASK not in outputs:
        got = sorted(outputs) if isinstance(outputs, dict) else getattr(outputs, "shape", outputs)
        raise TokenModuleError(
            f"{handle}: not a per-token module: on {what} its __call__ must answer a dict with "
            f"{WORD_EMBEDDING!r}, {LAYER_PREFIX}1.., {DEFAULT!r} and {MASK!r}; it answers {got}")
    try:
        names = layer_names(outputs)
    except TokenModuleError as error:
        raise TokenModuleError(f"{handle}: {error}") from None
    mask_shape = tuple(outputs[MASK].shape)
    if len(mask_shape) != 2 or mask_shape[0] != batch:
        raise TokenModuleError(f"{handle}: output {MASK!r} on {what} has shape {mask_shape}; "
                               f"expected [batch={batch}, time]")
    dims = set()
    for name in names + [DEFAULT]:
        if name not in outputs:
            raise TokenModuleError(f"{handle}: on {what} the output {name!r} is missing")
        shape = tuple(outputs[name].shape)
        if len(shape) != 3 or shape[:2] != mask_shape or not outputs[name].dtype.is_floating:
            raise TokenModuleError(
                f"{handle}: output {name!r} on {what} is {outputs[name].dtype.name} of shape "
                f"{shape}; expected floats of shape [batch, time, dim] = {mask_shape + ('dim',)}")
        dims.add(shape[2])
    if len(dims) != 1:
        raise TokenModuleError(f"{handle}: the per-token outputs have different widths {dims}")
    return TokenModuleInfo(tuple(names), dims.pop())


def _load(handle):
    if "://" not in handle and not os.path.exists(handle):
        raise TokenModuleError(f"{handle}: no such file or directory")
    try:
        module = load_module(handle)
    except Exception as error:  # hub.load's errors vary with what the path holds
        raise TokenModuleError(f"{handle}: not a TF Hub module / SavedModel "
                               f"({type(error).__name__}: {str(error).splitlines()[0]})") from None
    if not callable(module):
        raise TokenModuleError(f"{handle}: the SavedModel has no __call__")
    return module


def _answers_per_token(module):
    import tensorflow as tf

    try:
        outputs = module(tf.constant(["a short sentence"]))
    except (TypeError, ValueError, tf.errors.OpError):
        return False
    return isinstance(outputs, dict) and WORD_EMBEDDING in outputs


def _describe(handle, module):
    import tensorflow as tf

    try:
        on_text = module(tf.constant(["a short sentence", ""]))
        on_tokens = module({TOKENS: tf.constant([["a", "b", "c"], ["d", "", ""]]),
                            SEQUENCE_LENGTH: tf.constant([3, 1], tf.int32)})
    except (TypeError, ValueError, tf.errors.OpError) as error:
        raise TokenModuleError(
            f"{handle}: not a per-token module: its __call__ must take a batch of strings and a "
            f"dict {{{TOKENS!r}: [batch, time] strings, {SEQUENCE_LENGTH!r}: [batch] int32}} "
            f"({type(error).__name__}: {str(error).splitlines()[0]})") from None
    info = _check_outputs(handle, on_text, 2, "a batch of 2 strings")
    if _check_outputs(handle, on_tokens, 2, "2 rows of 3 tokens") != info:
        raise TokenModuleError(f"{handle}: its outputs on strings and on tokens differ")
    if tuple(on_tokens[MASK].shape) != (2, 3):
        raise TokenModuleError(f"{handle}: on 2 rows of 3 tokens the mask has shape "
                               f"{tuple(on_tokens[MASK].shape)}, not (2, 3)")
    return info


def answers_per_token(handle):
    """Whether the module at `handle` answers a dict with `word_emb` on a batch of strings (a
    per-token module, to check with `describe_token_module`) rather than one vector per text.

    Raises:
        TokenModuleError: the handle does not exist or is not a callable SavedModel.
    """
    return _answers_per_token(_load(handle))


def describe_token_module(handle):
    """Loads `handle` and checks it answers the per-token interface on text and on tokens.

    Returns:
        A `TokenModuleInfo`.

    Raises:
        TokenModuleError: (a `ValueError`) the handle does not exist, is not a SavedModel, or
            answers something else than the interface of this module's docstring; the message
            names the handle.
    """
    return _describe(handle, _load(handle))


def per_token_description(handle):
    """`describe_token_module(handle)` for a per-token module, None for a module that answers
    one vector per text (`answers_per_token` false): both questions with one load of the
    module, which can take long for a large one.

    Raises:
        TokenModuleError: as `describe_token_module`.
    """
    module = _load(handle)
    return _describe(handle, module) if _answers_per_token(module) else None


@keras.saving.register_keras_serializable(package="nlpkit")
class PaddedTokens(keras.layers.Layer):
    """Words padded with "" `(batch, time)` -> a per-token module's pre-tokenized input,
    `{"tokens": (batch, time), "sequence_len": int32 (batch,)}` (the words before the padding)."""

    def call(self, tokens):
        import tensorflow as tf  # string tensors: TensorFlow backend only, like HubLayer

        return {TOKENS: tokens,
                SEQUENCE_LENGTH: tf.reduce_sum(tf.cast(tf.not_equal(tokens, ""), tf.int32), 1)}


def check_hub_encoder_flag(parser, handle, flag="--hub-encoder"):
    """A recipe's check of a per-token module's handle: exits through `parser.error` (status 2,
    the message naming the handle) unless it is one; returns `(absolute handle, info)`."""
    if "://" not in handle:
        handle = os.path.abspath(handle)  # the .keras file and run config must find it anywhere
    try:
        return handle, describe_token_module(handle)
    except TokenModuleError as error:
        parser.error(f"{flag} {error}")


def mix_token_module(inputs, handle, info, trainable=False, layer_norm=False, name="hub_encoder"):
    """The module's layers mixed by a learned `ScalarMix`, in a Keras model (TensorFlow backend).

    Args:
        inputs: a string Keras tensor: raw text `(batch,)` (the module tokenizes it), or words
            padded with "" `(batch, time)` (given to the module as tokens with their lengths).
        handle: the module's handle; `info`: its `describe_token_module(handle)`.
        trainable: fine-tune the module's variables (the mix is always trained).
        layer_norm: normalise each layer before mixing (`ScalarMix(layer_norm=True)`).
        name: the `HubLayer`'s name; the mix is `f"{name}_mix"`.

    Returns:
        `(batch, time, info.dim)` float32 states carrying the module's mask.
    """
    if len(inputs.shape) == 2:
        inputs = PaddedTokens(name=f"{name}_tokens")(inputs)
    outputs = HubLayer(handle, trainable=trainable, name=name)(inputs)
    return ScalarMix(layer_norm=layer_norm, name=f"{name}_mix")(
        [outputs[layer] for layer in info.layers], mask=outputs[MASK])
