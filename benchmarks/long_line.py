"""What one huge line costs the sentiment recipe's data preparation, with and without the cut.

Tokenizes the built-in sentiment sample (600 texts) as the recipe does (`fit_tokenizer`,
`tokenized_examples`, `padded_token_ids`, `--max-length 100`), once as it is and once with one
10 MB line added, first with the tokenizer's cut to `CHARACTERS_PER_TOKEN * max_length` characters
and then with the cut switched off (the code before the cut existed). Prints seconds for each.

Run from the repository root:

    python benchmarks/long_line.py [--megabytes 10]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from nlpkit.data import LabelledTexts  # noqa: E402
from nlpkit.tasks import classification  # noqa: E402
from nlpkit.text import tokenizers  # noqa: E402

SAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "recipes", "data",
                      "sentiment_sample.tsv")


def prepare(texts):
    started = time.perf_counter()
    tokenizer = classification.fit_tokenizer("word", texts.texts, 20000, 100)
    for _ in classification.tokenized_examples(texts, tokenizer):
        pass
    classification.padded_token_ids(texts, tokenizer)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=10, help="size of the huge line")
    args = parser.parse_args()
    sample = classification.read_labelled_data(SAMPLE)
    huge = "a gripping , funny film " * (args.megabytes * 1_000_000 // 24)
    with_huge = LabelledTexts(sample.texts + [huge], list(sample.labels) + [1],
                              sample.label_names)
    prepare(sample)  # warm-up: TensorFlow's first graph traces
    rows = [("sample", prepare(sample)), (f"sample + one {args.megabytes} MB line", prepare(with_huge))]
    tokenizers.CHARACTERS_PER_TOKEN = 10**12  # no cut
    rows.append((f"sample + one {args.megabytes} MB line, no cut", prepare(with_huge)))
    for name, seconds in rows:
        print(f"{name:40s} {seconds:7.2f} s")


if __name__ == "__main__":
    main()
