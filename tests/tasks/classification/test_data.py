"""nlpkit.tasks.classification.data: data discovery, splits, tokenizers and tokenized examples."""

import numpy as np
import pytest

from nlpkit.tasks.classification import data as classification
from nlpkit.data import DataFormatError
from nlpkit.text import WordTokenizer


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_a_glue_table(tmp_path):
    path = write(tmp_path / "train.tsv", "sentence\tlabel\na fine film \t1\na dull one \t0\n")
    data = classification.read_labelled_data(str(path))
    assert data.texts == ["a fine film ", "a dull one "] and list(data.labels) == [1, 0]


def test_reads_movie_review_line_files(tmp_path):
    write(tmp_path / "mr" / "rt-polarity.pos", "great\nlovely\n")
    write(tmp_path / "mr" / "rt-polarity.neg", "awful\n")
    data = classification.read_labelled_data(str(tmp_path / "mr"))
    assert data.label_names == ["neg", "pos"]
    assert sorted(zip(data.texts, data.labels.tolist())) == [("awful", 0), ("great", 1), ("lovely", 1)]


def test_reads_imdb_class_folders(tmp_path):
    write(tmp_path / "train" / "pos" / "1_9.txt", "loved it")
    write(tmp_path / "train" / "neg" / "2_1.txt", "hated it")
    data = classification.read_labelled_data(str(tmp_path / "train"))
    assert dict(zip(data.texts, (data.label_names[i] for i in data.labels))) == {
        "loved it": "pos",
        "hated it": "neg",
    }


def test_missing_path_and_unknown_folder_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        classification.read_labelled_data(str(tmp_path / "absent.tsv"))
    write(tmp_path / "odd" / "notes.md", "hello")
    with pytest.raises(DataFormatError, match="expected a TSV/CSV file"):
        classification.read_labelled_data(str(tmp_path / "odd"))


def test_tokenized_examples_keep_each_texts_own_length(tmp_path):
    path = write(tmp_path / "d.tsv", "sentence\tlabel\nb a\t1\nc b a a\t0\n")
    data = classification.read_labelled_data(str(path))
    tokenizer = WordTokenizer()
    tokenizer.adapt(data.texts)
    examples = [(ids.numpy().tolist(), int(label)) for ids, label in
                classification.tokenized_examples(data, tokenizer)]
    expected = [(tokenizer.vocabulary.encode(text.split()), label)
                for text, label in zip(data.texts, data.labels)]
    assert examples == expected
    padded = classification.padded_token_ids(data, tokenizer)
    assert padded.shape == (2, 4) and padded[0, 2:].tolist() == [0, 0]


def labelled(count):
    from nlpkit.data import LabelledTexts

    return LabelledTexts([f"text {i}" for i in range(count)], np.arange(count) % 2, ["a", "b"])


def test_train_dev_split_uses_dev_data_folds_or_a_fraction():
    data, dev = labelled(20), labelled(4)
    train, given = classification.train_dev_split(data, dev)
    assert train is data and given is dev
    held_out = [classification.train_dev_split(data, folds=4, fold=k, seed=3)[1].texts
                for k in range(4)]
    assert sorted(sum(held_out, [])) == sorted(data.texts)  # every text is dev exactly once
    train, dev = classification.train_dev_split(data, folds=4, fold=1, seed=3)
    assert not set(train.texts) & set(dev.texts) and len(train) + len(dev) == 20
    train, dev = classification.train_dev_split(data, dev_fraction=0.25, seed=0)
    assert (len(train), len(dev)) == (15, 5)
    assert classification.train_dev_split(data, dev_fraction=0.25, seed=0)[1].texts == dev.texts


def test_fit_tokenizer_learns_its_vocabulary_from_the_texts():
    tokenizer = classification.fit_tokenizer("word", ["Good good film", "bad film"], 100, 5)
    ids = tokenizer.tokenize(["GOOD film unknownword"]).to_list()[0]
    # lower-cased words learned from the texts (ids from 4 on), 1 = [UNK]
    assert len(ids) == 3 and min(ids[:2]) >= 4 and ids[0] != ids[1] and ids[2] == 1
    short = classification.fit_tokenizer("word", ["a b c d"], 100, 2)
    assert len(short.tokenize(["a b c d"]).to_list()[0]) == 2
    assert classification.fit_tokenizer("wordpiece", ["good film"] * 3, 50, 8).max_length == 8
    with pytest.raises(ValueError, match="'word' or 'wordpiece'"):
        classification.fit_tokenizer("chars", ["a"], 10, 5)




def test_labels_are_checked_by_value_against_the_label_names(tmp_path):
    table = write(tmp_path / "data.tsv", "sentence\tlabel\nfine\t1\nbad\tnegative\nok\t0\n")
    data = classification.read_labelled_data(table, ["negative", "positive"])
    assert data.labels.tolist() == [1, 0, 0] and data.label_names == ["negative", "positive"]
    for label, line in (("7", 3), ("maybe", 2)):
        write(table, f"sentence\tlabel\nfine\t1\nodd\t{label}\n" if line == 3 else
              f"sentence\tlabel\nodd\t{label}\n")
        with pytest.raises(DataFormatError, match=rf"data\.tsv.*line {line}.*{label}"):
            classification.read_labelled_data(table, ["negative", "positive"])
    folder = tmp_path / "mr"
    folder.mkdir()
    write(folder / "rt.pos", "good\n")
    write(folder / "rt.neg", "bad\n")
    assert classification.read_labelled_data(folder, ["no", "yes"]).label_names == ["no", "yes"]
    with pytest.raises(DataFormatError, match=r"3 classes \(a, b, c\)"):
        classification.read_labelled_data(folder, ["a", "b", "c"])


def test_load_word_vectors_extends_the_vocabulary_then_reads_its_vectors(tmp_path):
    from nlpkit.cli import WordVectorOptions

    path = write(tmp_path / "vectors.txt", "the 1 2\nFilm 3 4\nzebra 5 6\nfine 7 8\n")
    texts = ["a fine film", "the film", "a dull one"]
    assert classification.load_word_vectors(WordVectorOptions(), None, texts) is None
    tokenizer = classification.fit_tokenizer("word", texts, 100, 10)
    size = tokenizer.vocabulary_size
    vectors = classification.load_word_vectors(
        WordVectorOptions(path=str(path), vocabulary_from_file=3), tokenizer, texts, seed=1)
    assert tokenizer.vocabulary.tokens[size:] == ["zebra"] and vectors.frozen_from == size
    rows = dict(zip(tokenizer.vocabulary.tokens, vectors.matrix.tolist()))
    assert rows["the"] == [1, 2] and rows["film"] == [3, 4] and rows["zebra"] == [5, 6]
    # The first 3 words limit which words join the vocabulary, not where vectors are looked up.
    assert rows["fine"] == [7, 8]
    assert (vectors.coverage.types, vectors.coverage.exact, vectors.coverage.lowercased) == (
        7, 3, 1)
    # 8 running tokens: "the", "fine", "film" x2 have vectors, "a" x2, "dull", "one" do not
    assert (vectors.coverage.tokens, vectors.coverage.tokens_found) == (8, 4)
    assert vectors.describe().startswith(f"word vectors {path} (2 dimensions): ")
    assert f"ids {size} to {size} are words added from the file, kept frozen" in (
        vectors.describe())
