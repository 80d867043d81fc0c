"""Writes recipes/data/sentiment_sample.tsv: nlpkit's own small sentiment sample.

The sentiment recipe trains on this file when no --data is given, so that the README's main command
runs offline in a minute or two. It is made here from templates (no third-party text), in the
SST-2 format (`sentence<TAB>label`, 1 = positive). It shows that training works; it is not a
benchmark. Run `python recipes/data/make_sentiment_sample.py` to write it again (deterministic).
"""

import csv
import os
import random

SUBJECTS = [
    "the film", "this movie", "the plot", "the acting", "the soundtrack", "the cast", "the script",
    "the ending", "the dialogue", "the direction", "the story", "the camera work", "the lead actor",
    "the pacing", "this sequel", "the comedy", "the documentary", "the animation",
]
POSITIVE = [
    "is wonderful", "is a delight", "was brilliant", "is moving and funny", "felt fresh",
    "is beautifully made", "was a joy to watch", "is clever and warm", "kept me smiling",
    "is superb", "works perfectly", "is touching", "was gripping from start to finish",
    "is charming", "deserves every award", "was not boring at all",
]
NEGATIVE = [
    "is terrible", "is a mess", "was dull", "is painfully slow", "felt stale", "is badly made",
    "was a chore to sit through", "is lazy and cold", "made me yawn", "is awful", "falls flat",
    "is tedious", "was confusing from start to finish", "is annoying", "deserves to be forgotten",
    "was not good at all",
]
OPENERS = ["", "honestly, ", "overall ", "i think ", "frankly, ", "in the end "]
CLOSERS = ["", " .", " !", " , i would see it again", " , what a surprise"]
NEGATIVE_CLOSERS = ["", " .", " !", " , i want my money back", " , what a waste"]


def make_sentences(count, seed=0):
    rng = random.Random(seed)
    rows = set()
    while len(rows) < count:
        label = rng.randint(0, 1)
        phrase = rng.choice(POSITIVE if label else NEGATIVE)
        closer = rng.choice(CLOSERS if label else NEGATIVE_CLOSERS)
        sentence = f"{rng.choice(OPENERS)}{rng.choice(SUBJECTS)} {phrase}{closer}"
        rows.add((sentence.strip(), label))
    rows = sorted(rows)
    rng.shuffle(rows)
    return rows


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sentiment_sample.tsv")
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["sentence", "label"])
        writer.writerows(make_sentences(600))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
