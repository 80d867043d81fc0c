"""recipes/data/make_pretraining_corpus.py on a tiny fake datasets folder: the training text of
each source is taken, the dev files never are, punctuation is split as CoNLL writes it."""

import importlib.util
import pathlib

import pytest

SCRIPT = (pathlib.Path(__file__).resolve().parents[2] / "recipes" / "data"
          / "make_pretraining_corpus.py")


def load_script():
    spec = importlib.util.spec_from_file_location("make_pretraining_corpus", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def datasets(tmp_path):
    root = tmp_path / "datasets"
    write(root / "ner/conll2003/eng.train",
          "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\n"
          "Peter NNP I-NP I-PER\n")
    write(root / "ner/conll2003/eng.testa", "DEVTOKEN NNP I-NP O\n")
    write(root / "sentiment/sst2/train.tsv", "sentence\tlabel\na fine film \t1\n")
    write(root / "sentiment/sst2/dev.tsv", "sentence\tlabel\nDEVSENTENCE\t0\n")
    write(root / "translation/spa-eng/spa.txt", 'Go.\tVe.\n"Hi," he said.\tHola.\n')
    write(root / "chargen/tinyshakespeare/input.txt", "ROMEO:\nO night!\n\n")
    return root


def test_takes_every_training_source_and_no_dev_file(datasets):
    lines, counts = load_script().build_corpus(str(datasets), seed=0)
    assert sorted(lines) == sorted(["EU rejects", "Peter", "a fine film", "Go .",
                                    '" Hi , " he said .', "ROMEO:", "O night!"])
    assert not any("DEV" in line for line in lines)
    assert counts["ner/conll2003/eng.train"] == (2, 3)
    assert counts["translation/spa-eng/spa.txt"] == (2, 9)


def test_writes_the_file_and_refuses_a_missing_source(datasets, tmp_path, capsys):
    script = load_script()
    out = tmp_path / "corpus" / "corpus.txt"
    assert script.main(["--datasets", str(datasets), "--out", str(out)]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 7
    assert "total: 7 lines, 18 tokens" in capsys.readouterr().out
    (datasets / "sentiment/sst2/train.tsv").unlink()
    with pytest.raises(SystemExit) as raised:
        script.main(["--datasets", str(datasets), "--out", str(out)])
    assert raised.value.code == 2
    assert "sentiment/sst2/train.tsv" in capsys.readouterr().err
