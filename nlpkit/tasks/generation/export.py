"""The serving signatures of a language model: sampling, streaming and scoring, all in the graph.

`serving_default`, a prompt in, a sampled continuation out:

    inputs:   prompt       string   [batch]   UTF-8 text (any bytes: invalid UTF-8 is U+FFFD)
              length       int32    []        units to generate, clipped to
                                              0..`MAX_GENERATED_UNITS` (0 or less: "")
              temperature  float32  []        > 0 (else an InvalidArgumentError)
              top_k        int32    []        >= 0; 0: off
              top_p        float32  []        in (0, 1]; 1: off
              seed         int64    []        the same inputs and seed give the same text
    outputs:  text         string   [batch]   the continuation only (not the prompt)

`initial_state`, the state a text starts from, and the vocabulary:

    inputs:   batch_size   int32    []        rows (a negative number counts as 0)
    outputs:  state_0 ...  float32  [batch, units]   zeros, one per state (order below)
              units        string   [vocab]   unit i is what column i of `probabilities` is for

`step`, one unit in, the next unit's distribution and the new state out:

    inputs:   tokens       string   [batch]   one unit per row: a character, or a word or
                                              "<eos>" (unseen units read as [UNK] / "<unk>")
              state_0 ...  float32  [batch, units]
    outputs:  probabilities float32 [batch, vocab]  the model's distribution of the next unit
              state_0 ...  float32  [batch, units]  the state after reading `tokens`

`score`, how well the model predicts a text:

    inputs:   text          string   [batch]
    outputs:  nats_per_unit float32  [batch]  mean -log p(unit | the units before it); 0 for ""
              units         int32    [batch]  how many units were scored

The states, named `state_0`, `state_1`, ...: the recurrent layers from the input up, each layer's
states in its cell's order (`state_names`: LSTM-like cells `h` then `c`, GRU and simple RNN `h`
alone). A 2-layer LSTM has `state_0` = layer 0 h, `state_1` = layer 0 c, `state_2` = layer 1 h,
`state_3` = layer 1 c.

Units are read as training reads them (`UnitVocabulary.encode`): characters are code points,
words are the whitespace-split words of each line followed by `<eos>`. Every text starts after
the *start unit* `START_UNITS[unit]`, "a new line begins": `"\\n"` for characters (its id, or
`[UNK]` when the training text had no line break), `<eos>` for words. From zero states:

- `score` reads the start unit, then the text; the first unit of the text is predicted from the
  start unit, each later one from everything before it. Driving `step` from `initial_state` with
  the start unit and then the text's units gives exactly these probabilities.
- `serving_default` reads the start unit and the prompt the same way (teacher-forced, carrying
  the state) and feeds the prompt's last unit (the start unit for an empty prompt) as the first
  token of `nlpkit.decoding.sample_sequence`. A word prompt continues its last line: the `<eos>`
  that `encode` adds to a text not ending with `"\\n"` is left out, so "the cat" continues after
  "cat" and "the cat\\n" on a new line. Sampling never draws the ids that are not units
  (`[PAD]`, `[BOS]`, and `[EOS]` for characters), so every generated unit shows in `text`.

`text` is decoded as `UnitVocabulary.decode` decodes (`decode_units`): characters concatenated
(`[UNK]` as U+FFFD), words joined by spaces with `<eos>` as a line break ("a b\\nc"), so a client
appends it to the prompt (after a space for a word prompt that did not end a line).

The prompt is read whole (its cost is linear in its length); the continuation is at most
`MAX_GENERATED_UNITS` units. Nothing here needs nlpkit at serving time: the lookup table, the
unit strings and the loops are in the graph.
"""

import keras
import tensorflow as tf

from nlpkit.decoding.sampling import sample_sequence
from nlpkit.export import export_model
from nlpkit.tasks.generation.data import END_OF_LINE, UNKNOWN_CHARACTER
from nlpkit.text import BOS_ID, EOS_ID, OOV_ID, PAD_ID

