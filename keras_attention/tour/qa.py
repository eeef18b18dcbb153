"""The question-answering family of the tour: a memory network reads a story.

MemN2N (`memn2n_model`: 3 hops, position encoding, temporal encoding with
random noise, adjacent tying with the answers scored by the last hop's
output embedding of their words, d = 20) trains on each generated bAbI-style
task (`keras_attention.data.babi`, 1,000 training questions a task, seeded)
with `model.fit(jit_compile=True)` and `compile_qa_model`'s recipe, and
answers the task's 1,000 test questions. Each model is exported with its
`answer` signature (story and question ids in; the answers' probabilities
and each hop's attention over the sentences out) in float32, dynamic range
and int8, and every file answers the test questions on the device runtime
(`edge_demo.qa`, numpy and LiteRT only) from the text of the story and
the question. The picture shows one story of the two-supporting-facts
task with each hop's attention over its sentences, the supporting ones
starred: the hops that find the object's carrier, then where the carrier
went.
"""

import os
import sys
import time

import keras
import numpy as np

import edge_demo
from edge_demo.qa import answer_question
from keras_attention import plotting
from keras_attention.data import babi
from keras_attention.models import (
    attention_model,
    compile_qa_model,
    memn2n_model,
    memn2n_signatures,
    qa_task_metadata,
    support_recall,
)
from keras_attention.tour.result import ModelResult
from keras_attention_export import Exporter

NAME = "qa"
MEMORY_SIZE = babi.MEMORY_SIZE
MODEL = dict(hidden_dim=20, num_hops=3, temporal_noise=0.1)
FULL = dict(tasks=(1, 2, 3, 6, 7, 11), epochs=40, test=1000)
QUICK = dict(tasks=(1, 2), epochs=15, test=200)
BATCH_SIZE = 32
MODES = ("float32", "dynamic", "int8")
# int8: the one smaller file. Dynamic range quantizes only tensors of 1,024
# elements or more, and these embeddings (about 20 words x 20 units) are
# smaller, so its file is float32's.
DEFAULT_MODE = "int8"
SHOWN_TASK = 2

NOTES = [
    ("Latency",
     "the median of one call of the answer signature (a whole story of up to "
     f"{MEMORY_SIZE} sentences and its question in, the answer and every "
     "hop's attention out) over the test questions answered on the device."),
    ("Accuracy",
     "the share of the task's test questions answered right, on generated "
     "bAbI-style tasks (keras_attention.data.babi: 1,000 training questions a "
     "task, a separate seeded test set). The device column runs the int8 file "
     "from the story's and question's text; agreement is the share of test "
     "questions whose answer is the same on the device and in Keras."),
    ("Attention as evidence",
     "each row's printed line gives, per hop, the share of test questions whose "
     "most attended sentence is a supporting fact."),
    ("Default export",
     "int8, the one smaller file (about 0.7x float32's): dynamic range quantizes "
     "only tensors of 1,024 elements or more, and these embeddings (about 20 "
     "words x 20 units) are smaller, so its file is float32's. The table gives "
     "int8's accuracy beside Keras's; its call is slower than float32's on "
     "this CPU, a few hundredths of a millisecond either way."),
    ("Pictures",
     f"one story of task {SHOWN_TASK} (two supporting facts): each hop's attention "
     "over the story's sentences, the supporting facts starred. Each hop's "
     "weights sum to 1."),
]


def _inputs(arrays):
    return {"story": arrays["story"], "question": arrays["question"]}


