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
device from text), qa (a memory network answers questions about generated
bAbI-style stories, and shows which sentences each hop read) and images (MNIST digits: a Vision Transformer beside a
CNN, a captioner attending over scenes of digits, a GAT over superpixel
graphs).

A family is one module in this package with a `NAME`, a
`run(out_dir, quick) -> [ModelResult]` function and `NOTES`, the report's
notes on it as `(topic, text)` pairs (what its latency column times, its
default export, a mode it leaves out and why); adding a family is adding
its module name to `FAMILIES`. A family that reads a dataset names it in
`DATA` (such as `("mnist",)`): its `run` then also takes `data`, a dict of
the folders given for them (None: find it), and raises `FamilySkipped`
when the data is nowhere to be had.

What it may import: everything below it (`keras_attention.gap_filler`,
`translation`, `models`, `data`, `layers`, `plotting`), the exporter and
`edge_demo`; only the command line (`keras_attention.cli`) imports the tour.
"""

import importlib
import time

from keras_attention.tour.report import write_report
from keras_attention.tour.result import FamilySkipped, ModelResult

FAMILIES = [
    "keras_attention.tour.sequence",
    "keras_attention.tour.graph",
    "keras_attention.tour.ntm",
    "keras_attention.tour.xlnet",
    "keras_attention.tour.qa",
    "keras_attention.tour.images",
]

__all__ = ["FAMILIES", "FamilySkipped", "ModelResult", "family_names", "run_tour"]


def family_names():
    """The families' short names (`sequence`, ...), in the tour's order."""
    return [name.rsplit(".", 1)[-1] for name in FAMILIES]


def _modules(families):
    """The modules of `families` (short names or module paths; None: all)."""
    if families is None:
        return list(FAMILIES)
    known = dict(zip(family_names(), FAMILIES))
    modules = []
    for family in families:
        if family in known:
            modules.append(known[family])
        elif "." in family:  # a module path: one of FAMILIES, or another's
            modules.append(family)
        else:
            raise ValueError(
                f"families must name some of {', '.join(known)}, received {family!r}")
    return modules


def run_tour(out_dir="tour_report", quick=False, families=None, data=None):
    """Run the families, write the report; returns (index path, table text).

    Args:
        out_dir: the report folder.
        quick: less data and fewer epochs.
        families: the families to run, by short name (`family_names()`)
            or module path; None for all.
        data: `{dataset: folder}` for the families' datasets (`"mnist"`);
            a dataset not given is looked for (each family's `DATA`).

    Raises:
        FamilySkipped: when every family asked for was left out (the
            reasons); a family left out beside others that ran is a note.
    """
    modules = _modules(families)
    start = time.perf_counter()
    results, family_notes, skipped, read = [], {}, [], []
    for module_name in modules:
        family = importlib.import_module(module_name)
        print(f"\n=== {family.NAME} ===", flush=True)
        wanted = getattr(family, "DATA", ())
        options = {"data": {k: (data or {}).get(k) for k in wanted}} if wanted else {}
        try:
            results.extend(family.run(out_dir, quick, **options))
        except FamilySkipped as reason:
            print(f"{family.NAME}: left out: {reason}", flush=True)
            skipped.append(f"The {family.NAME} family was left out: {reason}.")
            continue
        read.extend(wanted)
        family_notes[family.NAME] = list(getattr(family, "NOTES", ()))
    if not results:
        raise FamilySkipped(" ".join(skipped))
    minutes = (time.perf_counter() - start) / 60
    where = (f"built-in data and {', '.join(w.upper() for w in read)} (the images "
             "family's Data note)" if read else "built-in data, nothing downloaded")
    notes = [f"{'Quick run' if quick else 'Full run'} in {minutes:.1f} minutes on {where}.",
             *skipped]
    return write_report(results, out_dir, notes, family_notes)
