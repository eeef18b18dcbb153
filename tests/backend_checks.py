"""The library on one Keras backend: every layer check, every reference model.

    KERAS_BACKEND=jax python tests/backend_checks.py
    KERAS_BACKEND=torch python tests/backend_checks.py
    KERAS_BACKEND=tensorflow python tests/backend_checks.py
    KERAS_BACKEND=jax python tests/backend_checks.py -k decoder   # a subset

Three kinds of item, each run on the backend `KERAS_BACKEND` names (set it
before anything imports Keras):

- `layer`: every configuration (`CASES`) of the layer test modules, through
  every check of tests/harness.py but the TFLite one: config round trip,
  `.keras` save and reload, trainable weight counts, symbolic and eager
  calls, a `fit` step (compiled where the backend compiles: XLA on
  TensorFlow and JAX; PyTorch runs eagerly), mixed precision, implicit
  against explicit masks. The config round trip and the weight counts,
  which no backend changes, run on TensorFlow only.
- `unknown length`: the layers whose sequence length is commonly left
  `None` in a functional model, called at two lengths, compared with eager
  calls, and trained for a step.
- `model`: each reference model at a tiny size, a short `fit` on synthetic
  data, and a `.keras` save and reload that must give the same outputs; the
  seq2seq models also decode (greedy in Keras, `greedy_search`,
  `beam_search`).

It prints a PASS/FAIL table, the failures' tracebacks, and exits 1 if
anything failed. tests/test_backend_jax.py and test_backend_torch.py run it; the
TensorFlow backend runs the same checks in the main suite.

The layer configurations are the test modules' own `CASES`, so both sides
check the same thing. Those modules import TensorFlow for their
TensorFlow-only tests; nothing run here calls it.
"""

import argparse
import gc
import importlib
import os
import pathlib
import sys
import tempfile
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# Run as a script, Python puts tests/ on the path, not the repository root
# that `tests` (a folder, not an installed package) is imported from.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_attention.layers import (  # noqa: E402
    LearnedPositionalEmbedding,
    MultiHeadSelfAttention,
    SinusoidalPositionalEmbedding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
    TwoStreamRelativeAttention,
)
from keras_attention.models import (  # noqa: E402
    AttentiveCaptioner,
    RNNSeq2Seq,
    TransformerCaptioner,
    TransformerSeq2Seq,
    MaskedLM,
    TransformerXL,
    XLNetLM,
    beam_search,
    cnn_classifier,
    compile_task_model,
    gat_graph_classifier,
    gat_link_predictor,
    gat_node_classifier,
    gcn_graph_classifier,
    gcn_node_classifier,
    greedy_search,
    lstm_model,
    ntm_model,
    vit_classifier,
)
from tests import harness  # noqa: E402

LAYER_TEST_MODULES = [
    "test_positional_embeddings",
    "test_multi_head_self_attention",
    "test_transformer_blocks",
    "test_bahdanau_attention",
    "test_bahdanau_decoder_cell",
    "test_graph_attention",
    "test_graph_convolution",
    "test_graph_pooling",
    "test_ntm_cell",
    "test_two_stream_relative_attention",
    "test_patch_embedding",
    "test_memory_network",
]

RNG = np.random.default_rng(0)
CAPTION_VOCABULARY, CAPTION_LENGTH = 12, 6
JIT_COMPILE = keras.backend.backend() != "torch"

# Items known to fail on a backend, with the reason: shown as XFAIL, and
# as a failure (XPASS) once they pass, so that the entry gets removed.
# {backend: {item name: reason}}; none at present.
EXPECTED_FAILURES = {}


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


def _numpy(x):
    return [keras.ops.convert_to_numpy(t) for t in harness._as_list(x)]


def _assert_same(got, want, what, atol=harness.FLOAT32_ATOL):
    harness._assert_close(got, want, atol, what)


def _assert_trains(model, fit):
    """`fit()` gives a finite loss and moves every trainable weight."""
    before = _numpy(model.trainable_weights)
    loss = fit()
    assert np.isfinite(loss), f"loss {loss}"
    after = _numpy(model.trainable_weights)
    still = [
        w.path for w, a, b in zip(model.trainable_weights, after, before)
        if np.array_equal(a, b)
    ]
    assert not still, f"weights that did not move: {still}"


def _fit(model, x, y, sample_weight=None, batch_size=2):
    history = model.fit(
        x, y, sample_weight=sample_weight, batch_size=batch_size, epochs=1,
        shuffle=False, verbose=0,
    )
    return history.history["loss"][-1]


