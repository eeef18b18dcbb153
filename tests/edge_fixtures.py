"""Small exported models for edge_demo's tests, built with Keras and TensorFlow.

    python -m tests.edge_fixtures OUT_DIR       # or build(out_dir)

writes five models, each with its metadata beside it (edge_demo/contract.py):

- `classifier_float32.tflite`: a sequence classifier, `features` [1, 8, 4]
  to `probabilities` [1, 3], in float32;
- `classifier_int8.tflite`: the same model in full int8, int8 input and
  output, calibrated on a representative dataset;
- `seq2seq.tflite`: a GRU encoder-decoder with dot-product attention, in the
  `encode` / `decode_step` convention, its attention memory read by every
  step and given back by none;
- `node_classifier_int8.tflite`: a dense-mode `GraphAttention` node
  classifier on one 7-node graph (`node_features` [1, 7, 5], `adjacency`
  [1, 7, 7]) to `probabilities` [1, 7, 2], full int8 with int8 input and
  output;
- `ntm_copy.tflite`: a tiny untrained Neural Turing Machine for the copy
  task (3 bits, memory 8 x 4, LSTM controller of 8 units), its `step`
  signature in float32, the initial state in the metadata;
- `translation.tflite`: a tiny Transformer translator trained briefly on a
  generated German-English corpus, exported by `Translator.export_tflite`
  in float32 with its two SentencePiece files beside it
  (`translation.source.model`, `translation.target.model`).

Each metadata's "task" holds what Keras computed for a few fixed inputs, so
edge_demo's tests, which run where TensorFlow is not installed, can compare
the device's results with Keras.
"""

import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_attention_export.metadata import write_metadata  # noqa: E402
from keras_attention_export.tflite import tf_signatures  # noqa: E402

SEED = 0

FEATURES_SHAPE = (1, 8, 4)  # [B, T, D]
LABELS = ["alpha", "beta", "gamma"]

# Characters to characters: the weights are random, so the "translation"
# means nothing, but Keras and the device must produce the same one.
SOURCE_VOCABULARY = ["<pad>"] + list("abcdefgh ")
TARGET_VOCABULARY = ["<pad>", "<s>", "</s>"] + list("0123456789-")
PAD_ID, START_ID, END_ID = 0, 1, 2
SOURCE_LENGTH = 7  # S
MAX_TARGET_LENGTH = 8
UNITS = 16
SOURCES = ["abc", "bad cab", "gg", "hea"]

# Greedy decoding compares argmaxes; a near tie could flip between Keras and
# LiteRT on float rounding alone, so the build refuses fixtures with one.
MIN_LOGIT_GAP = 1e-3


