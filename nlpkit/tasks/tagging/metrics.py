"""Entity-level scores of a tagger: precision, recall and F1 over whole entities, as conlleval.

An entity counts as found only when its type, first token and last token are all right. Two
implementations of the same definition:

- `entity_report` (with `format_report`): the scores of decoded tag sequences, overall and per
  entity type, by `seqeval` (its default mode is conlleval's chunking: an `I-X` after `O` starts
  an entity, a change of type ends one). Written to `metrics.json`.
- `EntityScore`: a Keras metric that computes the same counts in the graph on every batch, so
  that the dev set's entity F1 is in the epoch logs (`val_f1`) and early stopping can watch it.
  Tests check it against seqeval.

Both read tags in IOB2 or BIOES; `chunk_tables` holds conlleval's rules for where entities start
and end.
"""

import keras
import numpy as np
from keras import ops


def _prefix_and_type(tag):
    if tag == "O":
        return "O", None
    prefix, _, entity_type = tag.partition("-")
    return prefix, entity_type


def _starts(previous, tag):
    """conlleval's startOfChunk: whether `tag` starts an entity after `previous`."""
    (before, before_type), (now, now_type) = _prefix_and_type(previous), _prefix_and_type(tag)
    if now in ("B", "S"):
        return True
    if now in ("I", "E") and before in ("E", "S", "O"):
        return True
    return now != "O" and before_type != now_type


def _ends(tag, following):
    """conlleval's endOfChunk: whether an entity ends at `tag` when `following` comes next."""
    (now, now_type), (after, after_type) = _prefix_and_type(tag), _prefix_and_type(following)
    if now in ("E", "S"):
        return True
    if now in ("B", "I") and after in ("B", "S", "O"):
        return True
    return now != "O" and now_type != after_type


def chunk_tables(tag_names):
    """conlleval's chunk rules as tables over tag ids.

    Args:
        tag_names: the tag of each id (IOB2 or BIOES names), `"O"` among them.

    Returns:
        `(starts, ends, types)`: boolean `(n, n)` arrays, `starts[p, t]` whether tag `t` after
        tag `p` starts an entity and `ends[t, f]` whether an entity ends at tag `t` when tag `f`
        follows; int `(n,)` `types`, the index of each tag's type in `entity_types(tag_names)`
        (-1 for `O`).
    """
    names = list(tag_names)
    starts = np.array([[_starts(p, t) for t in names] for p in names], dtype=bool)
    ends = np.array([[_ends(t, f) for f in names] for t in names], dtype=bool)
    kinds = entity_types(names)
    types = np.array([-1 if tag == "O" else kinds.index(tag[2:]) for tag in names], np.int32)
    return starts, ends, types


def entity_types(tag_names):
    """The entity types of `tag_names`, sorted: `["LOC", "PER"]` for `O`, `B-PER`, `I-LOC`..."""
    return sorted({tag[2:] for tag in tag_names if tag != "O"})


def entity_boundaries(tags, mask, tag_names):
    """Where entities start and end in a batch of tag sequences, in the graph (conlleval).

    Args:
        tags: int `(batch, time)` tag ids.
        mask: boolean `(batch, time)`, True at real tokens (padding reads as `O`).
        tag_names: the tag of each id; must hold `"O"`.

    Returns:
        `(starts, ends, types)`: boolean `(batch, time)` True at the first / last token of
        each entity, and int32 `(batch, time)` the type index of each token's tag (-1 for `O`).
    """
    names = list(tag_names)
    start_table, end_table, type_table = chunk_tables(names)
    size, outside = len(names), names.index("O")
    tags = ops.where(mask, ops.cast(tags, "int32"), outside)
    # shape: (batch, 1): the "O" that surrounds every sequence, as seqeval's flattening adds.
    border = ops.full_like(tags[:, :1], outside)
    previous = ops.concatenate([border, tags[:, :-1]], axis=1)
    following = ops.concatenate([tags[:, 1:], border], axis=1)
    # shape: (batch, time): one table lookup per (previous, tag) and (tag, following) pair.
    starts = ops.take(ops.convert_to_tensor(start_table.reshape(-1)), previous * size + tags)
    ends = ops.take(ops.convert_to_tensor(end_table.reshape(-1)), tags * size + following)
    types = ops.take(ops.convert_to_tensor(type_table), tags)
    return starts, ends, types


def entity_last_tokens(ends):
    """For every position, the index of the first entity end at or after it, int32
    `(batch, time)` (meaningful where an entity starts: every entity has its end)."""
    time = ops.shape(ends)[1]
    positions = ops.arange(time, dtype="int32")
    # shape: (batch, time): ends first, in order, then every other position.
    order = ops.argsort(ops.where(ends, positions, positions + time), axis=1)
    ends_before = ops.cumsum(ops.cast(ends, "int32"), axis=1) - ops.cast(ends, "int32")
    index = ops.minimum(ends_before, time - 1)
    return ops.cast(ops.take_along_axis(order, index, axis=1), "int32")


def entity_counts(gold, predicted, mask, tag_names):
    """`(correct, predicted, gold)` entity counts of a batch, float32 scalars, in the graph."""
    gold_starts, gold_ends, gold_types = entity_boundaries(gold, mask, tag_names)
    pred_starts, pred_ends, pred_types = entity_boundaries(predicted, mask, tag_names)
    same = ops.logical_and(
        ops.logical_and(gold_starts, pred_starts),
        ops.logical_and(ops.equal(gold_types, pred_types),
                        ops.equal(entity_last_tokens(gold_ends), entity_last_tokens(pred_ends))),
    )

    def count(flags):
        return ops.sum(ops.cast(flags, "float32"))

    return count(same), count(pred_starts), count(gold_starts)