def _reloaded(model, tmp_path):
    path = tmp_path / "model.keras"
    model.save(path)
    return keras.saving.load_model(path)


# -- layers: the harness's checks on every test module's cases ------------------


# Checks of Python-side facts that no backend changes (a config's round
# trip; how many weights `build` makes, of which shapes): the TensorFlow run
# of the main suite makes them, and the other backends skip them.
BACKEND_FREE_CHECKS = (
    harness.check_config_round_trip,
    harness.check_trainable_weight_counts,
)


# Checks whose backend-specific part is the same for every case of a layer
# (saving writes and reads the variables `build` made; which variables, and
# the config, are backend-free facts the TensorFlow run checks per case):
# the other backends run them on each layer's first case only, which halves
# the save-and-reload items of the JAX run (about 15 s of its 160).
ONCE_PER_LAYER_CHECKS = (harness.check_save_and_reload,)


def layer_items():
    other_backend = keras.backend.backend() != "tensorflow"
    skipped = BACKEND_FREE_CHECKS if other_backend else ()
    done = set()
    for module_name in LAYER_TEST_MODULES:
        module = importlib.import_module(f"tests.{module_name}")
        for case in module.CASES:
            for check in harness.applicable_checks(case, tflite=False):
                if check in skipped:
                    continue
                if other_backend and check in ONCE_PER_LAYER_CHECKS:
                    if (case.cls, check) in done:
                        continue
                    done.add((case.cls, check))
                name = f"layer {case.cls.__name__}[{case.name}] {harness.check_name(check)}"
                yield name, (lambda tmp, case=case, check=check: check(case, tmp))


# -- unknown lengths -----------------------------------------------------------


def _unknown_length(layer, width, call, lengths=(5, 9), fit=True, masked=False):
    """A model over `[B, None, width]` at two lengths: as eager, and trainable.

    `call(layer, x)` calls the layer. With `masked`, a Keras mask from
    `Masking` (rows padded with zeros) goes with the input.
    """
    inputs = keras.Input((None, width), name="x")
    x = keras.layers.Masking(0.0)(inputs) if masked else inputs
    model = keras.Model(inputs, call(layer, x))
    for length in lengths:
        data = _normal(2, length, width)
        if masked:
            data[1, length - 2 :] = 0.0  # a padded tail
        eager_mask = np.any(data != 0.0, axis=-1) if masked else None
        want = _numpy(call(layer, keras.ops.convert_to_tensor(data), eager_mask))
        got = model.predict(data, verbose=0)
        _assert_same(got, want, f"length {length}: model vs eager")
    if fit and model.trainable_weights:
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse",
                      jit_compile=JIT_COMPILE)
        data = _normal(2, lengths[0], width)
        target = _normal(*model.predict(data, verbose=0).shape)
        _assert_trains(model, lambda: _fit(model, data, target))


def _plain_call(layer, x, mask=None, **kwargs):
    if mask is not None:
        kwargs["mask"] = keras.ops.convert_to_tensor(mask)
    return layer(x, **kwargs)


def unknown_length_items():
    yield "unknown length SinusoidalPositionalEmbedding", lambda tmp: _unknown_length(
        SinusoidalPositionalEmbedding(), 8, _plain_call
    )
    yield "unknown length SinusoidalPositionalEmbedding(max_length)", (
        lambda tmp: _unknown_length(
            SinusoidalPositionalEmbedding(max_length=16), 8,
            lambda layer, x, mask=None: layer(x, start_index=2),
        )
    )
    yield "unknown length LearnedPositionalEmbedding", lambda tmp: _unknown_length(
        LearnedPositionalEmbedding(16), 8,
        lambda layer, x, mask=None: layer(x, start_index=1),
    )
    yield "unknown length MultiHeadSelfAttention causal", lambda tmp: _unknown_length(
        MultiHeadSelfAttention(num_heads=2, key_dim=4), 8,
        lambda layer, x, mask=None: _plain_call(layer, x, mask, use_causal_mask=True),
        masked=True,
    )
    yield "unknown length TransformerEncoderBlock causal", lambda tmp: _unknown_length(
        TransformerEncoderBlock(intermediate_dim=16, num_heads=2), 8,
        lambda layer, x, mask=None: _plain_call(layer, x, mask, use_causal_mask=True),
        masked=True,
    )
    yield "unknown length TransformerDecoderBlock", _decoder_block_unknown_lengths
    yield "unknown length TwoStreamRelativeAttention", _two_stream_unknown_lengths
    yield "fused path MultiHeadSelfAttention", lambda tmp: importlib.import_module(
        "tests.test_multi_head_self_attention"
    ).check_fused_path()
    yield "online softmax blocks equal the plain path", _online_softmax_equals_plain
    yield "online softmax blocks drop what the plain path drops", _online_softmax_dropout


