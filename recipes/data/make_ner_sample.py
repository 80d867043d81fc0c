"""Writes recipes/data/ner_sample.txt: nlpkit's own small named-entity sample.

The named-entity recipe trains on this file when no --data is given, so that `python
recipes/ner.py` runs offline in a minute or two. It is made here from templates and name lists
written for nlpkit (no third-party text), in CoNLL style: one `token TAG` per line, IOB2 tags
with the CoNLL-2003 types PER, LOC, ORG and MISC, a blank line after every sentence. It shows that
training works; it is not a benchmark. Run `python recipes/data/make_ner_sample.py` to write it
again (deterministic).
"""

import os
import random

FIRST_NAMES = [
    "Anna", "Marco", "Priya", "Kenji", "Fatima", "Lukas", "Sofia", "Omar", "Elena", "David",
    "Mei", "Tomas", "Grace", "Ahmed", "Ingrid", "Pablo", "Yuki", "Nadia", "Samuel", "Olga",
]
LAST_NAMES = [
    "Novak", "Lindqvist", "Okafor", "Tanaka", "Haddad", "Moreau", "Kowalski", "Brennan",
    "Ferreira", "Castillo", "Petrov", "Mensah", "Larsen", "Sato", "Rahman", "Duarte",
]
PLACES = [
    "Lisbon", "Nairobi", "Oslo", "Toronto", "Kyoto", "Cairo", "Lima", "Warsaw", "Glasgow",
    "Hanoi", "New Delhi", "Buenos Aires", "San Diego", "Cape Town", "Bavaria", "Quebec",
    "Norway", "Chile", "Kenya", "Portugal", "Vietnam", "Scotland",
]
ORGANISATIONS = [
    "Orbis Telecom", "Vantage Airlines", "Greenfield University", "Redstone Mining",
    "Atlas Insurance", "Meridian Press", "FC Aurora", "Solara Pharma", "Kestrel Systems",
    "Northwind Bank", "Harbor Freight Lines", "Blue River Energy", "Parliament",
]
MISCELLANEOUS = [
    "Norwegian", "Kenyan", "Japanese", "Portuguese", "Canadian", "Chilean", "Scottish",
    "Olympic", "World Cup", "Nobel Prize", "Euro", "Grand Prix", "Vietnamese",
]
# {PER}, {LOC}, {ORG}, {MISC}: an entity of that type; every other word is O.
TEMPLATES = [
    "{PER} joined {ORG} in {LOC} .",
    "{PER} , a {MISC} engineer , moved to {LOC} last year .",
    "Shares of {ORG} rose 3.5 percent on Monday .",
    "{ORG} said {PER} will lead its office in {LOC} .",
    "The {MISC} team beat {LOC} 2-1 in {LOC} on Sunday .",
    "{PER} met {PER} at a {MISC} summit in {LOC} .",
    "Police in {LOC} arrested two men on Tuesday .",
    "{PER} won the {MISC} after a long race .",
    "{ORG} opened a new factory near {LOC} .",
    "Talks between {ORG} and {ORG} ended without a deal .",
    "It was raining in {LOC} when {PER} arrived .",
    "{PER} told reporters that {ORG} would cut 200 jobs .",
    "The {MISC} government rejected the plan on Friday .",
    "{LOC} 1996-08-22",
    "Nothing much happened at the meeting today .",
    "\" We are very happy , \" {PER} said .",
    "{PER} scored twice as {ORG} beat {ORG} 3-0 .",
    "Prices in {LOC} fell for the third month in a row .",
    "The {MISC} prime minister will visit {LOC} next week .",
    "{ORG} , based in {LOC} , hired {PER} as chief executive .",
    "Analysts expect {ORG} to report higher profits .",
    "{PER} ( {LOC} ) 1:02.45",
]


def entity(kind, rng):
    if kind == "PER":
        if rng.random() < 0.3:
            return [rng.choice(LAST_NAMES)]
        return [rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)]
    pool = {"LOC": PLACES, "ORG": ORGANISATIONS, "MISC": MISCELLANEOUS}[kind]
    return rng.choice(pool).split()


def make_sentences(count, seed=0):
    """`count` distinct sentences as lists of (token, tag)."""
    rng = random.Random(seed)
    sentences = set()
    while len(sentences) < count:
        rows = []
        for word in rng.choice(TEMPLATES).split():
            if word.startswith("{") and word.endswith("}"):
                kind = word[1:-1]
                rows += [(token, ("B-" if i == 0 else "I-") + kind)
                         for i, token in enumerate(entity(kind, rng))]
            else:
                rows.append((word, "O"))
        sentences.add(tuple(rows))
    sentences = sorted(sentences)
    rng.shuffle(sentences)
    return sentences


def main():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ner_sample.txt")
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        for sentence in make_sentences(400):
            handle.write("".join(f"{token} {tag}\n" for token, tag in sentence) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