def run(out_dir, quick):
    settings = QUICK if quick else FULL
    os.makedirs(out_dir, exist_ok=True)
    folder = babi.generate_babi(os.path.join(out_dir, "babi"), tasks=settings["tasks"],
                                sizes=("1k",))
    results = []
    for task in settings["tasks"]:
        train = babi.samples_of(babi.load_babi(task, "train", path=folder))
        test = babi.samples_of(babi.load_babi(task, "test", path=folder))[: settings["test"]]
        vocabulary = babi.Vocabulary.from_samples(train)
        length = babi.longest_sentence(train + test, MEMORY_SIZE)
        arrays = babi.vectorize(train, vocabulary, MEMORY_SIZE, length)
        test_arrays = babi.vectorize(test, vocabulary, MEMORY_SIZE, length)
        keras.utils.set_random_seed(0)
        model = memn2n_model(vocabulary.size, len(vocabulary.answers), memory_size=MEMORY_SIZE,
                             sentence_length=length, answer_word_ids=vocabulary.answer_word_ids,
                             seed=0, name=f"memn2n_qa{task}", **MODEL)
        compile_qa_model(model, steps_per_epoch=int(np.ceil(len(train) / BATCH_SIZE)))
        print(f"\n--- memn2n qa{task} ({babi.TASK_NAMES[task]}): "
              f"{model.count_params():,} parameters", flush=True)
        start = time.perf_counter()
        history = model.fit(_inputs(arrays), arrays["answer"], batch_size=BATCH_SIZE,
                            epochs=settings["epochs"], verbose=1 if sys.stdout.isatty() else 2)
        seconds = time.perf_counter() - start
        logits, weights = attention_model(model).predict(_inputs(test_arrays), batch_size=256,
                                                         verbose=0)
        keras_answers = [vocabulary.answers[i] for i in np.argmax(logits, -1)]
        recall = support_recall(weights, test_arrays["supporting"])
        sizes, latency, device = {}, {}, {}
        with Exporter(model, signatures=memn2n_signatures(model)) as exporter:
            for mode in MODES:
                path = os.path.join(out_dir, f"memn2n_qa{task}_{mode}.tflite")
                exporter.export_tflite(
                    path, mode=mode, task=qa_task_metadata(model, vocabulary),
                    representative_data=(
                        {"answer": {k: v[:200] for k, v in _inputs(arrays).items()}}
                        if mode == "int8" else None))
                sizes[mode] = os.path.getsize(path)
                on_device = edge_demo.load(path)
                found = [answer_question(on_device, list(s.facts), s.question) for s in test]
                device[mode] = [f.answer for f in found]
                latency[mode] = float(np.median([f.call_ms for f in found]))
        pictures = []
        if task == SHOWN_TASK:
            pictures.append(f"memn2n_qa{task}_hops.png")
            shown = next(i for i, s in enumerate(test) if len(s.facts) >= 6)
            sample = test[shown]
            count = len(sample.facts[-MEMORY_SIZE:])
            plotting.plot_hop_attention(
                list(sample.facts[-MEMORY_SIZE:]), weights[shown][:, :count],
                [int(i) for i in np.flatnonzero(test_arrays["supporting"][shown])],
                sample.question, keras_answers[shown], os.path.join(out_dir, pictures[0]),
                title=(f"MemN2N, task {task}: {sample.question} answer "
                       f"{keras_answers[shown]} (true: {sample.answer})\n"
                       "each hop's attention over the story; * supporting fact"))
        truth = [s.answer for s in test]
        result = ModelResult(
            family=NAME, name=f"memn2n qa{task}", parameters=model.count_params(),
            keras_accuracy=float(np.mean([a == t for a, t in zip(keras_answers, truth)])),
            device_accuracy=float(np.mean([a == t for a, t in zip(device[DEFAULT_MODE], truth)])),
            device_agreement=float(np.mean(
                [a == k for a, k in zip(device[DEFAULT_MODE], keras_answers)])),
            sizes=sizes, latency_ms=latency,
            history={k: [float(v) for v in vs] for k, vs in history.history.items()},
            pictures=pictures,
            metric=(f"test questions answered right (task {task}, {babi.TASK_NAMES[task]}; "
                    f"{len(test)} generated questions, 1,000 to train)"),
            train_seconds=seconds, default_mode=DEFAULT_MODE, device_mode=DEFAULT_MODE,
        )
        print(f"memn2n qa{task}: {result.keras_accuracy:.3f} in Keras, "
              f"{result.device_accuracy:.3f} on the device ({DEFAULT_MODE}); supporting "
              f"fact most attended, per hop: {' '.join(f'{r:.2f}' for r in recall)}; "
              f"trained in {seconds:.0f} s", flush=True)
        results.append(result)
    return results