SIGNATURE_KEY = "serving_default"
INITIAL_STATE_SIGNATURE_KEY = "initial_state"
STEP_SIGNATURE_KEY = "step"
SCORE_SIGNATURE_KEY = "score"
# The most units `serving_default` generates per request (a larger `length` is clipped).
MAX_GENERATED_UNITS = 2000
# The unit every text is read after: "a new line begins".
START_UNITS = {"char": "\n", "word": END_OF_LINE}


def _flat_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer


class _LanguageModelSteps:
    """The layers of a trained language model (`build_language_model`, stateful or not, or a
    `stateful_copy`), run one unit at a time with explicit states: the model's own variables, no
    copy, and none of its carried states (the cells are called directly)."""

    def __init__(self, model, vocab_size):
        layers = list(_flat_layers(model))
        embeddings = [layer for layer in layers if isinstance(layer, keras.layers.Embedding)]
        recurrent = [layer for layer in layers if isinstance(layer, keras.layers.RNN)]
        dense = [layer for layer in layers if isinstance(layer, keras.layers.Dense)]
        if len(embeddings) != 1 or not recurrent:
            raise ValueError(f"{model.name} is not a language model of build_language_model: it "
                             f"needs one embedding and recurrent layers, it has "
                             f"{[layer.name for layer in layers]}.")
        self.embedding = embeddings[0]
        self.tied = isinstance(self.embedding, keras.layers.ReversibleEmbedding)
        if (self.tied and len(dense) > 1) or (not self.tied and len(dense) != 1):
            raise ValueError(f"{model.name} has an unexpected output: dense layers "
                             f"{[layer.name for layer in dense]}.")
        if self.embedding.input_dim != vocab_size:
            raise ValueError(f"the vocabulary has {vocab_size} ids but the model's embedding "
                             f"{self.embedding.input_dim}.")
        self.projection = dense[0] if self.tied and dense else None
        self.output = None if self.tied else dense[0]
        self.cells = [layer.cell for layer in recurrent]
        # One entry per state, in signature order: (cell index, units).
        self.state_units = []
        for index, cell in enumerate(self.cells):
            sizes = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [
                cell.state_size]
            self.state_units.extend((index, int(size)) for size in sizes)

    @property
    def layers(self):
        return [self.embedding, *self.cells] + [
            layer for layer in (self.projection, self.output) if layer is not None]

    def zero_states(self, batch_size):
        return [tf.zeros(tf.stack([batch_size, units]), tf.float32)
                for _, units in self.state_units]

    def __call__(self, ids, states):
        """ids int32 `(batch,)`, states float32 -> (logits float32 `(batch, vocab)`, states)."""
        inputs = self.embedding(ids)
        new_states = []
        for index, cell in enumerate(self.cells):
            own = [tf.cast(state, cell.compute_dtype)
                   for (owner, _), state in zip(self.state_units, states) if owner == index]
            inputs, own = cell(inputs, own, training=False)
            own = own if isinstance(own, (list, tuple)) else [own]
            new_states.extend(tf.cast(state, tf.float32) for state in own)
        if self.projection is not None:
            inputs = self.projection(inputs)
        logits = self.embedding(inputs, reverse=True) if self.tied else self.output(inputs)
        return tf.cast(logits, tf.float32), new_states


def start_id(vocabulary):
    """The id of the start unit (`START_UNITS`) in `vocabulary`: `<eos>` for words, `"\\n"` for
    characters (`[UNK]` when the training text had no line break)."""
    if vocabulary.unit == "word":
        return EOS_ID
    return int(vocabulary.encode(START_UNITS["char"])[0])


