"""The sequence family of the tour: dates in human formats to ISO 8601.

Three models on the same generated task (`keras_attention.data.dates`): a
GRU encoder-decoder without attention, the same with Bahdanau attention in
the decoder's recurrence, and a small Transformer. Each is trained with
`model.fit(jit_compile=True)`, decoded greedily in Keras, exported to
LiteRT files with `encode` and `decode_step` signatures in float32, in the
family's default mode (dynamic range) and in int8, and each file is decoded
step by step by `edge_demo` (numpy and LiteRT only). Accuracy is exact match
of the whole ISO date.
"""

import os
import sys
import time

import keras
import numpy as np

import edge_demo
from keras_attention_export import Exporter, default_mode
from keras_attention.data import dates
from keras_attention.models import RNNSeq2Seq, TransformerSeq2Seq
from keras_attention.plotting import plot_heatmap
from keras_attention.tour.result import ModelResult

NAME = "sequence"

# Training examples, epochs, held-out examples decoded on the device, and
# sources whose decoding calibrates the int8 export. Six epochs leave the
# plain encoder-decoder short of the attention models, which is the point.
# The training and validation sets are whole batches (BATCH_SIZE): a
# smaller last batch has another shape, which XLA compiles again (about 10 s
# a model on 2 cores, half the quick run's training).
BATCH_SIZE = 64
FULL = dict(train=312 * BATCH_SIZE, epochs=6, device=300, calibration=64)
QUICK = dict(train=48 * BATCH_SIZE, epochs=3, device=60, calibration=16)
VALIDATION = 8 * BATCH_SIZE
MODES = ("float32", "dynamic", "int8")
SHOWN = ["saturday, april 3rd 2021", "03.04.2021", "Apr 3, 2021"]

# The report's notes on this family (`tour.report`): (topic, text) pairs.
NOTES = [
    ("Latency",
     "the median of one decode_step call (one output character, batch 1) "
     "over every step of every held-out date decoded on the device; encode "
     "runs once per date and is not in the column."),
    ("Accuracy",
     "exact match of the whole ISO date, decoded greedily; the device column "
     "decodes the same dates step by step with the int8 file."),
    ("Default export",
     "dynamic range: in bench/export.py it keeps the accuracy at 0.4-0.5x "
     "the float32 size and is no slower."),
    ("Pictures",
     "where each output character looks in the source: Bahdanau's additive "
     "attention, and the Transformer's cross-attention in its last decoder "
     "block with the heads averaged. The plain encoder-decoder has no "
     "attention to draw."),
]


def models():
    """Builders and learning rates. One block each way trains the Transformer
    to 99% on dates; two wobbled around 95-98% at the higher rate."""
    task = dates.model_arguments()
    return {
        "rnn": (lambda: RNNSeq2Seq(**task, units=64, attention=False, name="rnn"), 3e-3),
        "bahdanau": (
            lambda: RNNSeq2Seq(**task, units=64, attention=True, name="bahdanau"),
            3e-3,
        ),
        "transformer": (
            lambda: TransformerSeq2Seq(
                **task, hidden_dim=64, num_heads=4, intermediate_dim=128,
                num_encoder_blocks=1, num_decoder_blocks=1, name="transformer",
            ),
            1e-3,
        ),
    }


def train(model, settings, learning_rate):
    train_sources, train_targets = dates.generate(settings["train"], seed=1)
    val_sources, val_targets = dates.generate(VALIDATION, seed=2)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    start = time.perf_counter()
    history = model.fit(
        dates.dataset(train_sources, train_targets, batch_size=BATCH_SIZE),
        validation_data=dates.dataset(
            val_sources, val_targets, batch_size=BATCH_SIZE, shuffle=False
        ),
        epochs=settings["epochs"],
        shuffle=False,  # the dataset shuffles itself
        verbose=1 if sys.stdout.isatty() else 2,
    )
    return history.history, time.perf_counter() - start


