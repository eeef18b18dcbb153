import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attention.layers.transformer_decoder_block import TransformerDecoderBlock
from keras_attention.layers.transformer_encoder_block import TransformerEncoderBlock
from tests import harness

RNG = np.random.default_rng(0)
# batch, target, source, features, encoder features, heads, hidden, cache length
B, T, S, D, C, H, F, S_MAX = 2, 5, 4, 16, 12, 4, 32, 7


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


INPUTS_MASK = harness.lengths_mask([5, 3], T)
ENCODER_MASK = harness.lengths_mask([4, 2], S)


def _pairs(query_mask, key_mask):
    return query_mask[:, :, None] & key_mask[:, None, :]


# Self-attention with K = D / H = 4: four 16x16 kernels, biases 16 + 16 + 16 + 16.
SELF_ATTENTION = 4 * 256 + 4 * 16
# Cross-attention: query and output 16x16, key and value 12x16, four biases of 16.
CROSS_ATTENTION = 2 * 256 + 2 * 192 + 4 * 16
# Dense 16 -> 32 and 32 -> 16 with biases.
FEEDFORWARD = (16 * 32 + 32) + (32 * 16 + 16)
LAYER_NORM = 2 * 16  # gamma and beta

CASES = [
    harness.LayerCase(
        name="encoder_post_ln_padded",
        cls=TransformerEncoderBlock,
        init_kwargs=dict(num_heads=H, intermediate_dim=F, dropout=0.1),
        inputs={"inputs": _normal(B, T, D)},
        masks={"inputs": INPUTS_MASK},
        explicit_mask=lambda m: {"attention_mask": _pairs(m["inputs"], m["inputs"])},
        # attention 8, two layer norms 2 each, two Dense 2 each
        trainable_weights=16,
        trainable_params=SELF_ATTENTION + 2 * LAYER_NORM + FEEDFORWARD,
    ),
    harness.LayerCase(
        name="encoder_pre_ln_causal_padded",
        cls=TransformerEncoderBlock,
        init_kwargs=dict(
            num_heads=H, intermediate_dim=F, key_dim=6, activation="gelu",
            normalize_first=True,
        ),
        inputs={"inputs": _normal(B, T, D)},
        call_kwargs={"use_causal_mask": True},
        masks={"inputs": INPUTS_MASK},
        explicit_mask=lambda m: {"attention_mask": _pairs(m["inputs"], m["inputs"])},
        # K = 6: query, key, value 16x4x6, output 4x6x16, biases 24, 24, 24, 16
        trainable_weights=16,
        trainable_params=4 * 384 + 3 * 24 + 16 + 2 * LAYER_NORM + FEEDFORWARD,
    ),
    harness.LayerCase(
        name="decoder_post_ln_cross_padded",
        cls=TransformerDecoderBlock,
        init_kwargs=dict(num_heads=H, intermediate_dim=F, dropout=0.1),
        inputs={"decoder_sequence": _normal(B, T, D), "encoder_sequence": _normal(B, S, C)},
        masks={"decoder_sequence": INPUTS_MASK, "encoder_sequence": ENCODER_MASK},
        explicit_mask=lambda m: {
            "decoder_attention_mask": _pairs(m["decoder_sequence"], m["decoder_sequence"]),
            "encoder_attention_mask": _pairs(m["decoder_sequence"], m["encoder_sequence"]),
        },
        # two attentions 8 each, three layer norms 2 each, two Dense 2 each
        trainable_weights=26,
        trainable_params=SELF_ATTENTION + CROSS_ATTENTION + 3 * LAYER_NORM
        + FEEDFORWARD,
    ),
    harness.LayerCase(
        name="decoder_pre_ln_cross_padded",
        cls=TransformerDecoderBlock,
        init_kwargs=dict(num_heads=H, intermediate_dim=F, normalize_first=True),
        inputs={"decoder_sequence": _normal(B, T, D), "encoder_sequence": _normal(B, S, C)},
        masks={"decoder_sequence": INPUTS_MASK, "encoder_sequence": ENCODER_MASK},
        explicit_mask=lambda m: {
            "decoder_attention_mask": _pairs(m["decoder_sequence"], m["decoder_sequence"]),
            "encoder_attention_mask": _pairs(m["decoder_sequence"], m["encoder_sequence"]),
        },
        trainable_weights=26,
        trainable_params=SELF_ATTENTION + CROSS_ATTENTION + 3 * LAYER_NORM
        + FEEDFORWARD,
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)


def test_decoder_step_converts_to_tflite(tmp_path):
    # One decoding step, caches and index as inputs: the body of an edge
    # runtime's generation loop. Not a harness case: the harness's fit step
    # differentiates through the cache write, and the TensorFlow backend's
    # keras.ops.slice_update (XlaDynamicUpdateSlice) has no gradient.
    block = TransformerDecoderBlock(F, H, normalize_first=True)
    block(_normal(B, T, D), _normal(B, S, C))
    specs = {
        "inputs": ((1, D), "float32"),
        "self_attention_cache": ((H, S_MAX, 2 * D // H), "float32"),
        "cross_attention_cache": ((H, S, 2 * D // H), "float32"),
        "encoder_padding_mask": ((S,), "bool"),
        "index": ((), "int32"),
    }
    inputs = {
        k: keras.Input(shape, batch_size=B, dtype=dtype, name=k)
        for k, (shape, dtype) in specs.items()
    }
    # KerasHub's return: outputs, new self-attention cache, cross cache
    # (unchanged, so not a model output).
    outputs = block(
        inputs["inputs"],
        self_attention_cache=inputs["self_attention_cache"],
        cross_attention_cache=inputs["cross_attention_cache"],
        encoder_padding_mask=inputs["encoder_padding_mask"],
        self_attention_cache_update_index=inputs["index"][0],
    )[:2]
    model = keras.Model(inputs, outputs)
    flatbuffer = harness.convert_to_tflite(model, tmp_path / "saved_model")
    for index in (0, 3):  # one flatbuffer, any step
        arrays = {
            "inputs": _normal(B, 1, D),
            "self_attention_cache": _normal(B, H, S_MAX, 2 * D // H),
            "cross_attention_cache": _normal(B, H, S, 2 * D // H),
            "encoder_padding_mask": ENCODER_MASK,
            "index": np.full((B,), index, "int32"),
        }
        expected = model.predict(arrays, verbose=0)
        results = harness.run_tflite(flatbuffer, arrays)
        assert len(results) == len(expected) == 2  # outputs and the new cache
        for got, want in zip(results, expected):
            np.testing.assert_allclose(got, want, atol=harness.FLOAT32_ATOL, rtol=0)


def _randomize(layer):
    """Random weights everywhere, so layer-norm scales and biases count too."""
    layer.set_weights(
        [RNG.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.weights]
    )


@pytest.mark.parametrize("normalize_first", [False, True], ids=["post_ln", "pre_ln"])
def test_encoder_matches_keras_reference(normalize_first):
    x = _normal(B, T, D)
    block = TransformerEncoderBlock(F, H, activation="gelu", normalize_first=normalize_first)
    block.build(x.shape)
    _randomize(block)
    got = np.asarray(block(x, mask=INPUTS_MASK))

    # The same block from Keras's layers, weights taken in the documented order.
    weights = block.get_weights()
    attention = keras.layers.MultiHeadAttention(num_heads=H, key_dim=D // H)
    attention.build(x.shape, x.shape)
    attention.set_weights(weights[0:8])
    norms = [keras.layers.LayerNormalization(epsilon=1e-5) for _ in range(2)]
    dense_1 = keras.layers.Dense(F, activation="gelu")
    dense_2 = keras.layers.Dense(D)
    for layer, params, shape in [
        (norms[0], weights[8:10], x.shape),
        (dense_1, weights[10:12], x.shape),
        (dense_2, weights[12:14], (B, T, F)),
        (norms[1], weights[14:16], x.shape),
    ]:
        layer.build(shape)
        layer.set_weights(params)

    def attend(h):
        return attention(h, h, attention_mask=INPUTS_MASK[:, None, :])

    def feedforward(h):
        return dense_2(dense_1(h))

    if normalize_first:
        h = x + attend(norms[0](x))
        want = h + feedforward(norms[1](h))
    else:
        h = norms[0](x + attend(x))
        want = norms[1](h + feedforward(h))
    # Padded queries: ours give a zero attention output, Keras's attend
    # uniformly to every key, so only the real positions are comparable.
    # Float32 with a different order of the same sums; outputs of order one.
    np.testing.assert_allclose(
        got[INPUTS_MASK], np.asarray(want)[INPUTS_MASK], atol=1e-5, rtol=0
    )


def test_encoder_output_keeps_the_mask():
    x = _normal(B, T, D) * INPUTS_MASK[..., None]
    block = TransformerEncoderBlock(F, H)
    inputs = keras.Input((T, D))
    # Masked average pooling only averages the real steps if the mask survives.
    pooled = keras.layers.GlobalAveragePooling1D()(
        block(keras.layers.Masking(0.0)(inputs))
    )
    got = keras.Model(inputs, pooled).predict(x, verbose=0)
    outputs = np.asarray(block(x, mask=INPUTS_MASK))
    want = (outputs * INPUTS_MASK[..., None]).sum(1) / INPUTS_MASK.sum(1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "normalize_first,with_encoder",
    [(False, True), (True, True), (False, False)],
    ids=["post_ln_cross", "pre_ln_cross", "post_ln_decoder_only"],
)
def test_decoder_step_by_step_equals_full_pass(normalize_first, with_encoder):
    x = _normal(B, T, D)
    encoded = _normal(B, S, C)
    block = TransformerDecoderBlock(F, H, normalize_first=normalize_first)
    encoder_kwargs = {}
    if with_encoder:
        encoder_kwargs = {
            "encoder_sequence": encoded,
            "encoder_padding_mask": ENCODER_MASK,
        }
    full = np.asarray(block(x, **encoder_kwargs))

    step_kwargs = {}
    if with_encoder:
        step_kwargs = {
            "cross_attention_cache": block.cross_attention_cache(encoded),
            "encoder_padding_mask": ENCODER_MASK,
        }

    def step(inputs, cache, index):
        # (outputs, cache), then the cross-attention cache with an encoder.
        return block(
            inputs, self_attention_cache=cache, self_attention_cache_update_index=index, **step_kwargs
        )[:2]

    # A cache longer than the sequence: the unfilled tail must not be attended.
    compiled = tf.function(step, jit_compile=True)
    for run, index_type in [(step, int), (compiled, tf.constant)]:
        cache = block.init_cache(B, S_MAX)
        outputs = []
        for t in range(T):
            y, cache = run(x[:, t : t + 1], cache, index_type(t))
            outputs.append(np.asarray(y))
        # The same float32 sums over a longer, partly masked key axis.
        np.testing.assert_allclose(np.concatenate(outputs, 1), full, atol=1e-5, rtol=0)
    assert compiled.experimental_get_tracing_count() == 1  # one trace, any index


def test_padded_encoder_positions_do_not_change_the_decoder():
    x = _normal(B, T, D)
    encoded = _normal(B, S, C)
    changed = np.where(ENCODER_MASK[..., None], encoded, 100.0 * _normal(B, S, C))
    block = TransformerDecoderBlock(F, H)

    def decode(encoder_outputs, encoder_padding_mask):
        full = block(x, encoder_outputs, encoder_padding_mask=encoder_padding_mask)
        first_step = block(
            x[:, :1],
            self_attention_cache=block.init_cache(B, T),
            cross_attention_cache=block.cross_attention_cache(encoder_outputs),
            self_attention_cache_update_index=0,
            encoder_padding_mask=encoder_padding_mask,
        )[0]
        return np.asarray(full), np.asarray(first_step)

    for original, perturbed in zip(
        decode(encoded, ENCODER_MASK), decode(changed, ENCODER_MASK)
    ):
        # Masked keys get exactly zero weight: not even rounding may differ.
        np.testing.assert_array_equal(perturbed, original)
    # Without the mask the same change shows, so the comparison can fail.
    unmasked = decode(encoded, None)[0]
    assert np.abs(decode(changed, None)[0] - unmasked).max() > 1e-2


@pytest.mark.parametrize("cls", [TransformerEncoderBlock, TransformerDecoderBlock])
@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(num_heads=0), "num_heads"),
        (dict(num_heads=2.0), "num_heads"),
        (dict(intermediate_dim=-1), "intermediate_dim"),
        (dict(key_dim=0), "key_dim"),
        (dict(dropout=1.0), "dropout"),
        (dict(dropout="0.1"), "dropout"),
        (dict(layer_norm_epsilon=0.0), "layer_norm_epsilon"),
        (dict(normalize_first="yes"), "normalize_first"),
        (dict(activation="no_such_activation"), "activation"),
        (dict(attention_block_size=-2), "attention_block_size"),
    ],
)
def test_bad_constructor_arguments(cls, kwargs, name):
    with pytest.raises(ValueError, match=f"{name}="):
        cls(**{"num_heads": H, "intermediate_dim": F, **kwargs})


@pytest.mark.parametrize("cls", [TransformerEncoderBlock, TransformerDecoderBlock])
def test_width_not_divisible_by_heads(cls):
    with pytest.raises(ValueError, match=r"inputs.shape=\(2, 5, 18\) and num_heads=4"):
        cls(F, H)(_normal(B, T, 18))
    # An explicit key_dim lifts the constraint.
    assert cls(F, H, key_dim=3)(_normal(B, T, 18)).shape == (B, T, 18)


def test_decoder_call_errors():
    decoder_only = TransformerDecoderBlock(F, H)
    decoder_only(_normal(B, T, D))
    with pytest.raises(ValueError, match="no cross-attention.*encoder_sequence.shape"):
        decoder_only(_normal(B, T, D), _normal(B, S, C))
    with pytest.raises(ValueError, match="cross_attention_cache needs a block"):
        decoder_only.cross_attention_cache(_normal(B, S, C))
    with pytest.raises(ValueError, match="self_attention_cache_update_index=None"):
        decoder_only(
            _normal(B, 1, D), self_attention_cache=decoder_only.init_cache(B, T)
        )
    with pytest.raises(ValueError, match="self_attention_cache_update_index=0 without a cache"):
        decoder_only(_normal(B, 1, D), self_attention_cache_update_index=0)

    with_cross = TransformerDecoderBlock(F, H)
    with_cross(_normal(B, T, D), _normal(B, S, C))
    with pytest.raises(ValueError, match="needs encoder_sequence or cross_attention"):
        with_cross(_normal(B, T, D))
    with pytest.raises(ValueError, match="init_cache needs a built block"):
        TransformerDecoderBlock(F, H).init_cache(B, T)


def test_decoder_returns_cross_attention_scores():
    block = TransformerDecoderBlock(num_heads=H, intermediate_dim=F)
    x, encoded = _normal(B, T, D), _normal(B, S, D)
    outputs, scores = block(
        x, encoder_sequence=encoded, encoder_padding_mask=ENCODER_MASK,
        return_attention_scores=True,
    )
    np.testing.assert_allclose(outputs, block(x, encoded, encoder_padding_mask=ENCODER_MASK), atol=1e-6)
    assert tuple(scores.shape) == (B, H, T, S)
    np.testing.assert_allclose(np.asarray(scores).sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(scores)[1][..., ~ENCODER_MASK[1]], 0.0)
    # With caches: outputs, scores, then KerasHub's two caches.
    step = block(
        x[:, :1], self_attention_cache=block.init_cache(B, S_MAX),
        cross_attention_cache=block.cross_attention_cache(encoded),
        encoder_padding_mask=ENCODER_MASK, self_attention_cache_update_index=0,
        return_attention_scores=True,
    )
    assert [tuple(t.shape) for t in step] == [
        (B, 1, D), (B, H, 1, S), (B, H, S_MAX, 2 * (D // H)), (B, H, S, 2 * (D // H))
    ]
    decoder_only = TransformerDecoderBlock(num_heads=H, intermediate_dim=F)
    decoder_only(x)
    with pytest.raises(ValueError, match="built without encoder_sequence"):
        decoder_only(x, return_attention_scores=True)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_blocks_in_attention_blocks_equal_the_plain_blocks(normalize_first):
    # A decoder block (causal self-attention, padded cross-attention) and an
    # encoder block whose attention runs in blocks of 4 with an online
    # softmax, against the same weights on the plain path.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 10, 8)).astype("float32")
    encoded = rng.normal(size=(2, 9, 8)).astype("float32")
    x_mask = np.array([[True] * 10, [True] * 6 + [False] * 4])
    encoded_mask = np.array([[True] * 9, [True] * 5 + [False] * 4])
    for cls, inputs, call in [
        (TransformerEncoderBlock, (x,), dict(padding_mask=x_mask, use_causal_mask=True)),
        (TransformerDecoderBlock, (x, encoded),
         dict(decoder_padding_mask=x_mask, encoder_padding_mask=encoded_mask)),
    ]:
        blocked, plain = (cls(intermediate_dim=16, num_heads=2, normalize_first=normalize_first,
                              attention_block_size=size) for size in (4, 0))
        want_config = blocked.get_config()
        assert want_config["attention_block_size"] == 4
        assert cls.from_config(want_config).attention_block_size == 4
        plain(*inputs, **call)
        blocked(*inputs, **call)
        blocked.set_weights(plain.get_weights())
        np.testing.assert_allclose(blocked(*inputs, **call), plain(*inputs, **call),
                                   atol=1e-5)


@pytest.mark.parametrize("cls", [TransformerEncoderBlock, TransformerDecoderBlock])
def test_attention_in_blocks_drops_what_the_plain_path_drops(cls):
    # With dropout in training, the blocks draw the same masks as the plain
    # path from the same seeds: the attention's (by row and column, a block
    # at a time) and the sublayers' (HashDropout).
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 10, 8)).astype("float32")
    inputs = (x,) if cls is TransformerEncoderBlock else (x, x[:, :7])
    twins = []
    for size in (4, 0):
        # Built from the same seed: the same weights and seed generators.
        keras.utils.set_random_seed(3)
        twins.append(cls(intermediate_dim=16, num_heads=2, dropout=0.3,
                         attention_block_size=size))
        twins[-1](*inputs)
    blocked, plain = twins
    got = keras.ops.convert_to_numpy(blocked(*inputs, training=True))
    want = keras.ops.convert_to_numpy(plain(*inputs, training=True))
    np.testing.assert_allclose(got, want, atol=1e-5)
    quiet = keras.ops.convert_to_numpy(plain(*inputs, training=False))
    assert np.abs(got - quiet).max() > 1e-2  # dropout was at work
