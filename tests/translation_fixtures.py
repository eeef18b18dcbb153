"""A small generated German-English corpus in Multi30k's form, for the tests."""

import gzip
import os

import numpy as np

NOUNS = [("Hund", "dog"), ("Katze", "cat"), ("Mann", "man"), ("Frau", "woman"),
         ("Kind", "child"), ("Vogel", "bird")]
VERBS = [("läuft", "runs"), ("schläft", "sleeps"), ("spielt", "plays"),
         ("springt", "jumps")]
PLACES = [("im Park", "in the park"), ("am Strand", "on the beach"),
          ("auf der Straße", "on the street")]


def corpus(count, seed=0):
    """`count` aligned (German, English) sentence lists, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    german, english = [], []
    for _ in range(count):
        (n_de, n_en), (v_de, v_en), (p_de, p_en) = (
            NOUNS[rng.integers(len(NOUNS))],
            VERBS[rng.integers(len(VERBS))],
            PLACES[rng.integers(len(PLACES))],
        )
        german.append(f"Ein {n_de} {v_de} {p_de}.")
        english.append(f"A {n_en} {v_en} {p_en}.")
    return german, english


def write_split(folder, stem, german, english, gzipped=True):
    """`{stem}.de[.gz]` and `{stem}.en[.gz]` in `folder`, one sentence a line."""
    for language, lines in (("de", german), ("en", english)):
        name = os.path.join(folder, f"{stem}.{language}" + (".gz" if gzipped else ""))
        opener = gzip.open if gzipped else open
        with opener(name, "wt", encoding="utf-8") as file:
            file.write("\n".join(lines) + "\n")
