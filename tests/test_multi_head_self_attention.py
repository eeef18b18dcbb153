import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_attention import MultiHeadSelfAttention
from tests import harness

RNG = np.random.default_rng(0)
B, T, S, M, D, C = 2, 6, 5, 4, 16, 12


def _normal(*shape):
    return RNG.normal(size=shape).astype("float32")


def _lengths_mask(lengths, length):
    return np.arange(length)[None, :] < np.asarray(lengths)[:, None]


QUERY_MASK = _lengths_mask([6, 4], T)
CONTEXT_MASK = _lengths_mask([3, 5], S)
MEMORY_MASK = _lengths_mask([4, 2], M)[:, ::-1].copy()  # older slots empty

CASES = [
    harness.LayerCase(
        name="self",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(num_heads=4, key_dim=8),
        inputs={"query": _normal(B, T, D)},
        # 4 kernels of 16x32 / 32x16 and 4 biases of 32, 32, 32, 16
        trainable_weights=8,
        trainable_params=4 * 512 + 3 * 32 + 16,
    ),
    harness.LayerCase(
        name="causal_padded",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(num_heads=4, key_dim=8, dropout=0.1),
        inputs={"query": _normal(B, T, D)},
        call_kwargs={"use_causal_mask": True},
        masks={"query": QUERY_MASK},
        explicit_mask=lambda m: {
            "attention_mask": m["query"][:, :, None] & m["query"][:, None, :]
        },
        trainable_weights=8,
        trainable_params=4 * 512 + 3 * 32 + 16,
    ),
    harness.LayerCase(
        name="cross_scores",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(num_heads=4, key_dim=8, value_dim=6, output_dim=10),
        inputs={"query": _normal(B, T, D), "context": _normal(B, S, C)},
        call_kwargs={"return_attention_scores": True},
        masks={"context": CONTEXT_MASK},
        explicit_mask=lambda m: {
            "attention_mask": np.broadcast_to(m["context"][:, None, :], (B, T, S))
        },
        # query 16x4x8 + 32, key 12x4x8 + 32, value 12x4x6 + 24, output 4x6x10 + 10
        trainable_weights=8,
        trainable_params=512 + 32 + 384 + 32 + 288 + 24 + 240 + 10,
    ),
    harness.LayerCase(
        name="xl_memory_relative",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(num_heads=4, key_dim=8, relative_positions=True),
        inputs={"query": _normal(B, T, D), "memory": _normal(B, M, D)},
        call_kwargs={"use_causal_mask": True},
        masks={"memory": MEMORY_MASK},
        explicit_mask=lambda m: {"memory_mask": m["memory"]},
        # the plain layer plus W_R (16x4x8), u and v (4x8 each)
        trainable_weights=11,
        trainable_params=4 * 512 + 3 * 32 + 16 + 512 + 32 + 32,
    ),
    harness.LayerCase(
        name="no_bias",
        cls=MultiHeadSelfAttention,
        init_kwargs=dict(num_heads=2, key_dim=4, use_bias=False),
        inputs={"query": _normal(B, T, D)},
        trainable_weights=4,
        trainable_params=3 * 16 * 8 + 8 * 16,
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)
