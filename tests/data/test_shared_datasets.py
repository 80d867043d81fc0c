"""Real counts of the shared benchmark datasets (skipped when ../shared/datasets is absent)."""

import pytest

from nlpkit.data import (
    read_conll,
    read_labelled_table,
    read_line_files,
    read_text,
    read_tsv_pairs,
    shared_datasets_dir,
)

DATASETS = shared_datasets_dir()
pytestmark = [
    pytest.mark.datasets,
    pytest.mark.skipif(DATASETS is None, reason="../shared/datasets (or $NLPKIT_DATASETS) absent"),
]


def test_conll2003_english():
    train = read_conll(DATASETS / "ner/conll2003/eng.train")
    assert (len(train), train.num_tokens) == (14_041, 203_621)
    dev = read_conll(DATASETS / "ner/conll2003/eng.testa")
    assert (len(dev), dev.num_tokens) == (3_250, 51_362)
    assert set(train.tag_names()) == {
        "O",
        "B-PER",
        "I-PER",
        "B-LOC",
        "I-LOC",
        "B-ORG",
        "I-ORG",
        "B-MISC",
        "I-MISC",
    }
    # after IOB1 -> IOB2 no entity starts with I-
    for tags in train.tags:
        for previous, tag in zip(["O"] + tags, tags):
            assert not (tag.startswith("I-") and previous[2:] != tag[2:])


def test_sst2():
    train = read_labelled_table(DATASETS / "sentiment/sst2/train.tsv", label_names=["0", "1"])
    dev = read_labelled_table(DATASETS / "sentiment/sst2/dev.tsv", label_names=["0", "1"])
    assert (len(train), len(dev)) == (67_349, 872)
    assert set(train.labels.tolist()) == {0, 1}


def test_movie_review_polarity():
    folder = DATASETS / "sentiment/mr"
    data = read_line_files({"neg": folder / "rt-polarity.neg", "pos": folder / "rt-polarity.pos"})
    assert len(data) == 10_662 and data.labels.sum() == 5_331


def test_tatoeba_spanish_english():
    pairs = read_tsv_pairs(DATASETS / "translation/spa-eng/spa.txt")
    assert len(pairs) == 118_964 and pairs.skipped == 0


def test_tiny_shakespeare():
    assert len(read_text(DATASETS / "chargen/tinyshakespeare/input.txt")) == 1_115_394
