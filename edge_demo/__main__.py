"""`python -m edge_demo MODEL.tflite`: run an exported model with LiteRT."""

import argparse
import io
import os
import sys
import zipfile
import zlib

import numpy as np

from edge_demo.contract import latency, summarize_ms
from edge_demo.errors import EdgeModelError
from edge_demo.files import write_atomically
from edge_demo.loading import MAX_THREADS, load
from edge_demo.quiet import quiet_logs
from edge_demo.recurrent import MAX_COPY_LENGTH
from edge_demo.seq2seq import check_text

DESCRIPTION = """\
Run a model exported by keras-attention on this machine with the LiteRT
runtime (numpy and ai-edge-litert only; no TensorFlow), and print its result
and latency. The export writes MODEL.json beside MODEL.tflite; it says what
the model is (a sequence-to-sequence or translation model, a classifier, an
image classifier, a question-answering memory network, a copy model, or "arrays": any model, arrays in and arrays out, as
keras-attention-export writes it), its vocabularies, SentencePiece files or
labels, and how to check the file. A missing, truncated or changed file, a
metadata field of the wrong type or range, and inputs that are not finite or
text that is blank are reported before anything runs. A Neural Turing Machine copy model runs one
step at a time, carrying its state (memory, heads, controller) from step to
step, and prints what it read and wrote. LiteRT's own log lines are hidden
unless --verbose."""

EXAMPLES = """\
examples:
  # any model from keras-attention-export: arrays by input name in, arrays
  # by output name out (a .npz; a .npy for a model with one input). An array
  # may hold several batches in a row: [k * B, ...] runs k times.
  python -m edge_demo model.tflite --inputs x.npz --out y.npz

  # a sequence-to-sequence model: encode the text, decode greedily
  python -m edge_demo out/dates_int8.tflite --text "3 march 2021"

  # a translation model: SentencePiece, encode, greedy decode, SentencePiece
  python -m edge_demo bench/results/translate/transformer_int8.tflite \
      --text "Ein Hund läuft im Park."

  # XLNet filling a gap (three or more underscores) with SentencePiece pieces
  python -m edge_demo tour_report/xlnet_int8.tflite --text "A man in a ___ hat"

  # a classifier: inputs from a .npy file (a .npz, keyed by input name,
  # for a model with several inputs)
  python -m edge_demo out/classifier.tflite --inputs sample.npy --runs 50

  # an image classifier (a ViT or a CNN): a PNG of the size it takes
  python -m edge_demo out/vit_int8.tflite --image digit.png

  # an image captioner: the caption of a scene
  python -m edge_demo tour_report/captioner_int8.tflite --image scene.png

  # a memory network: a story (one sentence a line) and a question about
  # it; prints the answer and the sentences each hop attended to
  python -m edge_demo tour_report/memn2n_int8.tflite --story story.txt \
      --question "Where is Mary?"

  # a node classifier (graph family): one line per node; an array named
  # "labels" in the .npz (-1 for unknown) adds the accuracy
  python -m edge_demo tour_report/karate_gat_int8.tflite \
      --inputs tour_report/karate_club.npz

  # a Neural Turing Machine copy model: a random sequence of bit vectors
  # (or --inputs bits.npy, [L, K] of 0 and 1), copied step by step
  python -m edge_demo tour_report/ntm_copy_dynamic.tflite --length 12 --seed 3

exit status: 0 on success, 2 on any error (one line on stderr)."""


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, received {text}")
    return value