def _gradients(loss, arrays):
    """The gradients of the scalar `loss(*tensors)` with respect to each array,
    by the backend's own differentiation."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.grad(loss, argnums=tuple(range(len(arrays))))(*arrays)
    if backend == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        loss(*tensors).backward()
        return [t.grad for t in tensors]
    import tensorflow as tf

    tensors = [tf.constant(a) for a in arrays]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        value = loss(*tensors)
    return tape.gradient(value, tensors)


def _assert_same_attention(blocked, plain, inputs, target):
    """Outputs, and gradients of `sum(output * target)` for each input."""
    _assert_same(blocked(*inputs), plain(*inputs), "outputs")
    grads = [
        _gradients(lambda *t, f=f: keras.ops.sum(f(*t) * keras.ops.convert_to_tensor(target)),
                   list(inputs))
        for f in (blocked, plain)
    ]
    for got, want, name in zip(*grads, ("query", "key", "value")):
        _assert_same(got, want, f"d{name}", atol=1e-5)


def _online_softmax_equals_plain(tmp_path):
    """Outputs and gradients of the blocked path (this backend's loops and
    custom gradient) against the plain masked softmax, causal after a
    memory, padded, lengths that the blocks do not divide."""
    from keras_attention.layers._online_softmax import online_softmax_attention
    from tests.test_online_softmax import _plain

    query, key, value = _normal(2, 2, 7, 4), _normal(2, 2, 10, 4), _normal(2, 2, 10, 3)
    valid = np.ones((2, 10), bool)
    valid[0, :5] = False  # with the memory of 3: rows 0 and 1 of sequence 0 see nothing
    valid[1, 8:] = False
    target = _normal(2, 2, 7, 3)

    def blocked(q, k, v):
        return online_softmax_attention(q, k, v, valid, scale=0.5, causal=True,
                                        query_start=3, block_size=3)

    def plain(q, k, v):
        return _plain(q, k, v, valid, 0.5, True, 3)

    _assert_same_attention(blocked, plain, (query, key, value), target)


def _online_softmax_dropout(tmp_path):
    """With attention dropout, the blocked path (its mask drawn a block at a
    time, twice: forward and backward) against the plain softmax with the
    whole mask applied: outputs and gradients, on this backend's loops."""
    from keras_attention.layers import _masking as masks
    from keras_attention.layers._online_softmax import online_softmax_attention
    from keras_attention.layers._random import attention_keep

    query, key, value = _normal(2, 2, 7, 4), _normal(2, 2, 7, 4), _normal(2, 2, 7, 3)
    target = _normal(2, 2, 7, 3)
    seeds, rate = np.array([8, 21]), 0.3
    keep = attention_keep((2, 2, 7, 7), rate, seeds)

    def blocked(q, k, v):
        return online_softmax_attention(q, k, v, scale=0.5, causal=True, block_size=3,
                                        dropout=rate, dropout_seeds=seeds)

    def plain(q, k, v):
        scores = keras.ops.matmul(q, keras.ops.transpose(k, (0, 1, 3, 2))) * 0.5
        weights = masks.masked_softmax(scores, masks.causal_mask(7, 7, 0)[None, None])
        return keras.ops.matmul(keras.ops.where(keep, weights / (1 - rate), 0.0), v)

    _assert_same_attention(blocked, plain, (query, key, value), target)


def _decoder_block_unknown_lengths(tmp_path):
    """Decoder and encoder sequences both `None` long, padded encoder."""
    block = TransformerDecoderBlock(intermediate_dim=16, num_heads=2)
    x = keras.Input((None, 8), name="x")
    encoded = keras.Input((None, 8), name="encoded")
    padding = keras.Input((None,), dtype="bool", name="padding")
    model = keras.Model(
        [x, encoded, padding],
        block(x, encoder_sequence=encoded, encoder_padding_mask=padding),
    )
    for target_length, source_length in ((4, 6), (7, 3)):
        data = [
            _normal(2, target_length, 8),
            _normal(2, source_length, 8),
            np.arange(source_length)[None, :] < np.array([[source_length], [2]]),
        ]
        want = _numpy(block(*[keras.ops.convert_to_tensor(d) for d in data[:1]],
                            encoder_sequence=keras.ops.convert_to_tensor(data[1]),
                            encoder_padding_mask=keras.ops.convert_to_tensor(data[2])))
        got = model.predict(data, verbose=0)
        _assert_same(got, want, f"lengths {target_length}, {source_length}")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse",
                  jit_compile=JIT_COMPILE)
    target = _normal(2, 4, 8)
    data = [_normal(2, 4, 8), _normal(2, 6, 8), np.ones((2, 6), bool)]
    _assert_trains(model, lambda: _fit(model, data, target))