@keras.saving.register_keras_serializable(package="nlpkit.tagging")
class EntityScore(keras.metrics.Metric):
    """Entity-level precision, recall or F1 (conlleval's, micro-averaged) as a Keras metric.

    Labels are tag ids shifted by one, 0 marking padding (how `nlpkit.tasks.tagging.data` feeds
    them, so that padding never depends on a Keras mask); predictions are tag ids `(batch,
    time)` (a CRF's output) or tag probabilities `(batch, time, tags)` (a softmax's, argmax
    taken). Counts are summed over batches (and replicas), so the dev set's score is exact.

    Args:
        tag_names: the tag of each id, IOB2 or BIOES, with `"O"`.
        score: `"f1"`, `"precision"` or `"recall"`.
        name: the metric's name; dev logs show it as `val_<name>`.

    Example:

    ```python
    model.compile(optimizer="adam", loss=padded_tag_crossentropy,
                  metrics=[EntityScore(tag_names, "f1", name="f1")])
    ```
    """

    def __init__(self, tag_names, score="f1", name=None, **kwargs):
        if score not in ("f1", "precision", "recall"):
            raise ValueError(f"score must be 'f1', 'precision' or 'recall'; got {score!r}.")
        super().__init__(name=name or score, **kwargs)
        self.tag_names = list(tag_names)
        if "O" not in self.tag_names:
            raise ValueError(f"tag_names must hold 'O'; got {self.tag_names}.")
        self.score = score
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.predicted = self.add_variable(shape=(), initializer="zeros", name="predicted")
        self.gold = self.add_variable(shape=(), initializer="zeros", name="gold")

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = ops.cast(y_true, "int32")
        mask = labels > 0
        if len(y_pred.shape) == 3:
            y_pred = ops.argmax(y_pred, axis=-1)
        correct, predicted, gold = entity_counts(labels - 1, y_pred, mask, self.tag_names)
        self.correct.assign_add(correct)
        self.predicted.assign_add(predicted)
        self.gold.assign_add(gold)

    def result(self):
        precision = ops.divide_no_nan(self.correct, self.predicted)
        recall = ops.divide_no_nan(self.correct, self.gold)
        if self.score == "precision":
            return precision
        if self.score == "recall":
            return recall
        return ops.divide_no_nan(2 * precision * recall, precision + recall)

    def get_config(self):
        return {**super().get_config(), "tag_names": self.tag_names, "score": self.score}


def entity_scores(tag_names):
    """The three `EntityScore` metrics a tagger compiles: `precision`, `recall` and `f1`."""
    return [EntityScore(tag_names, score) for score in ("precision", "recall", "f1")]


def entity_report(gold_tags, predicted_tags):
    """seqeval's entity-level scores (conlleval's definitions) of decoded tag sequences.

    Args:
        gold_tags: the true tags, a list of tag lists (IOB2 or BIOES names).
        predicted_tags: the predicted tags, the same lengths.

    Returns:
        A JSON-ready dict: `precision`, `recall`, `f1` (micro-averaged over entities),
        `entities` (gold), `predicted_entities`, `sentences`, `tokens`, `token_accuracy` and
        `per_type` (`{type: {precision, recall, f1, support}}`).
    """
    from seqeval.metrics import f1_score, precision_score, recall_score
    from seqeval.metrics.sequence_labeling import get_entities, precision_recall_fscore_support

    if len(gold_tags) != len(predicted_tags) or any(
            len(g) != len(p) for g, p in zip(gold_tags, predicted_tags)):
        raise ValueError("gold and predicted tags must have the same lengths")
    gold_tags = [list(tags) for tags in gold_tags]
    predicted_tags = [list(tags) for tags in predicted_tags]
    types = sorted({kind for kind, _, _ in get_entities(gold_tags)}
                   | {kind for kind, _, _ in get_entities(predicted_tags)})
    per_type = {}
    if types:
        precision, recall, f1, support = precision_recall_fscore_support(
            gold_tags, predicted_tags, average=None, zero_division=0)
        for kind, p, r, f, s in zip(types, precision, recall, f1, support):
            per_type[kind] = {"precision": float(p), "recall": float(r), "f1": float(f),
                              "support": int(s)}
    tokens = sum(len(tags) for tags in gold_tags)
    same = sum(g == p for gold, pred in zip(gold_tags, predicted_tags) for g, p in zip(gold, pred))
    return {
        "precision": float(precision_score(gold_tags, predicted_tags, zero_division=0)),
        "recall": float(recall_score(gold_tags, predicted_tags, zero_division=0)),
        "f1": float(f1_score(gold_tags, predicted_tags, zero_division=0)),
        "entities": len(get_entities(gold_tags)),
        "predicted_entities": len(get_entities(predicted_tags)),
        "sentences": len(gold_tags),
        "tokens": tokens,
        "token_accuracy": same / tokens if tokens else 0.0,
        "per_type": per_type,
    }


def format_report(report):
    """The report as the table a person reads after training (percentages, as conlleval)."""
    lines = [
        f"{report['sentences']} sentences, {report['tokens']} tokens, {report['entities']} "
        f"entities ({report['predicted_entities']} predicted); token accuracy "
        f"{100 * report['token_accuracy']:.2f}",
        f"{'type':<10}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>10}",
    ]
    rows = [(kind, scores) for kind, scores in report["per_type"].items()]
    rows.append(("overall", {**report, "support": report["entities"]}))
    for kind, scores in rows:
        lines.append(f"{kind:<10}{100 * scores['precision']:>10.2f}{100 * scores['recall']:>10.2f}"
                     f"{100 * scores['f1']:>10.2f}{scores['support']:>10}")
    return "\n".join(lines)