def _threads(text):
    value = int(text)
    if not 1 <= value <= MAX_THREADS:
        raise argparse.ArgumentTypeError(
            f"must be an int in [1, {MAX_THREADS}], received {text}"
        )
    return value


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"must be a non-negative int, received {text}"
        )
    return value


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m edge_demo",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="the exported .tflite file")
    parser.add_argument(
        "--metadata", help="its metadata JSON (default: MODEL.json beside it)"
    )
    parser.add_argument(
        "--text", help="sequence-to-sequence and translation models: the source "
        "text; fill models: a sentence with a gap written ___"
    )
    parser.add_argument(
        "--image", help="image classifiers and captioners: the image file (PNG, or "
        "any format Pillow reads) of the size the model takes"
    )
    parser.add_argument(
        "--story", help="question-answering models: the story, a text file of "
        "one sentence a line"
    )
    parser.add_argument(
        "--question", help="question-answering models: the question about the story"
    )
    parser.add_argument(
        "--gap-length", type=_positive_int, default=1,
        help="fill models: pieces to fill the gap with (default 1)",
    )
    parser.add_argument(
        "--inputs",
        help="arrays and classifiers: a .npy file (one input) or .npz (inputs "
        "by name), real values with the shape the model takes; copy models: "
        "a .npy file of bits [L, K]",
    )
    parser.add_argument(
        "--out", help="arrays: write the outputs here, by name (.npz)"
    )
    parser.add_argument(
        "--signature",
        help="arrays: the signature to run (default: the task's, else the only "
        "one or serving_default)",
    )
    parser.add_argument(
        "--length",
        type=_positive_int,
        help="copy models: vectors in the random sequence (default: the "
        "longest training length)",
    )
    parser.add_argument(
        "--seed",
        type=_non_negative_int,
        default=0,
        help="copy models: seed of the random sequence (default 0)",
    )
    parser.add_argument(
        "--threads", type=_threads, default=1,
        help=f"LiteRT threads (default 1, at most {MAX_THREADS})",
    )
    parser.add_argument(
        "--runs",
        type=_positive_int,
        default=10,
        help="timed runs for the latency median and p90 (default 10)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show LiteRT's own log lines (hidden by default)",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    return parser


def version():
    """keras-attention's version: from the installed package, else from the
    pyproject.toml of the source tree edge_demo runs from (a device that
    installed edge_demo/requirements.txt only), else "unknown"."""
    from importlib import metadata

    try:
        return metadata.version("keras-attention")
    except metadata.PackageNotFoundError:
        pass
    pyproject = os.path.join(os.path.dirname(__file__), os.pardir, "pyproject.toml")
    try:
        import tomllib

        with open(pyproject, "rb") as f:
            return tomllib.load(f)["project"]["version"]
    except (ImportError, OSError, ValueError, KeyError):
        return "unknown"


def _ms(stats):
    return f"median {stats['median_ms']:.3f} ms, p90 {stats['p90_ms']:.3f} ms"


def _seq2seq(model, args):
    if args.text is None:
        raise EdgeModelError(f"{model.model_path} is a seq2seq model: give --text")
    check_text(args.text, "--text", allow_blank=False)
    source = model.text_to_ids(args.text)
    decoded = model.greedy_decode(source)  # also the untimed warm-up
    runs = [model.greedy_decode(source) for _ in range(args.runs)]
    steps = [ms for run in runs for ms in run.step_ms]
    total = [run.encode_ms + sum(run.step_ms) for run in runs]
    return [
        f"input:   {args.text}",
        f"output:  {model.ids_to_text(decoded.tokens[0])}",
        f"latency: whole decode {_ms(summarize_ms(total))} "
        f"({len(decoded.step_ms)} steps, {args.runs} runs, {args.threads} thread(s))",
        f"         encode {_ms(summarize_ms([r.encode_ms for r in runs]))}; "
        f"decode_step {_ms(summarize_ms(steps))}",
    ]


def _translation(model, args):
    if args.text is None:
        raise EdgeModelError(f"{model.model_path} is a translation model: give --text")
    check_text(args.text, "--text", allow_blank=False)
    translated = model.translate(args.text)  # also the untimed warm-up
    runs = [model.translate(args.text) for _ in range(args.runs)]
    steps = [ms for run in runs for ms in run.step_ms]
    total = [run.encode_ms + sum(run.step_ms) for run in runs]
    languages = f"{model.task.get('source_language', '?')} -> " \
        f"{model.task.get('target_language', '?')}"
    lines = [
        f"input:   {args.text}" + (" (cut to the model's length)" if translated.truncated else ""),
        f"output:  {translated.text}",
        f"         ({languages}, {len(translated.tokens)} pieces)",
        f"latency: whole translation {_ms(summarize_ms(total))} "
        f"({len(translated.step_ms)} steps, {args.runs} runs, {args.threads} thread(s))",
        f"         encode {_ms(summarize_ms([r.encode_ms for r in runs]))}; "
        f"decode_step {_ms(summarize_ms(steps))}",
    ]
    return lines


def _fill(model, args):
    if args.text is None:
        raise EdgeModelError(
            f"{model.model_path} fills a gap: give --text with a gap, e.g. "
            "--text \"A man in a ___ hat\"")
    check_text(args.text, "--text", allow_blank=False)
    filled = model.fill(args.text, args.gap_length)  # also the untimed warm-up
    runs = [model.fill(args.text, args.gap_length) for _ in range(args.runs)]
    chosen = ", ".join(f"{p} {q:.3f}" for p, q in zip(filled.pieces, filled.probabilities))
    first = ", ".join(f"{p} {q:.3f}" for p, q in filled.candidates)
    return [
        f"input:   {args.text}",
        f"output:  {filled.text}",
        f"gap:     {chosen}",
        f"         first piece's candidates: {first}",
        f"latency: whole fill {_ms(summarize_ms([sum(r.call_ms) for r in runs]))} "
        f"({len(filled.call_ms)} calls, {args.runs} runs, {args.threads} thread(s))",
    ]


def _image_classification(model, args):
    from edge_demo.images import classify_image

    if args.image is None:
        raise EdgeModelError(
            f"{model.model_path} classifies images: give --image, e.g. --image digit.png")
    found = classify_image(model, args.image)  # also the untimed warm-up
    runs = [classify_image(model, args.image).call_ms for _ in range(args.runs)]
    order = np.argsort(found.probabilities)[::-1][:3]
    others = ", ".join(
        f"{model.task['labels'][i]} {found.probabilities[i]:.3f}" for i in order[1:])
    return [
        f"input:   {args.image}",
        f"output:  {found.label} ({found.probability:.4f}); next: {others}",
        f"latency: {_ms(summarize_ms(runs))} ({args.runs} runs, {args.threads} thread(s))",
    ]


def _captioning(model, args):
    from edge_demo.images import caption_image

    if args.image is None:
        raise EdgeModelError(
            f"{model.model_path} captions images: give --image, e.g. --image scene.png")
    found = caption_image(model, args.image)  # also the untimed warm-up
    runs = [caption_image(model, args.image) for _ in range(args.runs)]
    return [
        f"input:   {args.image}",
        f"output:  {found.caption}",
        f"latency: whole caption {_ms(summarize_ms([r.encode_ms + sum(r.step_ms) for r in runs]))} "
        f"({len(found.step_ms)} steps, {args.runs} runs, {args.threads} thread(s))",
        f"         encode {_ms(summarize_ms([r.encode_ms for r in runs]))}; "
        f"step {_ms(summarize_ms([t for r in runs for t in r.step_ms]))}",
    ]


def _question_answering(model, args):
    from edge_demo.qa import answer_question

    if args.story is None or args.question is None:
        raise EdgeModelError(
            f"{model.model_path} answers questions about a story: give --story FILE "
            "and --question TEXT")
    found = answer_question(model, args.story, args.question)  # also the warm-up
    runs = [answer_question(model, args.story, args.question).call_ms
            for _ in range(args.runs)]
    order = np.argsort(found.probabilities)[::-1]
    others = ", ".join(f"{model.task['answers'][i]} {found.probabilities[i]:.3f}"
                       for i in order[1:3])
    lines = [
        f"story:   {args.story} ({len(found.sentences)} sentences read)",
        f"question: {args.question}",
        f"answer:  {found.answer} ({found.probability:.4f}); next: {others}",
    ]
    for hop, weights in enumerate(found.attention, start=1):
        top = np.argsort(weights)[::-1][:2]
        attended = "; ".join(f"{weights[i]:.2f} {found.sentences[i]!r}" for i in top)
        lines.append(f"hop {hop}:   {attended}")
    return lines + [
        f"latency: {_ms(summarize_ms(runs))} ({args.runs} runs, {args.threads} thread(s))"]


def _load(path, what):
    """A .npy file's array, or a .npz file's arrays by name; numpy tells
    the two apart by their content, whatever the file's name."""
    try:
        loaded = np.load(path)  # allow_pickle=False: no code runs from a file
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded:
                return {name: loaded[name] for name in loaded.files}
        return loaded
    except (
        OSError, ValueError, EOFError, MemoryError, zipfile.BadZipFile, zlib.error
    ) as e:
        reason = " ".join(str(e).split())
        raise EdgeModelError(f"{path}: cannot read {what} ({reason})") from None


def _read_inputs(path, names):
    archive = path.endswith(".npz")
    if not archive and len(names) != 1:
        raise EdgeModelError(
            f"{path}: the model takes inputs {names}; give them by name in a .npz"
        )
    loaded = _load(path, "inputs")
    if archive != isinstance(loaded, dict):
        found = "a .npz archive" if isinstance(loaded, dict) else "a single .npy array"
        wanted = "a .npz archive of arrays by input name" if archive else "a .npy array"
        raise EdgeModelError(f"{path}: expected {wanted}, found {found}")
    return loaded if archive else {names[0]: loaded}


def _check_node_labels(truth, path, nodes, classes):
    """A node classifier's true labels: one int per node, -1 for unknown."""
    truth = np.asarray(truth).reshape(-1)
    if truth.shape != (nodes,):
        raise EdgeModelError(
            f"{path}: 'labels' must hold one label per node "
            f"({nodes}), received shape {truth.shape}"
        )
    if truth.dtype.kind not in "iu":
        raise EdgeModelError(
            f"{path}: 'labels' must be ints (-1 for unknown), received "
            f"{truth.dtype.name}"
        )
    outside = truth[(truth < -1) | (truth >= classes)]
    if outside.size:
        raise EdgeModelError(
            f"{path}: 'labels' must be in [-1, {classes}) (-1 for unknown), "
            f"received {outside[:5].tolist()}"
        )
    return truth


def _classification(model, args):
    if args.inputs is None:
        raise EdgeModelError(f"{model.model_path} is a classifier: give --inputs")
    labels = model.task.get("labels")
    signature = model.task.get("signature") or model.default_signature
    spec = model.spec(signature)
    inputs = _read_inputs(args.inputs, [t["name"] for t in spec["inputs"]])
    per_node = model.task.get("kind") == "node_classification"
    truth = inputs.pop("labels", None) if per_node else None
    outputs = [t["name"] for t in spec["outputs"]]
    name = model.task.get("output") or (outputs[0] if len(outputs) == 1 else None)
    if not labels or name not in outputs:
        raise EdgeModelError(
            f"{model.metadata_path}: a classifier's task needs 'labels' and, with "
            f"several outputs ({outputs}), 'output'"
        )
    scores = model.run(signature, **inputs)[name]
    stats = latency(lambda: model.run(signature, **inputs), runs=args.runs)
    if scores.shape[-1] != len(labels):
        raise EdgeModelError(
            f"{model.metadata_path}: {len(labels)} labels for "
            f"{scores.shape[-1]} classes"
        )
    # [rows, classes]: a row per example, or per node of a node classifier.
    scores = scores.reshape(-1 if per_node else len(scores), len(labels))
    row = "node" if per_node else "row"
    lines = [
        f"{row} {i}: {labels[int(np.argmax(s))]} ({float(np.max(s)):.4f})"
        for i, s in enumerate(scores)
    ]
    if truth is not None:
        truth = _check_node_labels(truth, args.inputs, len(scores), len(labels))
        known = truth >= 0
        right = int(np.sum(np.argmax(scores, -1)[known] == truth[known]))
        lines.append(
            f"accuracy: {right}/{int(known.sum())} labelled nodes "
            f"({right / max(int(known.sum()), 1):.3f})"
        )
    return lines + [
        f"latency: {_ms(stats)} ({args.runs} runs, {args.threads} thread(s))"
    ]


def _arrays(model, args):
    if args.inputs is None:
        raise EdgeModelError(
            f"{model.model_path} takes arrays: give --inputs (a .npz by input name, "
            "or a .npy for one input)"
        )
    if args.out is not None and not args.out.endswith(".npz"):
        raise EdgeModelError(f"--out {args.out}: the outputs are written as a .npz file")
    if args.out is not None:
        for option, path in (
            ("--inputs", args.inputs), ("the model", model.model_path),
            ("the metadata", model.metadata_path),
        ):
            if _same_file(args.out, path):
                raise EdgeModelError(
                    f"--out {args.out} is {option} ({path}): the outputs never "
                    "replace a file edge_demo reads; give another path"
                )
    signature = args.signature or model.task.get("signature") or model.default_signature
    names = [t["name"] for t in model.spec(signature)["inputs"]]
    inputs = _read_inputs(args.inputs, names)
    outputs, count = model.run_batches(signature, inputs)
    first = inputs if count == 1 else {  # the latency of one call
        t["name"]: np.asarray(inputs[t["name"]])[: t["shape"][0]]
        for t in model.spec(signature)["inputs"]
    }
    stats = latency(lambda: model.run(signature, **first), runs=args.runs)
    lines = [f"signature: {signature} ({count} call(s))"]
    for name, value in outputs.items():
        lines.append(
            f"output {name}: shape {list(value.shape)} {value.dtype.name}"
            + (f", min {value.min():.6g}, max {value.max():.6g}" if value.size else "")
        )
        if args.out is None:
            lines.append("  " + np.array2string(value, threshold=20).replace("\n", "\n  "))
    if args.out is not None:
        _write_outputs(args.out, outputs)
        lines.append(f"wrote {args.out}")
    return lines + [
        f"latency: one call {_ms(stats)} ({args.runs} runs, {args.threads} thread(s))"
    ]


def _same_file(a, b):
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links too
    except OSError:
        return False  # one does not exist yet


def _write_outputs(path, outputs):
    buffer = io.BytesIO()
    np.savez(buffer, **outputs)
    try:
        write_atomically(path, buffer.getvalue())
    except OSError as e:
        raise EdgeModelError(f"{path}: cannot write the outputs ({e})") from None


def _bit_rows(bits, marks="#."):
    """One text row per bit channel, one column per step: `[L, K]` -> K rows."""
    return ["  " + "".join(marks[0] if b else marks[1] for b in row) for row in bits.T]


def _copy_bits(model, args):
    num_bits = model.task["num_bits"]
    if args.inputs is not None:
        if args.length is not None:
            raise EdgeModelError("give --inputs or --length, not both")
        bits = _load(args.inputs, "bits")
        if isinstance(bits, dict):
            raise EdgeModelError(
                f"{args.inputs}: expected a .npy array of bits [L, K], found a "
                ".npz archive"
            )
        return bits, f"from {args.inputs}"
    length = args.length or model.task.get("max_length", 8)
    if length > MAX_COPY_LENGTH:
        raise EdgeModelError(
            f"--length must be at most {MAX_COPY_LENGTH} (a copy runs 2L + 1 "
            f"steps), received --length {length}"
        )
    bits = np.random.default_rng(args.seed).integers(0, 2, (length, num_bits))
    return bits, f"random, seed {args.seed}"


def _ntm_copy(model, args):
    model.task_fields("num_bits", "state_names", "initial_state")
    bits, source = _copy_bits(model, args)
    copied = model.copy_sequence(bits)  # also the untimed warm-up
    runs = [model.copy_sequence(bits) for _ in range(args.runs)]
    steps = [ms for run in runs for ms in run.step_ms]
    length, width = copied.bits.shape
    lines = [
        f"copy:    {length} vectors of {width} bits ({source}); "
        "one row per bit, one column per step",
        "input:",
        *_bit_rows(copied.bits),
        "output:",
        *_bit_rows(copied.copied),
    ]
    if copied.errors:
        lines += ["wrong bits (x):", *_bit_rows(copied.copied != copied.bits, "x.")]
    verdict = "copied exactly" if copied.errors == 0 else "not an exact copy"
    return lines + [
        f"bit errors: {copied.errors} of {copied.bits.size} ({verdict})",
        f"latency: step {_ms(summarize_ms(steps))} "
        f"({len(copied.step_ms)} steps, {args.runs} runs, {args.threads} thread(s)); "
        f"whole copy {_ms(summarize_ms([sum(r.step_ms) for r in runs]))}",
    ]


RUNS = {
    "arrays": _arrays,
    "seq2seq": _seq2seq,
    "classification": _classification,
    "node_classification": _classification,
    "image_classification": _image_classification,
    "captioning": _captioning,
    "question_answering": _question_answering,
    "ntm_copy": _ntm_copy,
    "translation": _translation,
    "fill": _fill,
}


def _main(args):
    model = load(args.model, args.metadata, num_threads=args.threads)
    # A metadata without a task kind (export_tflite called without `task`)
    # describes its signatures, which is all the generic task needs.
    kind = model.task.get("kind", "arrays")
    run = RUNS.get(kind)
    if run is None:
        raise EdgeModelError(
            f"{model.metadata_path}: task kind {kind!r}; expected one of "
            f"{', '.join(repr(k) for k in RUNS)}"
        )
    if args.out is not None and run is not _arrays:
        raise EdgeModelError(f"--out is for models of task kind 'arrays', not {kind!r}")
    lines = run(model, args)
    return [
        f"model:   {args.model} ({model.mode}, {os.path.getsize(args.model)} bytes)",
        *lines,
    ]


def main(argv=None):
    args = _parser().parse_args(argv)
    try:
        with quiet_logs(args.verbose):
            lines = _main(args)
    except EdgeModelError as e:
        # One line, so a script or a person reads the cause at a glance.
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