def _two_stream_unknown_lengths(tmp_path):
    """Segment, order and targets all `None` long, with memory."""
    layer = TwoStreamRelativeAttention(num_heads=2, key_dim=4)
    names = ("content", "query", "perm_mask", "targets", "memory")
    widths = ((None, 8), (None, 8), (None, None), (None, None), (None, 8))
    inputs = [keras.Input(w, name=n) for n, w in zip(names, widths)]

    def call(h, g, perm_mask, targets, memory):
        return layer(h, g, perm_mask, target_mapping=targets, memory=memory)

    model = keras.Model(inputs, list(call(*inputs)))

    def data(length, rows, memory_length):
        order = RNG.permutation(length)
        rank = np.argsort(order)
        blocked = (rank[None, :] >= rank[:, None]).astype("float32")
        targets = np.zeros((2, rows, length), "float32")
        targets[:, np.arange(rows), order[-rows:]] = 1.0
        return [_normal(2, length, 8), _normal(2, rows, 8),
                np.stack([blocked, blocked]), targets, _normal(2, memory_length, 8)]

    for length, rows, memory_length in ((5, 2, 3), (8, 3, 1)):
        arrays = data(length, rows, memory_length)
        want = _numpy(call(*[keras.ops.convert_to_tensor(a) for a in arrays]))
        got = model.predict(arrays, verbose=0)
        _assert_same(got, want, f"length {length}, {rows} targets, memory {memory_length}")
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse",
                  jit_compile=JIT_COMPILE)
    arrays = data(5, 2, 3)
    targets = [_normal(2, 5, 8), _normal(2, 2, 8)]
    _assert_trains(model, lambda: _fit(model, arrays, targets))


# -- reference models ------------------------------------------------------------

SOURCE_VOCABULARY, TARGET_VOCABULARY = 13, 11
SOURCE_LENGTH, TARGET_LENGTH = 7, 6


def _translation_data(count=4):
    source = RNG.integers(3, SOURCE_VOCABULARY, (count, SOURCE_LENGTH)).astype("int32")
    source[1, 4:] = 0  # a padded sentence
    targets = RNG.integers(3, TARGET_VOCABULARY, (count, TARGET_LENGTH)).astype("int32")
    targets[:, -1] = 2  # end token
    decoder_inputs = np.concatenate(
        [np.ones((count, 1), "int32"), targets[:, :-1]], axis=1
    )
    return {"source": source, "decoder_inputs": decoder_inputs}, targets


def _check_seq2seq(model, tmp_path, beam=True):
    inputs, targets = _translation_data()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=JIT_COMPILE,
    )
    _assert_trains(model, lambda: _fit(model, inputs, targets))
    # Shorter batches than the maxima: the inputs' lengths are `None`.
    short = {"source": inputs["source"][:, :5], "decoder_inputs": inputs["decoder_inputs"][:, :3]}
    assert model.predict(short, verbose=0).shape == (4, 3, TARGET_VOCABULARY)

    reloaded = _reloaded(model, tmp_path)
    _assert_same(reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0),
                 "reloaded", atol=0.0)

    decoded = model.greedy_decode(inputs["source"])
    assert decoded.shape == (4, TARGET_LENGTH), decoded.shape
    np.testing.assert_array_equal(greedy_search(model, inputs["source"]), decoded)
    if beam:
        ids, scores = beam_search(model, inputs["source"], beam_size=2, batch_size=3)
        assert ids.shape == (4, TARGET_LENGTH) and scores.shape == (4,)
        assert np.all(np.isfinite(scores)), scores
    # Last: it overwrites the weights.
    importlib.import_module("tests.test_seq2seq_models").check_decoding_reads_the_weights_now(
        model, inputs["source"]
    )


def _seq2seq_task():
    return dict(
        source_vocabulary_size=SOURCE_VOCABULARY,
        target_vocabulary_size=TARGET_VOCABULARY,
        source_length=SOURCE_LENGTH,
        target_length=TARGET_LENGTH,
    )