def decode_on_device(model_path, source_ids):
    """Greedy decoding of every row on the device runtime, one row at a time."""
    device = edge_demo.load(model_path)
    decoded, step_ms = [], []
    for row in source_ids:
        result = device.greedy_decode(row[None])
        decoded.append(result.tokens[0])
        step_ms.extend(result.step_ms)
    texts = ["".join(dates.TARGET_VOCABULARY[i] for i in tokens) for tokens in decoded]
    return texts, float(np.median(step_ms))


# What each model's alignment pictures show (the rnn has no attention).
WHAT_IS_SHOWN = {
    "bahdanau": "additive attention weights",
    "transformer": "cross-attention, last block, heads averaged",
}


def alignment_title(name, source, target):
    """A picture's title: the model, what its weights are, input and output."""
    return f"{name}: {WHAT_IS_SHOWN[name]}\n{source!r} -> {target!r}"


def pictures(name, model, out_dir):
    ids = dates.encode_sources(SHOWN)
    if name not in WHAT_IS_SHOWN:
        return []
    weights = model.attention_weights(ids)  # [N, T, S] or [N, L, H, T, S]
    if weights.ndim == 5:
        weights = weights[:, -1].mean(axis=1)  # last block, heads averaged
    predicted = dates.decode_targets(model.greedy_decode(ids))
    paths = []
    for i, (source, target) in enumerate(zip(SHOWN, predicted)):
        rows = len(target) + 1  # the characters and the end token
        path = f"{name}_alignment_{i}.png"
        plot_heatmap(
            weights[i, :rows, : len(source)],
            list(source),
            list(target) + ["</s>"],
            alignment_title(name, source, target),
            os.path.join(out_dir, path),
            colorbar_label="attention weight",
            x_label="source character",
            y_label="output character",
        )
        paths.append(path)
    return paths


def run(out_dir, quick):
    settings = QUICK if quick else FULL
    os.makedirs(out_dir, exist_ok=True)
    test_sources, test_targets = dates.generate(settings["device"], seed=3)
    test_ids = dates.encode_sources(test_sources)
    calibration_ids = dates.encode_sources(
        dates.generate(settings["calibration"], seed=4)[0]
    )
    results = []
    for name, (build, learning_rate) in models().items():
        keras.utils.set_random_seed(0)
        model = build()
        print(f"\n--- {name}: {model.count_params():,} parameters", flush=True)
        history, seconds = train(model, settings, learning_rate)
        keras_texts = dates.decode_targets(model.greedy_decode(test_ids))
        sizes, latency, device_texts = {}, {}, None
        # Traced once, converted to each mode.
        with Exporter(model, model.export_signatures()) as exporter:
            for mode in MODES:
                path = os.path.join(out_dir, f"{name}_{mode}.tflite")
                calibration = (
                    model.representative_data(calibration_ids) if mode == "int8" else None
                )
                exporter.export_tflite(
                    path,
                    mode=mode,
                    representative_data=calibration,
                    # every recorded encode and decode step
                    num_calibration_samples=10_000,
                    task=dates.task_metadata(),
                )
                sizes[mode] = os.path.getsize(path)
                texts, latency[mode] = decode_on_device(path, test_ids)
                if mode == "int8":
                    device_texts = texts
        result = ModelResult(
            family=NAME,
            name=name,
            parameters=model.count_params(),
            keras_accuracy=dates.exact_match(keras_texts, test_targets),
            device_accuracy=dates.exact_match(device_texts, test_targets),
            device_agreement=dates.exact_match(device_texts, keras_texts),
            sizes=sizes,
            latency_ms=latency,
            history={k: [float(v) for v in vs] for k, vs in history.items()},
            pictures=pictures(name, model, out_dir),
            metric="exact match",
            train_seconds=seconds,
            default_mode=default_mode(model),
        )
        print(
            f"{name}: exact match {result.keras_accuracy:.3f} in Keras, "
            f"{result.device_accuracy:.3f} on the device (int8), "
            f"agreement {result.device_agreement:.3f}",
            flush=True,
        )
        results.append(result)
    return results