def decode_units(vocabulary, ids):
    """`UnitVocabulary.decode` in the graph, for a batch: int ids `(batch, time)` (dense or
    ragged) -> strings `(batch,)`.

    `[PAD]` and `[BOS]` (and `[EOS]` for characters) give nothing; characters are concatenated
    (`[UNK]` as U+FFFD); words are joined by spaces with `<eos>` as `"\\n"` (no space next to it).
    """
    units = vocabulary.units
    skipped = {PAD_ID, BOS_ID} | ({EOS_ID} if vocabulary.unit == "char" else set())
    if not isinstance(ids, tf.RaggedTensor):
        ids = tf.RaggedTensor.from_tensor(tf.convert_to_tensor(ids))
    ids = tf.cast(ids, tf.int32)
    # Out-of-range ids read as [UNK], as `decode` reads them for words.
    ids = tf.ragged.map_flat_values(
        lambda flat: tf.where((flat >= 0) & (flat < len(units)), flat, OOV_ID), ids)
    if vocabulary.unit == "char":
        strings = ["" if index in skipped else UNKNOWN_CHARACTER if index == OOV_ID else unit
                   for index, unit in enumerate(units)]
        return tf.strings.reduce_join(tf.gather(tf.constant(strings), ids), axis=-1)
    kept = tf.ragged.boolean_mask(ids, (ids != PAD_ID) & (ids != BOS_ID))
    strings = ["\n" if index == EOS_ID else unit for index, unit in enumerate(units)]
    flat = kept.flat_values
    is_word = flat != EOS_ID
    positions = tf.range(tf.size(flat, out_type=tf.int64))
    row_start = tf.gather(kept.row_starts(), kept.value_rowids()) == positions
    # A space goes between two words of the same row.
    after_word = tf.concat([[False], is_word], 0)[:-1] & ~row_start
    pieces = tf.strings.join([tf.where(is_word & after_word, " ", ""),
                              tf.gather(tf.constant(strings), flat)])
    return tf.strings.reduce_join(kept.with_flat_values(pieces), axis=-1)


def _read_after_start(vocabulary, ids):
    """Ragged unit ids `(batch, None)` -> (ids `(batch, 1 + most)` with the start unit first,
    int32 units per row)."""
    lengths = tf.cast(ids.row_lengths(), tf.int32)
    batch = tf.shape(lengths)[0]
    starts = tf.fill(tf.stack([batch, 1]), tf.constant(start_id(vocabulary), tf.int32))
    return tf.concat([starts, ids.to_tensor(PAD_ID)], axis=1), lengths


def _read(steps, sequence, lengths, states, score):
    """Reads `sequence[:, t]` for t < `lengths` (per row), carrying the states.

    With `score`, also sums -log p(sequence[:, t + 1]) over those steps. Returns (states,
    summed nats `(batch,)`).
    """
    most = tf.reduce_max(tf.concat([lengths, [0]], 0))
    totals = tf.zeros(tf.shape(lengths), tf.float32)

    def body(time, states, totals):
        logits, new_states = steps(sequence[:, time], states)
        active = time < lengths
        states = [tf.where(active[:, tf.newaxis], new, old)
                  for new, old in zip(new_states, states)]
        if score:
            nats = tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels=sequence[:, time + 1], logits=logits)
            totals = totals + tf.where(active, nats, 0.0)
        return time + 1, states, totals

    invariants = (tf.TensorShape([]), [tf.TensorShape([None, units])
                                       for _, units in steps.state_units], tf.TensorShape([None]))
    _, states, totals = tf.while_loop(lambda time, *_: time < most, body,
                                      (tf.constant(0), list(states), totals),
                                      shape_invariants=invariants)
    return states, totals


def prompt_ids(vocabulary, prompt):
    """The units of prompts as `serving_default` reads them: `encode_tensor`, without the final
    `<eos>` of a word prompt that does not end with `"\\n"`. int32 ragged `(batch, None)`."""
    ids = vocabulary.encode_tensor(prompt)
    if vocabulary.unit == "char":
        return ids
    prompt = tf.convert_to_tensor(prompt, tf.string)
    last = tf.maximum(tf.strings.length(prompt) - 1, 0)
    last_byte = tf.strings.substr(prompt, last, tf.ones_like(last))
    dropped = tf.cast((last_byte != "\n") & (ids.row_lengths() > 0), tf.int64)
    lengths = ids.row_lengths() - dropped
    return tf.ragged.boolean_mask(ids, tf.ragged.range(ids.row_lengths()) <
                                  lengths[:, tf.newaxis])