def _check_captioner(model, tmp_path):
    """A captioner fits to captions of 24 x 24 images; the reloaded model
    predicts the same; greedy decoding (the exported `encode` and
    `decode_step`) says what the teacher-forced model predicts from its own
    output; the attention is one distribution over the cells a word."""
    images = RNG.random((4, 24, 24, 1)).astype("float32")
    targets = RNG.integers(3, CAPTION_VOCABULARY, (4, CAPTION_LENGTH)).astype("int32")
    targets[:, -1] = 2  # end token
    targets[1, 3:] = 0  # a shorter caption
    decoder_inputs = np.concatenate([np.ones((4, 1), "int32"), targets[:, :-1]], axis=1)
    inputs = {"source": images, "decoder_inputs": decoder_inputs}
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=JIT_COMPILE,
    )
    _assert_trains(model, lambda: _fit(model, inputs, targets, (targets != 0).astype("float32")))
    reloaded = _reloaded(model, tmp_path)
    _assert_same(reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0),
                 "reloaded", atol=0.0)
    decoded = model.greedy_decode(images)
    assert decoded.shape == (4, CAPTION_LENGTH), decoded.shape
    forced = model.predict({"source": images, "decoder_inputs": model._decoder_inputs_of(decoded)},
                           verbose=0).argmax(-1)
    for row in range(4):
        ended = np.flatnonzero(decoded[row] == 2)  # up to and with the end token
        steps = ended[0] + 1 if len(ended) else CAPTION_LENGTH
        np.testing.assert_array_equal(forced[row, :steps], decoded[row, :steps])
    # [B, T, cells]; the Transformer's [B, blocks, heads, T, cells].
    weights = np.asarray(model.attention_weights(images, decoder_inputs))
    cells = int(np.prod(model.grid_shape))
    assert (weights.shape[0], *weights.shape[-2:]) == (4, CAPTION_LENGTH, cells), weights.shape
    _assert_same(weights.sum(axis=-1), np.ones(weights.shape[:-1]), "attention sums")


def _check_transformer_xl(tmp_path):
    model = TransformerXL(
        vocabulary_size=11, batch_size=2, memory_length=3, hidden_dim=8,
        num_heads=2, intermediate_dim=16, num_blocks=2, dropout=0.1,
    )
    tokens = RNG.integers(0, 11, (4, 5)).astype("int32")
    targets = RNG.integers(0, 11, (4, 5)).astype("int32")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=JIT_COMPILE,
    )
    _assert_trains(model, lambda: _fit(model, tokens, targets))
    filled = keras.ops.convert_to_numpy(model.memory_filled)
    assert filled.all(), f"the memory was not written: {filled}"
    # Saved with its memory: both continue the same texts alike.
    reloaded = _reloaded(model, tmp_path)
    _assert_same(reloaded.predict(tokens[:2], batch_size=2, verbose=0),
                 model.predict(tokens[:2], batch_size=2, verbose=0), "reloaded",
                 atol=0.0)


def _check_xlnet(tmp_path):
    from keras_attention.data.permutation_lm import permutation_lm_batch

    model = XLNetLM(vocabulary_size=11, hidden_dim=8, num_heads=2, intermediate_dim=16,
                    num_blocks=2, dropout=0.1)
    tokens = RNG.integers(0, 11, (4, 6)).astype("int32")
    batch = permutation_lm_batch(tokens, plm_probability=0.34, seed=0)
    inputs = {"token_ids": tokens, "perm_mask": batch["perm_mask"],
              "target_mapping": batch["target_mapping"]}
    _check_language_model(model, inputs, batch["target_ids"], batch["target_weights"],
                          tmp_path)
    # fill: the masks built in keras.ops equal gap_batch's numpy ones.
    from keras_attention.models.gap_filling import gap_logits

    padding = np.arange(6)[None] < np.array([[6], [6], [4], [5]])
    gap = (np.arange(6)[None] >= 1) & (np.arange(6)[None] < 3)
    want = gap_logits(model, tokens, 1, 2, padding)
    want = want - np.log(np.exp(want).sum(-1, keepdims=True))
    got = np.log(_numpy(model.fill(tokens, padding.astype("int32"), gap.astype("int32")))[0])
    _assert_same(got[:, 1:3], want, "fill")


