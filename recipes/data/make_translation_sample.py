"""Writes recipes/data/translation_sample.tsv: nlpkit's own small Spanish-English sample.

The translation recipe trains on this file when no --data is given, so that `python
recipes/translate.py` runs offline in a minute or two. It is made here from templates and word
lists written for nlpkit (no third-party text), in the layout of Tatoeba's `spa.txt`:
`English<TAB>Spanish` per line (the recipe's default direction reads column 1 as the source,
Spanish -> English). It shows that training, beam search and export work; it is not a
benchmark. Run `python recipes/data/make_translation_sample.py` to write it again
(deterministic).
"""

import os
import random

# (English, Spanish) subject, with the verb form each takes: 0 = he/she, 1 = I, 2 = we, 3 = they.
SUBJECTS = [
    ("I", "Yo", 1), ("We", "Nosotros", 2), ("They", "Ellos", 3), ("He", "Él", 0),
    ("She", "Ella", 0), ("My sister", "Mi hermana", 0), ("Our teacher", "Nuestro profesor", 0),
    ("The children", "Los niños", 3),
]
# English verb (base, third person), Spanish verb forms for persons 0..3.
VERBS = [
    (("see", "sees"), ("ve", "veo", "vemos", "ven")),
    (("want", "wants"), ("quiere", "quiero", "queremos", "quieren")),
    (("have", "has"), ("tiene", "tengo", "tenemos", "tienen")),
    (("buy", "buys"), ("compra", "compro", "compramos", "compran")),
    (("need", "needs"), ("necesita", "necesito", "necesitamos", "necesitan")),
    (("like", "likes"), ("quiere", "quiero", "queremos", "quieren")),
]
OBJECTS = [
    ("a red car", "un coche rojo"), ("the old house", "la casa vieja"),
    ("a big dog", "un perro grande"), ("the new book", "el libro nuevo"),
    ("a small cat", "un gato pequeño"), ("the green apple", "la manzana verde"),
    ("a cold beer", "una cerveza fría"), ("the white table", "la mesa blanca"),
    ("two tickets", "dos billetes"), ("some bread", "algo de pan"),
]
PLACES = [
    ("at home", "en casa"), ("in the park", "en el parque"), ("at school", "en la escuela"),
    ("in Madrid", "en Madrid"), ("at the station", "en la estación"), ("today", "hoy"),
]
QUESTIONS = [
    ("Where is {o}?", "¿Dónde está {o}?"),
    ("Do you have {o}?", "¿Tienes {o}?"),
]


def sentence_pairs(rng, count):
    pairs = set()
    while len(pairs) < count:
        if rng.random() < 0.15:
            english, spanish = rng.choice(QUESTIONS)
            obj = rng.choice([o for o in OBJECTS if o[0].startswith(("a ", "the "))])
            pairs.add((english.format(o=obj[0]), spanish.format(o=obj[1])))
            continue
        (subject_en, subject_es, person) = rng.choice(SUBJECTS)
        (base, third), forms = rng.choice(VERBS)
        obj_en, obj_es = rng.choice(OBJECTS)
        english = f"{subject_en} {third if person == 0 else base} {obj_en}"
        spanish = f"{subject_es} {forms[person]} {obj_es}"
        if rng.random() < 0.5:
            place_en, place_es = rng.choice(PLACES)
            english, spanish = f"{english} {place_en}", f"{spanish} {place_es}"
        pairs.add((english + ".", spanish + "."))
    return sorted(pairs)


def main():
    rng = random.Random(2026)
    pairs = sentence_pairs(rng, 2000)
    rng.shuffle(pairs)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "translation_sample.tsv")
    with open(path, "w", encoding="utf-8") as handle:
        for english, spanish in pairs:
            handle.write(f"{english}\t{spanish}\n")
    print(f"wrote {len(pairs)} pairs to {path}")


if __name__ == "__main__":
    main()
