"""Writes the plain text that `recipes/pretrain.py` pretrains on, from `../shared/datasets`.

Issue 17's rule: every text of the shared datasets may be used except the dev files of a task
the module is evaluated on. So this script reads only training text:

- `ner/conll2003/eng.train`: the tokens of each sentence, one sentence a line (eng.testa, the NER
  dev set, is not read);
- `sentiment/sst2/train.tsv`: the `sentence` column, one phrase a line (dev.tsv is not read;
  Movie Review is left out too, because SST-2's sentences come from the same Rotten Tomatoes
  reviews, so MR holds the SST-2 dev sentences);
- `translation/spa-eng/spa.txt`: the English column, with sentence punctuation split off words
  as CoNLL and SST-2 write it ("Go." -> "Go .");
- `chargen/tinyshakespeare/input.txt`: its non-empty lines.

The lines of all four are shuffled with a fixed seed (so the pretraining recipe's held-out last
10% mixes every source) and written to `--out`, never into this repository. Prints the lines and
whitespace tokens taken from each source. Run from the repository root:

    python recipes/data/make_pretraining_corpus.py --out /tmp/pretrain/corpus.txt
"""

import argparse
import csv
import os
import random
import re
import sys

# Sentence punctuation at the end or start of a word becomes a token of its own.
PUNCTUATION = re.compile(r"""([.,!?;:"()]+)(?=\s|$)|(?<=\s)(["(])|^(["(])""")


def split_punctuation(line):
    """'"Go," he said.' -> '" Go , " he said .' (whitespace tokens, as CoNLL writes them)."""
    return " ".join(PUNCTUATION.sub(lambda match: f" {' '.join(match.group(0))} ", line).split())


def conll_sentences(path):
    sentence = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            fields = line.split()
            if not fields or fields[0] == "-DOCSTART-":
                if sentence:
                    yield " ".join(sentence)
                sentence = []
            else:
                sentence.append(fields[0])
    if sentence:
        yield " ".join(sentence)


def sst2_sentences(path):
    with open(path, encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows, delimiter="\t", quoting=csv.QUOTE_NONE):
            if row["sentence"].strip():
                yield " ".join(row["sentence"].split())


def english_of_pairs(path):
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            english = line.split("\t", 1)[0].strip()
            if english:
                yield split_punctuation(english)


def plain_lines(path):
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield " ".join(line.split())


SOURCES = {
    "ner/conll2003/eng.train": conll_sentences,
    "sentiment/sst2/train.tsv": sst2_sentences,
    "translation/spa-eng/spa.txt": english_of_pairs,
    "chargen/tinyshakespeare/input.txt": plain_lines,
}


def build_corpus(datasets_dir, seed=0):
    """Returns `(lines, counts)`: the shuffled lines of every source, and `{source: (lines,
    tokens)}`."""
    lines, counts = [], {}
    for name, reader in SOURCES.items():
        taken = list(reader(os.path.join(datasets_dir, name)))
        counts[name] = (len(taken), sum(len(line.split()) for line in taken))
        lines.extend(taken)
    random.Random(seed).shuffle(lines)
    return lines, counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=os.path.join("..", "shared", "datasets"),
                        help="the shared datasets folder (default: %(default)s)")
    parser.add_argument("--out", required=True, help="the corpus file to write")
    parser.add_argument("--seed", type=int, default=0, help="line shuffle seed (default: 0)")
    args = parser.parse_args(argv)
    missing = [name for name in SOURCES
               if not os.path.exists(os.path.join(args.datasets, name))]
    if missing:
        parser.exit(2, f"error: {args.datasets}: missing {', '.join(missing)}\n")
    lines, counts = build_corpus(args.datasets, args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    staging = f"{args.out}.incomplete"
    with open(staging, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    os.replace(staging, args.out)
    for name, (n_lines, tokens) in counts.items():
        print(f"{name}: {n_lines} lines, {tokens} tokens")
    print(f"total: {len(lines)} lines, {sum(t for _, t in counts.values())} tokens -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