def _check_masked_lm(tmp_path):
    from keras_attention.data.permutation_lm import masked_lm_batch

    model = MaskedLM(vocabulary_size=11, max_length=6, hidden_dim=8, num_heads=2,
                     intermediate_dim=16, num_blocks=2, dropout=0.1)
    tokens = RNG.integers(2, 11, (4, 6)).astype("int32")
    padding = np.arange(6)[None] < np.array([[6], [6], [4], [5]])
    batch = masked_lm_batch(tokens, 1, 11, padding, mask_selection_rate=0.3, seed=0)
    inputs = {"token_ids": batch["token_ids"], "padding_mask": padding,
              "mask_positions": batch["mask_positions"]}
    _check_language_model(model, inputs, batch["mask_ids"], batch["mask_weights"],
                          tmp_path)


def _check_language_model(model, inputs, targets, weights, tmp_path):
    """`fit` on targets weighted per row moves every weight; the reloaded
    model predicts the same."""
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=JIT_COMPILE,
    )
    _assert_trains(model, lambda: _fit(model, inputs, targets, weights))
    reloaded = _reloaded(model, tmp_path)
    _assert_same(reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0),
                 "reloaded", atol=0.0)


def _check_image_classifier(make, tmp_path):
    """A short `fit` of batches from `ImageBatches` (the augmentation runs on
    this backend too) moves every weight; the reloaded model predicts the
    same."""
    from keras_attention.models.vision_models import (
        ImageBatches, as_model_images, compile_image_classifier,
    )

    model = compile_image_classifier(make(), learning_rate=1e-2, total_steps=4,
                                     jit_compile=JIT_COMPILE)
    pixels = RNG.integers(0, 256, (8, 28, 28)).astype("uint8")
    labels = np.arange(8) % 10
    batches = ImageBatches(pixels, labels, batch_size=4, seed=0)
    _assert_trains(model, lambda: model.fit(batches, verbose=0).history["loss"][-1])
    images = as_model_images(pixels)
    reloaded = _reloaded(model, tmp_path)
    _assert_same(reloaded.predict(images, verbose=0), model.predict(images, verbose=0),
                 "reloaded", atol=0.0)


def _check_reader(reader, tmp_path, **kwargs):
    """A question-answering reader on generated bAbI stories: a short `fit`
    moves every weight and the reloaded model predicts the same; MemN2N's
    attention model gives weights that sum to 1 over the filled slots."""
    from keras_attention.data import babi
    from keras_attention.models import attention_model, compile_qa_model, qa_model

    samples = babi.samples_of(babi.generate_stories(2, 10, seed=0))
    vocabulary = babi.Vocabulary.from_samples(samples)
    arrays = babi.vectorize(samples, vocabulary, memory_size=12, sentence_length=7)
    inputs = {"story": arrays["story"], "question": arrays["question"]}
    model = compile_qa_model(
        qa_model(reader, vocabulary.size, len(vocabulary.answers), memory_size=12,
                 sentence_length=7, **kwargs),
        learning_rate=0.05, jit_compile=JIT_COMPILE)
    _assert_trains(model, lambda: _fit(model, inputs, arrays["answer"], batch_size=5))
    reloaded = _reloaded(model, tmp_path)
    _assert_same(reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0),
                 "reloaded", atol=0.0)
    if reader == "memn2n":
        _, weights = attention_model(reloaded).predict(inputs, verbose=0)
        filled = np.any(arrays["story"] != 0, axis=-1)[:, None, :]  # [B, 1, M]
        _assert_same(weights.sum(-1), np.ones(weights.shape[:2], "float32"), "weights")
        assert np.all(np.where(filled, 0.0, weights) == 0.0), "an empty slot was attended"


def _check_task_model(model, tmp_path):
    inputs = (RNG.random((4, 5, 3)) < 0.5).astype("float32")
    targets = (RNG.random((4, 5, 2)) < 0.5).astype("float32")
    weights = np.ones((4, 5), "float32")
    weights[:, :2] = 0.0  # the input phase
    compile_task_model(model, jit_compile=JIT_COMPILE)
    _assert_trains(model, lambda: _fit(model, inputs, targets, weights))
    reloaded = _reloaded(model, tmp_path)
    _assert_same(reloaded.predict(inputs, verbose=0), model.predict(inputs, verbose=0),
                 "reloaded", atol=0.0)


def _graph(num_nodes=6, num_features=4):
    nodes = _normal(num_nodes, num_features)
    # A ring in both directions, and one node (the last) with no edge in.
    senders = np.arange(num_nodes - 1)
    receivers = (senders + 1) % (num_nodes - 1)
    edges = np.stack([np.concatenate([senders, receivers]),
                      np.concatenate([receivers, senders])]).astype("int32")
    return nodes, edges


