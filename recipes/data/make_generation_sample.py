"""Writes recipes/data/generation_sample.txt: nlpkit's own small text for language models.

The generation recipe trains on this file when no --data is given, so that `python
recipes/generate.py` runs offline in a minute or two. It is made here from templates and word
lists written for nlpkit (no third-party text), laid out like a play as Tiny Shakespeare is: a
speaker's name and a colon on one line, their lines below, a blank line between speeches. It
shows that training, sampling and export work; it is not a benchmark. Run `python
recipes/data/make_generation_sample.py` to write it again (deterministic).
"""

import os
import random

SPEAKERS = ["MARINA", "OSWIN", "THE KEEPER", "LUCIAN", "FIRST SAILOR", "HESTER", "ROWAN",
            "THE DUKE"]
SUBJECTS = ["the sea", "my lord", "the tide", "this lantern", "your brother", "the old keeper",
            "the north wind", "our ship", "the harbour bell", "a stranger", "the night"]
VERBS = ["calls", "remembers", "hides", "carries", "forgets", "watches", "betrays", "keeps",
         "follows", "answers"]
OBJECTS = ["the light", "a promise", "the rope", "my name", "the storm", "your secret",
           "the silver key", "the morning", "a letter", "the last boat"]
CLAUSES = ["when the fog comes in", "before the bell has rung", "and no one sees it",
           "though I begged it not to", "as it did long ago", "for all our sakes",
           "while the town is sleeping"]
EXCLAMATIONS = ["O, hear me!", "Peace, peace.", "Away!", "Is it so?", "Alas.",
                "Speak, then.", "I will not."]


def line(rng):
    subject, verb, obj = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)
    text = f"{subject} {verb} {obj}"
    if rng.random() < 0.5:
        text += " " + rng.choice(CLAUSES)
    text = text[0].upper() + text[1:]
    return text + rng.choice([".", ",", ";", "!", "?"])


def speech(rng):
    lines = [line(rng) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.3:
        lines.insert(0, rng.choice(EXCLAMATIONS))
    return f"{rng.choice(SPEAKERS)}:\n" + "\n".join(lines) + "\n"


def main():
    rng = random.Random(2026)
    speeches = []
    while sum(len(s) + 1 for s in speeches) < 100_000:
        speeches.append(speech(rng))
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "generation_sample.txt")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(speeches))
    print(f"wrote {len(speeches)} speeches to {path}")


if __name__ == "__main__":
    main()
