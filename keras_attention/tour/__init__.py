"""The tour: every family of the library trained, exported and run on device.

`python -m keras_attention.tour` (or `keras-attention tour`) trains each
family's small reference models on built-in data with
`model.fit(jit_compile=True)`, exports each to LiteRT files in float32,
dynamic range and int8, runs them through `edge_demo` (numpy and LiteRT
only), checks the int8 one against Keras, and writes a report folder:
`index.md` with the table, training curves, attention pictures and notes,
and the same report as `index.html`, one self-contained page. The
families: sequence (dates to ISO 8601: an RNN encoder-decoder, the same with
Bahdanau attention, a Transformer), graph (Zachary's karate club: GATv2
and GCN node classifiers), ntm (a Neural Turing Machine learns to copy,
and copies step by step on the device) and xlnet (a permutation language
model fills the month hidden in a date sentence, from both sides, on the
device from text).

A family is one module in this package with a `NAME`, a
`run(out_dir, quick) -> [ModelResult]` function and `NOTES`, the report's
notes on it as `(topic, text)` pairs (what its latency column times, its
default export, a mode it leaves out and why); adding a family is adding
its module name to `FAMILIES`.

What it may import: everything below it (`keras_attention.gap_filler`,
`translation`, `models`, `data`, `layers`, `plotting`), the exporter and
`edge_demo`; only the command line (`keras_attention.cli`) imports the tour.
"""

import importlib
import time

from keras_attention.tour.report import write_report
from keras_attention.tour.result import ModelResult

FAMILIES = [
    "keras_attention.tour.sequence",
    "keras_attention.tour.graph",
    "keras_attention.tour.ntm",
    "keras_attention.tour.xlnet",
]

__all__ = ["FAMILIES", "ModelResult", "run_tour"]


def run_tour(out_dir="tour_report", quick=False, families=None):
    """Run the families, write the report; returns (index path, table text)."""
    start = time.perf_counter()
    results, family_notes = [], {}
    for module_name in families or FAMILIES:
        family = importlib.import_module(module_name)
        print(f"\n=== {family.NAME} ===", flush=True)
        results.extend(family.run(out_dir, quick))
        family_notes[family.NAME] = list(getattr(family, "NOTES", ()))
    minutes = (time.perf_counter() - start) / 60
    notes = [
        f"{'Quick run' if quick else 'Full run'} in {minutes:.1f} minutes "
        "on built-in data, nothing downloaded."
    ]
    return write_report(results, out_dir, notes, family_notes)