def _check_graph_model(model, inputs, targets, loss, tmp_path):
    """A whole-graph model: every input is one example, run as one batch."""
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss,
                  jit_compile=JIT_COMPILE)

    def fit():
        for _ in range(2):
            loss = model.train_on_batch(inputs, targets, return_dict=True)["loss"]
        return loss

    _assert_trains(model, fit)
    reloaded = _reloaded(model, tmp_path)
    _assert_same(reloaded.predict_on_batch(inputs), model.predict_on_batch(inputs),
                 "reloaded", atol=0.0)


def _node_classifier(build, mode, tmp_path):
    nodes, edges = _graph()
    model = build(num_features=4, num_classes=3, mode=mode)
    labels = np.array([0, 1, 2, 0, 1, 2], "int32")
    if mode == "sparse":
        inputs = [nodes, edges]
    else:
        adjacency = np.zeros((6, 6), "float32")
        adjacency[edges[1], edges[0]] = 1.0
        inputs, labels = [nodes[None], adjacency[None]], labels[None]
    _check_graph_model(
        model, inputs, labels,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True), tmp_path,
    )


def _link_predictor(tmp_path):
    nodes, edges = _graph()
    model = gat_link_predictor(4, hidden_units=2, num_heads=2, embedding_dim=4,
                               dropout=0.1)
    pairs = np.array([[0, 1, 2, 0], [1, 2, 4, 3]], "int32")
    labels = np.array([1, 1, 0, 0], "float32")
    _check_graph_model(model, [nodes, edges, pairs], labels,
                       keras.losses.BinaryCrossentropy(from_logits=True), tmp_path)


def _graph_classifier(make, readout, tmp_path):
    # Two graphs of 3 nodes, and the padding graph (id 2): one node.
    nodes, _ = _graph(num_nodes=7)
    edges = np.array([[0, 1, 2, 3, 4, 5, 6], [1, 2, 0, 4, 5, 3, 6]], "int32")
    graph_ids = np.array([0, 0, 0, 1, 1, 1, 2], "int32")
    extra = {"num_heads": 2} if make is gat_graph_classifier else {}
    model = make(4, 2, graphs_per_batch=2, hidden_units=4, num_layers=2, readout=readout,
                 **extra)
    _check_graph_model(
        model, [nodes, edges, graph_ids], np.array([0, 1], "int32"),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True), tmp_path,
    )


