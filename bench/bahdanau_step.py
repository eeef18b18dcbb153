"""LiteRT latency of RNNsearch's `decode_step`, per step and per sentence.

Builds the `"rnnsearch"` translation model at its Multi30k sizes
(`keras_attention.models.translation_models.DEFAULT_SIZES`: a bidirectional
GRU encoder of 256 units, the Bahdanau decoder, an 8,000-piece vocabulary
on each side, sentences padded to 64 pieces as bench/translate.py does),
exports its `encode` / `decode_step` signatures in float32 and in dynamic
range (the seq2seq models' default mode), and times them on the device
runtime (`edge_demo`, one thread):

- one `decode_step`, with states taken from a real decoding;
- a whole sentence: one `encode` and one `decode_step` per target piece of
  a median Multi30k sentence, each step fed the previous argmax and the
  states the previous step returned, as `edge_demo`'s greedy decoding does
  (the model is untrained, so it runs a fixed number of steps instead of
  stopping at its end token).

The sentence lengths are the median word counts of Multi30k's validation
split plus the end token (an 8,000-piece vocabulary keeps most words
whole); 13 source and 13 target steps when the data is not found.

Each figure is the best of `--rounds` medians of `--runs` calls, so that a
busy moment of the machine does not decide it. The weights do not matter
for latency; the signatures' inputs and outputs do, and the table lists
how many floats a step reads and writes.

    python bench/bahdanau_step.py [--runs 50] [--rounds 5] [--json FILE]
"""

import argparse
import os
import sys
import tempfile
import time

from edge_demo.quiet import quiet_process

if __name__ == "__main__":
    # Before TensorFlow is imported, so that its import-time lines hide too.
    quiet_process("--verbose" in sys.argv[1:])

from _load import emit_json  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from edge_demo import runtime  # noqa: E402
from edge_demo.contract import latency, ms_since  # noqa: E402
from keras_attention.models import translation_models  # noqa: E402
from keras_attention_export import export_tflite  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.path.join(_HERE, "..", "..", "shared", "data", "multi30k")
VOCABULARY = 8000
LENGTH = 64
MODES = ["float32", "dynamic"]


def sentence_lengths(data):
    """Median source and target steps of a Multi30k validation sentence."""
    try:
        from keras_attention.data import multi30k

        de, en = multi30k.load_multi30k("validation", path=data)
    except (OSError, ValueError):
        return 13, 13
    return tuple(int(np.median([len(s.split()) for s in side])) + 1 for side in (de, en))


def step_names(model):
    """The states `decode_step` returns, and the inputs it only reads."""
    outputs = {t["name"] for t in model.spec("decode_step")["outputs"]} - {"logits"}
    inputs = {t["name"] for t in model.spec("decode_step")["inputs"]}
    return sorted(outputs), sorted(inputs - outputs - {"token", "step"})


def decode(model, source, steps):
    """`encode`, then `steps` greedy `decode_step`s; the step inputs seen."""
    states = model.run("encode", source=source)
    names, _ = step_names(model)
    token = np.ones((1, 1), np.int32)
    seen = []
    for t in range(steps):
        inputs = dict(token=token, step=np.array([t], np.int32), **states)
        seen.append(inputs)
        out = model.run("decode_step", **inputs)
        token = np.argmax(out["logits"].reshape(1, -1), axis=-1)[:, None].astype(np.int32)
        states.update({name: out[name] for name in names})
    return seen


def measure(path, source, steps, runs, rounds):
    model = runtime.load(path)
    seen = decode(model, source, steps)
    sample = seen[len(seen) // 2]
    states, memory = step_names(model)
    spec = {t["name"]: t for t in model.spec("decode_step")["inputs"]}

    def floats(names):
        return sum(int(np.prod(spec[n]["shape"])) for n in names)

    encode_ms, step_ms, sentence_ms = [], [], []
    for _ in range(rounds):
        encode_ms.append(
            latency(lambda: model.run("encode", source=source), runs=runs)["median_ms"]
        )
        step_ms.append(
            latency(lambda: model.run("decode_step", **sample), runs=runs)["median_ms"]
        )
        times = []
        for _ in range(max(runs // 10, 3)):
            start = time.perf_counter()
            decode(model, source, steps)
            times.append(ms_since(start))
        sentence_ms.append(float(np.median(times)))
    return {
        "file_kb": round(os.path.getsize(path) / 1024),
        "state_floats": floats(states),
        "memory_floats": floats(memory),
        "encode_ms": min(encode_ms),
        "step_ms": min(step_ms),
        "sentence_ms": min(sentence_ms),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--json", help="also write the report here")
    parser.add_argument("--verbose", action="store_true", help="show TF/LiteRT logs")
    args = parser.parse_args()

    source_steps, target_steps = sentence_lengths(args.data)
    keras.utils.set_random_seed(0)
    model = translation_models.translation_model(
        "rnnsearch", VOCABULARY, VOCABULARY, source_length=LENGTH, target_length=LENGTH
    )
    rng = np.random.default_rng(0)
    source = np.zeros((1, LENGTH), np.int32)
    source[0, :source_steps] = rng.integers(3, VOCABULARY, source_steps)
    source[0, source_steps - 1] = model.end_id

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for mode in MODES:
            path = os.path.join(folder, f"rnnsearch_{mode}.tflite")
            export_tflite(model, path, mode=mode, signatures=model.export_signatures())
            row = measure(path, source, target_steps, args.runs, args.rounds)
            rows.append({"mode": mode, **row})

    print(f"RNNsearch decode_step on LiteRT, 1 thread; a sentence is {source_steps} "
          f"source and {target_steps} target pieces (encode + {target_steps} steps)")
    print(f"{'mode':8} {'file KB':>8} {'state in/out':>13} {'memory in':>10} "
          f"{'encode ms':>10} {'step ms':>8} {'sentence ms':>12}")
    for r in rows:
        print(f"{r['mode']:8} {r['file_kb']:8d} {r['state_floats']:13d} "
              f"{r['memory_floats']:10d} {r['encode_ms']:10.2f} {r['step_ms']:8.3f} {r['sentence_ms']:12.2f}")
    emit_json(
        {"source_steps": source_steps, "target_steps": target_steps, "rows": rows},
        args.json,
    )


if __name__ == "__main__":
    main()
