"""nlpkit.tasks.tagging.data: reading tagged files, schemes, token features, raw-text splitting."""

import numpy as np
import pytest
import tensorflow as tf

from nlpkit.data import DataFormatError
from nlpkit.tasks.tagging.data import (
    CASING_CLASSES,
    TokenFeatures,
    casing_ids,
    check_known_tags,
    read_tagged_data,
    split_words,
    tag_names_of,
    tagged_examples,
    to_scheme,
    train_dev_split,
)

CONLL = """-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
"""


def write(tmp_path, content, name="train.txt"):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return str(path)


def test_conll_and_tab_files_read_into_iob2(tmp_path):
    data = read_tagged_data(write(tmp_path, CONLL))
    assert data.tags == [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"]]
    tabbed = read_tagged_data(write(tmp_path, "New York\tB-LOC\nis\tO\n", "wnut.tsv"),
                              scheme="iob2")
    assert tabbed.tokens == [["New York", "is"]]
    chunks = read_tagged_data(write(tmp_path, CONLL), tag_column=2)
    assert chunks.tags[0] == ["B-NP", "B-VP", "B-NP", "I-NP"]


@pytest.mark.parametrize("content, scheme, line, message", [
    ("EU NNP I-ORG\nrejects VBZ\n", "iob1", 2, "3 whitespace-separated columns"),
    ("EU B-ORG\nsays X-ORG\n", "iob1", 2, "an IOB tag"),
    ("EU O\nsays I-ORG\n", "iob2", 2, "B-ORG or I-ORG before I-ORG"),
    ("a O\n" * 5, "iob1", 5, "at most 4 tokens per sentence"),
])
def test_bad_files_name_file_and_line(tmp_path, content, scheme, line, message):
    path = write(tmp_path, content)
    with pytest.raises(DataFormatError) as caught:
        read_tagged_data(path, scheme=scheme, max_length=4)
    assert caught.value.line == line and message in str(caught.value)
    assert str(caught.value).startswith(f"{path}, line {line}")


def test_empty_and_missing_files(tmp_path):
    with pytest.raises(DataFormatError, match="an empty file"):
        read_tagged_data(write(tmp_path, ""))
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_tagged_data(str(tmp_path / "absent.txt"))


def test_unknown_dev_tags_name_their_line(tmp_path):
    dev = read_tagged_data(write(tmp_path, "a O\n\nb O\nc B-LOC\n"))
    with pytest.raises(DataFormatError) as caught:
        check_known_tags(dev, dev.tags, ["O", "B-PER", "I-PER"])
    assert caught.value.line == 4 and "'B-LOC'" in str(caught.value)
    check_known_tags(dev, dev.tags, ["O", "B-LOC"])


def test_schemes_and_tag_names():
    tags = [["B-PER", "I-PER", "O", "B-LOC"]]
    assert to_scheme(tags, "bioes") == [["B-PER", "E-PER", "O", "S-LOC"]]
    assert to_scheme(tags, "iob2") == tags
    assert tag_names_of(to_scheme(tags, "bioes")) == ["O", "S-LOC", "B-PER", "E-PER"]
    assert tag_names_of([["B-X"]]) == ["O", "B-X"]  # "O" is always id 0


def test_casing_classes():
    words = ["hello", "Hello", "HELLO", "1996", "12a", "a1bcd", ",", "Émile", "ÉCOLE", "東京"]
    expected = ["all_lower", "initial_upper", "all_upper", "numeric", "mainly_numeric",
                "contains_digit", "other", "initial_upper", "all_upper", "other"]
    assert [CASING_CLASSES[i] for i in casing_ids(tf.constant(words)).numpy()] == expected


@pytest.fixture(scope="module")
def features():
    return TokenFeatures.fit([["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]],
                             max_word_length=5)


def test_token_features_in_the_graph(features):
    tokens = tf.ragged.constant([["Peter", "rejects", "Zürich"], []])
    out = features(tokens)
    words = features.words.vocabulary.tokens
    assert [words[i] for i in out["word_ids"][0].numpy()] == ["peter", "rejects", "[UNK]"]
    assert out["char_ids"].shape.rank == 3 and out["char_ids"][0][1].shape == (5,)  # cut at 5
    assert out["casing_ids"][0].numpy().tolist() == [5, 3, 5]
    dense = features.dense(tokens)
    assert dense["word_ids"].shape == (2, 3) and dense["char_ids"].shape == (2, 3, 5)
    empty = features.dense(tf.ragged.constant([[], []], dtype=tf.string))
    assert empty["word_ids"].shape == (2, 1) and empty["char_ids"].shape == (2, 1, 1)
    bad = features(tf.RaggedTensor.from_row_lengths(tf.constant([b"\xff\xfe", b"EU"]), [2]))
    assert bad["word_ids"].numpy().tolist() == [[1, words.index("eu")]]


def test_token_features_config_round_trip(features):
    clone = TokenFeatures.from_config(features.get_config())
    tokens = tf.ragged.constant([["German", "call", "x"]])
    for name, value in features(tokens).items():
        assert clone(tokens)[name].to_list() == value.to_list()


def test_tagged_examples_shift_labels_and_carry_gold_tags(features):
    sentences = [["EU", "rejects"], ["Peter"]]
    tags = [["B-ORG", "O"], ["B-PER"]]
    names = ["O", "B-ORG", "B-PER"]
    dataset = tagged_examples(sentences, tags, names, features, gold_tags=True)
    (first, labels), (second, _) = list(dataset)
    assert labels.numpy().tolist() == [2, 1] and first["gold_tags"].numpy().tolist() == [1, 0]
    assert second["char_ids"].shape == (1, 5)
    batch, batch_labels = next(iter(dataset.padded_batch(2)))
    assert batch_labels.numpy().tolist() == [[2, 1], [3, 0]]  # 0 marks padding


TEXTS = [
    "Angela Merkel visited the U.S. on 1996-08-22, said Reuters.",
    "",
    "   \t ",
    "😀👍🏽 Straße 東京タワー Tōkyō's x",
    "Москва и Київ",
]


def test_split_words_gives_conll_like_tokens_with_byte_offsets():
    words, starts, ends = split_words(tf.constant(TEXTS), max_tokens=100)
    assert words[0].numpy().tolist() == [
        b"Angela", b"Merkel", b"visited", b"the", b"U.S.", b"on", b"1996-08-22", b",", b"said",
        b"Reuters", b"."]
    assert words[1].shape == (0,) and words[2].shape == (0,)
    for text, row, begin, end in zip(TEXTS, words.to_list(), starts.to_list(), ends.to_list()):
        data = text.encode()
        assert [data[b:e] for b, e in zip(begin, end)] == row


def test_split_words_maps_offsets_through_invalid_utf8_and_cuts_long_text():
    texts = [b"\xff\xfeBob \xc3 met \xe2\x82 Alice", b"x " * 50_000]
    words, starts, ends = split_words(tf.constant(texts), max_tokens=7)
    data = texts[0]
    assert words[0].numpy().tolist()[-1] == b"Alice"
    assert [data[b:e] for b, e in zip(starts[0].numpy(), ends[0].numpy())] == [
        b"\xff", b"\xfe", b"Bob", b"\xc3", b"met", b"\xe2\x82", b"Alice"]
    assert words.row_lengths().numpy().tolist() == [7, 7]
    assert np.all(ends[1].numpy() <= len(texts[1]))


def test_too_few_sentences_for_a_dev_split_is_a_data_error_naming_the_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("EU\tB-ORG\nrejects\tO\n\nPeter\tB-PER\n", encoding="utf-8")
    data = read_tagged_data(str(path), scheme="iob2")
    with pytest.raises(DataFormatError, match=r"tiny.txt: expected enough sentences .* found 2"):
        train_dev_split(data, dev_fraction=0.1)
    train, dev = train_dev_split(data, dev_fraction=0.5)
    assert (len(train), len(dev)) == (1, 1)