def model_items():
    yield "model AttentiveCaptioner", lambda tmp: _check_captioner(
        AttentiveCaptioner(CAPTION_VOCABULARY, CAPTION_LENGTH, image_shape=(24, 24, 1),
                           filters=(4, 8), units=8, embedding_dim=6, attention_units=8,
                           attention_penalty=0.5, dropout=0.1), tmp)
    yield "model TransformerCaptioner", lambda tmp: _check_captioner(
        TransformerCaptioner(CAPTION_VOCABULARY, CAPTION_LENGTH, image_shape=(24, 24, 1),
                             filters=(4, 8), hidden_dim=8, num_heads=2, intermediate_dim=16,
                             num_decoder_blocks=1, dropout=0.1), tmp)
    yield "model RNNSeq2Seq", lambda tmp: _check_seq2seq(
        RNNSeq2Seq(**_seq2seq_task(), units=8, embedding_dim=6, dropout=0.1), tmp,
        beam=False,
    )
    yield "model RNNSeq2Seq(attention, bidirectional)", lambda tmp: _check_seq2seq(
        RNNSeq2Seq(**_seq2seq_task(), units=8, embedding_dim=6, attention=True,
                   bidirectional=True, dropout=0.1),
        tmp,
    )
    for positions in ("sinusoidal", "learned"):
        yield f"model TransformerSeq2Seq({positions})", (
            lambda tmp, positions=positions: _check_seq2seq(
                TransformerSeq2Seq(**_seq2seq_task(), hidden_dim=8, num_heads=2,
                                   intermediate_dim=16, num_encoder_blocks=1,
                                   num_decoder_blocks=1, dropout=0.1,
                                   positions=positions),
                tmp,
                beam=positions == "sinusoidal",
            )
        )
    yield "model TransformerXL", _check_transformer_xl
    yield "model XLNetLM", _check_xlnet
    yield "model MaskedLM", _check_masked_lm
    yield "model ntm_model", lambda tmp: _check_task_model(
        ntm_model(3, 2, memory_size=8, memory_width=4, controller_units=8), tmp
    )
    yield "model ntm_model(dense controller)", lambda tmp: _check_task_model(
        ntm_model(3, 2, memory_size=8, memory_width=4, controller_units=8,
                  controller="dense", num_read_heads=2), tmp
    )
    yield "model lstm_model", lambda tmp: _check_task_model(
        lstm_model(3, 2, units=8, num_layers=2), tmp
    )
    for mode in ("sparse", "dense"):
        yield f"model gat_node_classifier({mode})", (
            lambda tmp, mode=mode: _node_classifier(
                lambda **kw: gat_node_classifier(hidden_units=2, num_heads=2,
                                                 dropout=0.1, **kw),
                mode, tmp,
            )
        )
        yield f"model gcn_node_classifier({mode})", (
            lambda tmp, mode=mode: _node_classifier(
                lambda **kw: gcn_node_classifier(hidden_units=4, dropout=0.1, **kw),
                mode, tmp,
            )
        )
    yield "model vit_classifier", lambda tmp: _check_image_classifier(
        lambda: vit_classifier(num_blocks=2, hidden_dim=16, num_heads=2,
                               intermediate_dim=32), tmp)
    yield "model vit_classifier(overlapping patches)", lambda tmp: _check_image_classifier(
        lambda: vit_classifier(num_blocks=1, hidden_dim=16, num_heads=2,
                               intermediate_dim=32, patch_kernel_size=(8, 6)), tmp)
    yield "model vit_classifier(convolutional stem)", lambda tmp: _check_image_classifier(
        lambda: vit_classifier(num_blocks=1, hidden_dim=16, num_heads=2,
                               intermediate_dim=32, stem_filters=(4, 8)), tmp)
    yield "model cnn_classifier", lambda tmp: _check_image_classifier(
        lambda: cnn_classifier(filters=(4, 8), hidden_units=8), tmp)
    yield "model gat_link_predictor", _link_predictor
    yield "model memn2n_model", lambda tmp: _check_reader("memn2n", tmp, hidden_dim=8,
                                                          num_hops=2)
    yield "model lstm_reader_model", lambda tmp: _check_reader("lstm", tmp, units=8,
                                                               embedding_dim=8)
    yield "model ntm_reader_model", lambda tmp: _check_reader(
        "ntm", tmp, embedding_dim=8, ntm_memory_size=6, memory_width=4, controller_units=8)
    for readout in ("attention", "mean"):
        yield f"model gat_graph_classifier({readout})", (
            lambda tmp, readout=readout: _graph_classifier(gat_graph_classifier, readout, tmp)
        )
    yield "model gcn_graph_classifier", lambda tmp: _graph_classifier(
        gcn_graph_classifier, "mean", tmp)


# -- runner ------------------------------------------------------------------------


def _run(name, item):
    keras.config.set_dtype_policy("float32")
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            item(pathlib.Path(tmp))
        error = None
    except Exception:  # noqa: BLE001 - every failure is reported, none hidden
        error = traceback.format_exc()
    finally:
        keras.config.set_dtype_policy("float32")
        # Without clear_session's full collection: a quarter of a second an
        # item (tests/conftest.py says more).
        keras.backend.clear_session(free_memory=False)
    return error, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-k", dest="select", action="append", default=[],
        help="run only the items whose name contains this (repeatable)",
    )
    args = parser.parse_args(argv)
    backend = keras.backend.backend()
    items = [*unknown_length_items(), *model_items(), *layer_items()]
    if args.select:
        items = [(n, f) for n, f in items if any(s in n for s in args.select)]
    if not items:
        parser.error(f"no item matches {args.select}")
    gc.freeze()  # the imports' objects, out of every later collection's way
    print(f"Keras {keras.__version__}, backend {backend}, "
          f"jit_compile={JIT_COMPILE}: {len(items)} items", flush=True)
    expected = EXPECTED_FAILURES.get(backend, {})
    failures, expected_failures = [], []
    total = time.perf_counter()
    for name, item in items:
        error, seconds = _run(name, item)
        if name in expected:
            status = "XFAIL" if error else "XPASS"
            if error:
                expected_failures.append(name)
            else:
                failures.append((name, f"passes now: remove it from EXPECTED_FAILURES\n"))
        else:
            status = "FAIL" if error else "PASS"
            if error:
                failures.append((name, error))
        print(f"{status:5}  {seconds:5.1f} s  {name}", flush=True)
    for name in expected_failures:
        print(f"\n=== XFAIL {name}: {expected[name]}")
    for name, error in failures:
        print(f"\n=== FAIL {name}\n{error}", end="")
    passed = len(items) - len(failures) - len(expected_failures)
    print(
        f"\n{backend}: {passed} passed, {len(expected_failures)} expected failures, "
        f"{len(failures)} failed in {time.perf_counter() - total:.0f} s"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