def language_model_archive(vocabulary, model, *, max_length=MAX_GENERATED_UNITS):
    """A `keras.export.ExportArchive` with the `serving_default`, `initial_state`, `step` and
    `score` signatures (module docstring).

    Args:
        vocabulary: the run's `UnitVocabulary`.
        model: a trained language model (`build_language_model`, stateful or not, or a
            `stateful_copy`); its layers are used with explicit states, its carried states are
            neither used nor saved.
        max_length: the most units `serving_default` generates (`MAX_GENERATED_UNITS`).
    """
    if max_length < 0:
        raise ValueError(f"max_length must be >= 0; got {max_length}.")
    steps = _LanguageModelSteps(model, len(vocabulary))
    table = vocabulary.lookup_table()
    state_names = [f"state_{index}" for index in range(len(steps.state_units))]
    # Ids that are not units: never sampled.
    never = [PAD_ID, BOS_ID] + ([EOS_ID] if vocabulary.unit == "char" else [])
    never_mask = tf.constant([float("-inf") if index in never else 0.0
                              for index in range(len(vocabulary))], tf.float32)

    def generate(prompt, length, temperature, top_k, top_p, seed):
        sequence, lengths = _read_after_start(vocabulary, prompt_ids(vocabulary, prompt))
        states, _ = _read(steps, sequence, lengths, steps.zero_states(tf.shape(prompt)[0]),
                          score=False)
        first = tf.gather(sequence, lengths, batch_dims=1)

        def step_fn(tokens, state, time):
            logits, state = steps(tokens, list(state))
            return tf.nn.log_softmax(logits + never_mask), tuple(state)

        result = sample_sequence(step_fn, tuple(states), first,
                                 length=tf.clip_by_value(length, 0, max_length), seed=seed,
                                 temperature=temperature, top_k=top_k, top_p=top_p)
        return {"text": decode_units(vocabulary, result.ids)}

    def initial_state(batch_size):
        zeros = steps.zero_states(tf.maximum(batch_size, 0))
        return {**dict(zip(state_names, zeros)), "units": tf.constant(vocabulary.units)}

    def step(tokens, *states):
        logits, states = steps(table.lookup(tokens), list(states))
        return {"probabilities": tf.nn.softmax(logits), **dict(zip(state_names, states))}

    def score(text):
        sequence, lengths = _read_after_start(vocabulary, vocabulary.encode_tensor(text))
        _, totals = _read(steps, sequence, lengths, steps.zero_states(tf.shape(text)[0]),
                          score=True)
        return {"nats_per_unit": totals / tf.cast(tf.maximum(lengths, 1), tf.float32),
                "units": lengths}

    state_specs = [tf.TensorSpec(shape=[None, units], dtype=tf.float32, name=name)
                   for (_, units), name in zip(steps.state_units, state_names)]
    archive = keras.export.ExportArchive()
    archive.track(table)
    for layer in steps.layers:
        archive.track(layer)
    archive.add_endpoint(
        name=SIGNATURE_KEY, fn=generate,
        input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="prompt"),
                         tf.TensorSpec(shape=[], dtype=tf.int32, name="length"),
                         tf.TensorSpec(shape=[], dtype=tf.float32, name="temperature"),
                         tf.TensorSpec(shape=[], dtype=tf.int32, name="top_k"),
                         tf.TensorSpec(shape=[], dtype=tf.float32, name="top_p"),
                         tf.TensorSpec(shape=[], dtype=tf.int64, name="seed")])
    archive.add_endpoint(
        name=INITIAL_STATE_SIGNATURE_KEY, fn=initial_state,
        input_signature=[tf.TensorSpec(shape=[], dtype=tf.int32, name="batch_size")])
    archive.add_endpoint(
        name=STEP_SIGNATURE_KEY, fn=step,
        input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="tokens"),
                         *state_specs])
    archive.add_endpoint(
        name=SCORE_SIGNATURE_KEY, fn=score,
        input_signature=[tf.TensorSpec(shape=[None], dtype=tf.string, name="text")])
    return archive


def export_language_model(vocabulary, model, export_base, *, max_length=MAX_GENERATED_UNITS,
                          version=None, run_config=None, chief=None):
    """Exports a language model as `<export_base>/<version>/` for TensorFlow Serving, all or
    nothing (`nlpkit.export.export_model`), with the signatures of the module docstring.
    Returns the version directory (None on non-chief workers)."""
    archive = language_model_archive(vocabulary, model, max_length=max_length)
    return export_model(archive, export_base, version=version, run_config=run_config,
                        chief=chief)
