"""nlpkit.tasks.translation.data: pair files, splits grouped by source, the two tokenizers."""

import pytest
import tensorflow as tf

from nlpkit.data import DataFormatError, SentencePairs
from nlpkit.tasks.translation.data import (
    SOURCE_IDS,
    TARGET_INPUTS,
    PairTokenizers,
    read_pairs,
    source_key,
    split_pairs,
)
from nlpkit.text import BOS_ID, EOS_ID

PAIRS = "Go.\tVe.\nGo.\tVete.\nI'm sorry.\tLo siento.\nThank you!\t¡Gracias!\n"


def write(tmp_path, content, name="pairs.tsv"):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return str(path)


def test_tsv_columns_and_aligned_files_give_the_same_pairs(tmp_path):
    tsv = read_pairs([write(tmp_path, PAIRS)], source_column=1, target_column=0)
    assert tsv.sources[:2] == ["Ve.", "Vete."] and tsv.targets[2] == "I'm sorry."
    source = write(tmp_path, "".join(s + "\n" for s in tsv.sources), "src.es")
    target = write(tmp_path, "".join(t + "\n" for t in tsv.targets), "tgt.en")
    aligned = read_pairs([source, target])
    assert (aligned.sources, aligned.targets) == (tsv.sources, tsv.targets)
    assert aligned.path == f"{source} and {target}"


def test_bad_pair_files_name_the_file_and_line(tmp_path):
    path = write(tmp_path, "Go.\tVe.\nno tab here\n")
    with pytest.raises(DataFormatError) as caught:
        read_pairs([path])
    assert str(caught.value).startswith(f"{path}, line 2") and "tab" in str(caught.value)
    source = write(tmp_path, "a\nb\nc\n", "src")
    target = write(tmp_path, "x\ny\n", "tgt")
    with pytest.raises(DataFormatError) as caught:
        read_pairs([source, target])
    assert target in str(caught.value) and source in str(caught.value)
    assert "3" in str(caught.value) and "2 lines" in str(caught.value)
    with pytest.raises(DataFormatError, match="empty"):
        read_pairs([write(tmp_path, "", "empty.tsv")])
    with pytest.raises(DataFormatError, match="both in column 1"):
        read_pairs([path], source_column=1, target_column=1)


def test_split_never_shares_a_source_sentence():
    sources = [f"frase {i % 40}" + ("." if i % 2 else " .") for i in range(400)]
    pairs = SentencePairs(sources=sources, targets=[f"sentence {i}" for i in range(400)])
    train, dev, test = split_pairs(pairs, dev_fraction=0.1, test_fraction=0.1, seed=5)
    keys = [{source_key(s) for s in part.sources} for part in (train, dev, test)]
    assert not keys[0] & keys[1] and not keys[0] & keys[2] and not keys[1] & keys[2]
    assert len(train) + len(dev) + len(test) == 400
    # The same words with other spacing or case are one sentence.
    assert source_key(" Frase  3. ") == source_key("frase 3.")
    given_dev = SentencePairs(["x"], ["y"])
    train, dev, test = split_pairs(pairs, given_dev, test_fraction=0.1, seed=5)
    assert dev is given_dev and len(train) + len(test) == 400
    assert split_pairs(pairs, given_dev) == (pairs, given_dev, None)


def test_too_few_sources_for_the_split_is_a_data_error():
    pairs = SentencePairs(["same"] * 5, ["x"] * 5)
    pairs.path = "tiny.tsv"
    with pytest.raises(DataFormatError, match="tiny.tsv"):
        split_pairs(pairs, dev_fraction=0.1, seed=0)


@pytest.mark.parametrize("kind", ["wordpiece", "word"])
def test_examples_shift_the_target_and_detokenize_back(kind):
    sources = ["Lo siento.", "¡Gracias!", "Tengo dos billetes."] * 3
    targets = ["I'm sorry.", "Thank you!", "I have two tickets."] * 3
    tokenizers = PairTokenizers.fit(sources, targets, tokenizer=kind, source_vocab_size=200,
                                    target_vocab_size=200)
    pairs = SentencePairs(sources, targets)
    (features, labels), = tokenizers.examples(pairs).take(1)
    inputs = features[TARGET_INPUTS].numpy()
    assert inputs[0] == BOS_ID and labels.numpy()[-1] == EOS_ID
    assert inputs[1:].tolist() == labels.numpy()[:-1].tolist()
    assert features[SOURCE_IDS].numpy().min() > 0
    # The source side is lower-cased by default, the target keeps its case, and the text
    # comes back as written.
    assert tokenizers.source.lowercase and not tokenizers.target.lowercase
    back = tokenizers.detokenize(labels[tf.newaxis]).numpy()[0].decode()
    assert back == "I'm sorry."
    again = PairTokenizers.from_config(tokenizers.get_config())
    assert again.source_ids(tf.constant(sources)).numpy().tolist() == \
        tokenizers.source_ids(tf.constant(sources)).numpy().tolist()


def test_long_sources_are_cut_to_the_limit():
    tokenizers = PairTokenizers.fit(["a b c"], ["x y z"], source_vocab_size=100,
                                    target_vocab_size=100, max_source_length=4,
                                    max_target_length=5)
    ids = tokenizers.source_ids(tf.constant(["a b c " * 1000]))
    assert ids.shape == (1, 4)
    target = tokenizers.target.tokenize(tf.constant(["x y z " * 10])).to_tensor()
    assert target.shape == (1, 5) and target.numpy()[0, -1] == EOS_ID