def _convert(export_dir, tracked, endpoints, representative=None):
    """Flatbuffer of `endpoints` {name: (fn, specs)}, builtin ops only.

    Goes through `keras.export.ExportArchive` like the exporter
    (`keras_attention_export.convert`): a bare concrete function leaves the
    weights uninitialised in the flatbuffer. Not the exporter itself, whose
    int8 mode lets an op fall back to float and which tracks one model: a
    fixture is strictly integer (`representative`, a list of input lists,
    makes it so, with int8 inputs and outputs) and a seq2seq fixture's
    endpoints use two models. The SavedModel is written once per
    `export_dir` and converted as often as asked.
    """
    if not os.path.exists(export_dir):
        archive = keras.export.ExportArchive()
        for model in tracked:
            archive.track(model)
        for name, (fn, specs) in endpoints.items():
            archive.add_endpoint(name, fn, input_signature=specs)
        archive.write_out(export_dir, verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(
        export_dir, signature_keys=list(endpoints)
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: iter(representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def _write(out_dir, name, flatbuffer, mode, task):
    path = os.path.join(out_dir, name)
    with open(path, "wb") as f:
        f.write(flatbuffer)
    write_metadata(path, mode, task)
    return path


def _classifier():
    init = keras.initializers.RandomNormal(stddev=1.0, seed=SEED)
    features = keras.Input(FEATURES_SHAPE[1:], batch_size=1, name="features")
    dense = keras.layers.Dense(16, activation="relu", kernel_initializer=init)
    hidden = dense(features)  # [B, T, 16]
    pooled = keras.layers.GlobalAveragePooling1D()(hidden)  # [B, 16]
    # Unit-variance weights spread the probabilities, so the labels differ.
    probabilities = keras.layers.Dense(
        3, activation="softmax", kernel_initializer=init
    )(pooled)
    return keras.Model(features, probabilities)


def build_classifiers(out_dir, work_dir):
    model = _classifier()
    rng = np.random.default_rng(SEED)
    samples = rng.uniform(-1, 1, (3, *FEATURES_SHAPE)).astype("float32")
    calibration = rng.uniform(-1, 1, (64, *FEATURES_SHAPE)).astype("float32")
    expected = [
        {
            "inputs": {"features": x.tolist()},
            "outputs": {"probabilities": np.asarray(model(x)).tolist()},
        }
        for x in samples
    ]
    task = {"kind": "classification", "labels": LABELS, "expected": expected}
    endpoints = {
        "serving_default": (
            lambda features: {"probabilities": model(features, training=False)},
            [tf.TensorSpec(FEATURES_SHAPE, tf.float32, name="features")],
        )
    }
    export_dir = os.path.join(work_dir, "classifier")
    return [
        _write(
            out_dir,
            f"classifier_{mode}.tflite",
            _convert(export_dir, [model], endpoints, representative),
            mode,
            task,
        )
        for mode, representative in [
            ("float32", None),
            ("int8", [[c] for c in calibration]),
        ]
    ]


GRAPH_NODES, GRAPH_FEATURES = 7, 5
NODE_LABELS = ["left", "right"]


def _graph():
    """Two triangles joined by a path through node 6, both directions."""
    pairs = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (2, 6), (6, 3)]
    adjacency = np.zeros((1, GRAPH_NODES, GRAPH_NODES), "float32")
    for a, b in pairs:
        adjacency[0, a, b] = adjacency[0, b, a] = 1.0
    features = np.random.default_rng(SEED).uniform(
        -1, 1, (1, GRAPH_NODES, GRAPH_FEATURES)
    ).astype("float32")
    return features, adjacency


def build_node_classifier(out_dir, work_dir):
    from keras_attention import GraphAttention

    # Its own seed, so that its unseeded weights (attention vectors, biases)
    # do not change with what the builders before it draw. With weights of
    # stddev 1 its logits spanned so wide a range that one int8 step of them
    # moved a probability by up to 14 int8 steps for some seeds (0.5 to 14
    # over seeds 0-7); at 0.5 the int8 model stays within 2.7 steps of Keras
    # over the same seeds, inside edge_demo's test tolerance of 4.
    keras.utils.set_random_seed(SEED)
    init = keras.initializers.RandomNormal(stddev=0.5, seed=SEED)
    nodes = keras.Input((GRAPH_NODES, GRAPH_FEATURES), batch_size=1, name="node_features")
    adjacency = keras.Input((GRAPH_NODES, GRAPH_NODES), batch_size=1, name="adjacency")
    hidden = GraphAttention(
        4, num_heads=2, mode="dense", activation="elu", kernel_initializer=init
    )(nodes, adjacency)
    probabilities = keras.layers.Softmax()(
        GraphAttention(2, mode="dense", kernel_initializer=init)(hidden, adjacency)
    )
    model = keras.Model([nodes, adjacency], probabilities)
    features, adjacency_value = _graph()
    predicted = np.asarray(model([features, adjacency_value]))
    task = {
        "kind": "node_classification",
        "labels": NODE_LABELS,
        "expected": [
            {
                "inputs": {
                    "node_features": features.tolist(),
                    "adjacency": adjacency_value.tolist(),
                },
                "outputs": {"probabilities": predicted.tolist()},
            }
        ],
    }
    rng = np.random.default_rng(SEED + 1)
    calibration = [
        [
            rng.uniform(-1, 1, features.shape).astype("float32"),
            adjacency_value,
        ]
        for _ in range(32)
    ]
    endpoints = {
        "serving_default": (
            lambda node_features, adjacency: {
                "probabilities": model([node_features, adjacency], training=False)
            },
            [
                tf.TensorSpec(features.shape, tf.float32, name="node_features"),
                tf.TensorSpec(adjacency_value.shape, tf.float32, name="adjacency"),
            ],
        )
    }
    flatbuffer = _convert(
        os.path.join(work_dir, "node_classifier"), [model], endpoints, calibration
    )
    return [_write(out_dir, "node_classifier_int8.tflite", flatbuffer, "int8", task)]


def _seq2seq_models():
    """Encoder `source -> {state, memory}` and one decoder step."""
    seed = iter(range(SEED, SEED + 100))

    def init():
        return keras.initializers.RandomNormal(stddev=0.5, seed=next(seed))

    source = keras.Input((SOURCE_LENGTH,), batch_size=1, dtype="int32", name="source")
    embedded = keras.layers.Embedding(
        len(SOURCE_VOCABULARY), 8, embeddings_initializer=init()
    )(source)
    # unroll: a fixed, short source needs no While loop in the flatbuffer.
    gru = keras.layers.GRU(
        UNITS,
        return_sequences=True,
        return_state=True,
        unroll=True,
        kernel_initializer=init(),
        recurrent_initializer=init(),
    )
    memory, state = gru(embedded)  # [B, S, U], [B, U]
    encoder = keras.Model(source, {"state": state, "memory": memory})

    token = keras.Input((1,), batch_size=1, dtype="int32", name="token")
    step = keras.Input((), batch_size=1, dtype="int32", name="step")
    state_in = keras.Input((UNITS,), batch_size=1, name="state")
    memory_in = keras.Input((SOURCE_LENGTH, UNITS), batch_size=1, name="memory")
    embed = keras.layers.Embedding(
        len(TARGET_VOCABULARY), 8, embeddings_initializer=init()
    )
    x = embed(token)[:, 0]  # [B, 8]
    cell = keras.layers.GRUCell(
        UNITS, kernel_initializer=init(), recurrent_initializer=init()
    )
    h, _ = cell(x, [state_in])  # [B, U]
    scores = keras.ops.einsum("bu,bsu->bs", h, memory_in) / UNITS**0.5
    context = keras.ops.einsum(
        "bs,bsu->bu", keras.ops.softmax(scores, axis=-1), memory_in
    )
    logits = keras.layers.Dense(len(TARGET_VOCABULARY), kernel_initializer=init())(
        keras.ops.concatenate([h, context], axis=-1)
    )  # [B, V]
    # The end token's logit rises with the step, so decoding stops at a
    # different step for different sources, and the stop is exercised.
    ramp = keras.ops.cast(step, "float32")[:, None] - 6.0  # [B, 1]
    logits = logits + ramp * keras.ops.one_hot(END_ID, len(TARGET_VOCABULARY))
    # A trained model learns never to emit padding or the start token; this
    # random one is told, so the decoded text reads as digits.
    never = keras.ops.one_hot(PAD_ID, len(TARGET_VOCABULARY)) + keras.ops.one_hot(
        START_ID, len(TARGET_VOCABULARY)
    )
    logits = logits - 100.0 * never
    decoder = keras.Model(
        [token, step, state_in, memory_in],
        {"logits": keras.ops.expand_dims(logits, 1), "state": h},  # [B, 1, V]
    )
    return encoder, decoder


def _keras_greedy(encoder, decoder, source_ids):
    """The device's loop, step for step, in Keras; returns tokens (no end)."""
    states = {k: np.asarray(v) for k, v in encoder(source_ids[None]).items()}
    token, tokens = START_ID, []
    for t in range(MAX_TARGET_LENGTH):
        out = decoder(
            [
                np.array([[token]], "int32"),
                np.array([t], "int32"),
                states["state"],
                states["memory"],
            ]
        )
        logits = np.asarray(out["logits"])[0, 0]
        top2 = np.sort(logits)[-2:]
        assert (
            top2[1] - top2[0] > MIN_LOGIT_GAP
        ), f"near tie at step {t} of {source_ids}: {top2}; change SEED or SOURCES"
        token = int(np.argmax(logits))
        if token == END_ID:
            break
        tokens.append(token)
        states["state"] = np.asarray(out["state"])
    return tokens


def build_seq2seq(out_dir, work_dir):
    encoder, decoder = _seq2seq_models()
    index = {c: i for i, c in enumerate(SOURCE_VOCABULARY)}
    expected = []
    for text in SOURCES:
        ids = [index[c] for c in text] + [PAD_ID] * (SOURCE_LENGTH - len(text))
        tokens = _keras_greedy(encoder, decoder, np.array(ids, "int32"))
        expected.append(
            {
                "text": text,
                "source_ids": ids,
                "tokens": tokens,
                "decoded": "".join(TARGET_VOCABULARY[t] for t in tokens),
            }
        )
    lengths = [len(e["tokens"]) for e in expected]
    # Both ways of stopping must occur, or a test of them passes vacuously.
    assert (
        min(lengths) < MAX_TARGET_LENGTH and max(lengths) == MAX_TARGET_LENGTH
    ), lengths

    def encode(source):
        return encoder(source, training=False)

    def decode_step(token, step, state, memory):
        out = decoder([token, step, state, memory], training=False)
        # The attention memory is only read: the step gives back its state.
        return {"logits": out["logits"], "state": out["state"]}

    endpoints = {
        "encode": (
            encode,
            [tf.TensorSpec((1, SOURCE_LENGTH), tf.int32, name="source")],
        ),
        "decode_step": (
            decode_step,
            [
                tf.TensorSpec((1, 1), tf.int32, name="token"),
                tf.TensorSpec((1,), tf.int32, name="step"),
                tf.TensorSpec((1, UNITS), tf.float32, name="state"),
                tf.TensorSpec((1, SOURCE_LENGTH, UNITS), tf.float32, name="memory"),
            ],
        ),
    }
    task = {
        "kind": "seq2seq",
        "source_vocabulary": SOURCE_VOCABULARY,
        "target_vocabulary": TARGET_VOCABULARY,
        "pad_id": PAD_ID,
        "start_id": START_ID,
        "end_id": END_ID,
        "max_target_length": MAX_TARGET_LENGTH,
        "expected": expected,
    }
    flatbuffer = _convert(
        os.path.join(work_dir, "seq2seq"), [encoder, decoder], endpoints
    )
    return [_write(out_dir, "seq2seq.tflite", flatbuffer, "float32", task)]


NTM_BITS = 3
# Sequences the device copies in the tests; the weights are random, so the
# "copies" are wrong, but Keras and the device must write the same bits.
NTM_SEQUENCES = [
    [[1, 0, 1], [0, 1, 1], [1, 1, 0]],
    [[0, 0, 1], [1, 0, 0], [1, 1, 1], [0, 1, 0], [1, 0, 1]],
]


def build_ntm_copy(out_dir, work_dir):
    from keras_attention.data import ntm_tasks
    from keras_attention.models import ntm_models

    # Weights of unit variance spread the logits away from 0, so that the
    # bits (logit > 0) cannot flip on float rounding alone.
    model = ntm_models.ntm_model(
        NTM_BITS + 1, NTM_BITS, memory_size=8, memory_width=4, controller_units=8,
        kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=SEED),
    )
    expected = []
    for bits in NTM_SEQUENCES:
        bits = np.array(bits, "float32")
        length = len(bits)
        inputs, targets, weights = ntm_tasks.copy_batch(
            1, length, length, num_bits=NTM_BITS, seed=0
        )
        inputs[0, :length, :NTM_BITS] = bits  # the layout, with these bits
        targets[0, length + 1 :] = bits
        logits = np.asarray(model(inputs))[0]  # [2L + 1, K]
        output_phase = logits[length + 1 :]
        assert np.abs(output_phase).min() > MIN_LOGIT_GAP, (
            f"a logit within {MIN_LOGIT_GAP} of 0 in {output_phase}; change SEED"
        )
        copied = (output_phase > 0).astype(int)
        expected.append(
            {
                "bits": bits.astype(int).tolist(),
                "inputs": inputs[0].tolist(),
                "logits": logits.tolist(),
                "copied": copied.tolist(),
                "errors": int(ntm_tasks.bit_errors(targets, logits[None], weights,
                                                   from_logits=True)[0]),
            }
        )
    task = {**ntm_models.ntm_copy_metadata(model, max_length=4), "expected": expected}
    signatures = tf_signatures(ntm_models.ntm_step_signatures(model))
    flatbuffer = _convert(
        os.path.join(work_dir, "ntm_copy"), [model],
        {name: tuple(signature) for name, signature in signatures.items()},
    )
    return [_write(out_dir, "ntm_copy.tflite", flatbuffer, "float32", task)]


TRANSLATION_SOURCES = [
    "Ein Hund läuft im Park.",
    "Eine Katze schläft am Strand.",
    "",  # an empty sentence: just the end token
    "Ein 日本 Vogel springt.",  # characters the vocabulary lacks
    " ".join(["Ein Mann spielt auf der Straße."] * 8),  # longer than the model takes
]


def build_translation(out_dir, work_dir):
    from keras_attention import translation
    from keras_attention.data import subwords
    from keras_attention.data import translation as translation_data
    from keras_attention.models import compile_translation_model, translation_model
    from tests import translation_fixtures

    german, english = translation_fixtures.corpus(200)
    source = subwords.SubwordTokenizer.train(german, vocabulary_size=50)
    target = subwords.SubwordTokenizer.train(english, vocabulary_size=50)
    length = 24
    model = translation_model(
        "transformer", source.vocabulary_size, target.vocabulary_size,
        source_length=length, target_length=length, hidden_dim=32, num_heads=2,
        intermediate_dim=64, num_encoder_blocks=1, num_decoder_blocks=1, dropout=0.0,
    )
    # Without XLA: a fixture needs the weights, not the compiled step (12 s
    # rather than 20 s on 2 cores, the same translations).
    compile_translation_model(
        model, learning_rate=3e-3, label_smoothing=0.0, jit_compile=False
    )
    data = translation_data.translation_dataset(
        source.encode(german), target.encode(english), batch_size=32,
        max_source_length=length, max_target_length=length,
    )
    model.fit(data.repeat(), steps_per_epoch=150, epochs=1, verbose=0)
    translator = translation.Translator(model, source, target)
    source_ids = translator.source_ids(TRANSLATION_SOURCES)
    tokens = model.greedy_decode(source_ids)
    # Refuse near ties between the two best logits of any greedy step.
    decoder_inputs = model._decoder_inputs_of(tokens)
    logits = np.sort(np.asarray(model({"source": source_ids,
                                        "decoder_inputs": decoder_inputs})), axis=-1)
    for row, ids in enumerate(tokens):
        steps = min(length, int((ids != 0).sum()))
        gap = (logits[row, :steps, -1] - logits[row, :steps, -2]).min()
        assert gap > MIN_LOGIT_GAP, f"a near tie in sentence {row}; change SEED"
    expected = [
        {
            "text": text,
            "source_ids": source_ids[i].tolist(),
            "tokens": [int(t) for t in ids if t not in (0, END_ID)],
            "translation": target.decode(ids),
        }
        for i, (text, ids) in enumerate(zip(TRANSLATION_SOURCES, tokens))
    ]
    path = os.path.join(out_dir, "translation.tflite")
    meta = translator.export_tflite(path, mode="float32")
    with open(meta) as f:
        metadata = json.load(f)
    metadata["task"]["expected"] = expected
    with open(meta, "w") as f:
        json.dump(metadata, f, indent=2)
    return [path, meta]


def build(out_dir):
    """Write every fixture model and its metadata into `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    keras.utils.set_random_seed(SEED)
    with tempfile.TemporaryDirectory() as work_dir:
        return (
            build_classifiers(out_dir, work_dir)
            + build_seq2seq(out_dir, work_dir)
            + build_node_classifier(out_dir, work_dir)
            + build_ntm_copy(out_dir, work_dir)
            + build_translation(out_dir, work_dir)
        )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m tests.edge_fixtures OUT_DIR")
    for written in build(sys.argv[1]):
        print(written)
