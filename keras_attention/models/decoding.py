"""Batched, XLA-compiled greedy and beam-search decoding for the seq2seq models.

`beam_search` decodes with a model's own `encode` / `decode_step` functions
(the computation it exports; `_Seq2SeqModel._encode_in_keras`): the
Transformer's static-shape key/value cache and the RNNs' decoder state are
simply states, carried from step to step and reordered when beams swap.
The whole search for a batch is one `keras.ops.while_loop` with static
shapes: on the TensorFlow backend a `tf.function(jit_compile=True)`
compiled once per model, batch size and beam size; on JAX a `jax.jit` of
the same, with the model's variables as inputs; on PyTorch a Python loop.

Search (as in Wu et al. 2016, GNMT, and most toolkits since): each of the
`beam_size` hypotheses of a sentence is extended by every token, the
`beam_size` best by summed log-probability survive; a hypothesis that emits
the end token is finished and keeps its score (it is extended only by
padding, at no cost). The search stops when every hypothesis of every
sentence is finished, or after `target_length` steps. The answer is the
finished hypothesis (or, failing one, the best alive) with the best score
divided by the length penalty `((5 + length) / 6) ** length_penalty`,
`length` counting the end token; `length_penalty=0` ranks by raw
log-probability. `beam_size=1` is greedy decoding.

Shapes: `N` sentences, `B` a batch of them, `K` beam size, `S` source
length, `T` target length, `V` target vocabulary.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_attention.layers._validation import check_positive_int
from keras_attention.models._seq2seq_model import PAD_ID
from keras_attention.models._traced import traced

_NEGATIVE = -1e9  # a log-probability no real hypothesis reaches


def _length_penalty(length, alpha):
    return ops.power((5.0 + ops.cast(length, "float32")) / 6.0, alpha)


def _search(model, source, beam_size, alpha):
    """Beam search over `source` `[B, S]` (a traced function): ids `[B, T]`, scores `[B]`."""
    k, steps = beam_size, model.target_length
    batch = ops.shape(source)[0]
    flat = batch * k
    states = model._encode_in_keras(source)
    # Every state has the batch first: repeat each sentence's for its beams.
    states = {
        name: ops.repeat(value, k, axis=0) for name, value in states.items()
    }  # [B*K, ...]
    names = sorted(states)
    start = ops.full((flat, 1), model.start_id, "int32")
    # Only the first beam is alive at the start: the K copies are identical.
    scores = ops.tile(
        ops.convert_to_tensor([[0.0] + [_NEGATIVE] * (k - 1)], "float32"), (batch, 1)
    )  # [B, K]
    finished = ops.zeros((batch, k), "bool")
    lengths = ops.zeros((batch, k), "int32")
    tokens = ops.zeros((batch, k, steps), "int32")
    base = ops.reshape(ops.arange(batch, dtype="int32") * k, (batch, 1))  # [B, 1]

    def cond(step, token, scores, finished, lengths, tokens, *state_values):
        return ops.logical_and(step < steps, ops.logical_not(ops.all(finished)))

    def body(step, token, scores, finished, lengths, tokens, *state_values):
        current = dict(zip(names, state_values))
        out = model._decode_step(token, ops.reshape(step, (1,)), current)
        logits = ops.cast(ops.reshape(out["logits"], (batch, k, -1)), "float32")
        vocabulary = ops.shape(logits)[-1]
        log_probs = ops.log_softmax(logits, axis=-1)  # [B, K, V]
        # A finished hypothesis continues only with padding, at no cost.
        padding_only = ops.where(
            ops.arange(vocabulary)[None, None, :] == PAD_ID, 0.0, _NEGATIVE
        )  # [1, 1, V]
        log_probs = ops.where(finished[..., None], padding_only, log_probs)
        candidates = ops.reshape(scores[..., None] + log_probs, (batch, -1))  # [B, K*V]
        new_scores, index = ops.top_k(candidates, k)  # [B, K]
        index = ops.cast(index, "int32")
        parent = index // vocabulary  # [B, K]
        word = index % vocabulary  # [B, K]
        gather = ops.reshape(base + parent, (-1,))  # [B*K] rows of the parents

        was_finished = ops.take_along_axis(finished, parent, axis=1)
        word = ops.where(was_finished, PAD_ID, word)
        tokens = ops.take_along_axis(tokens, parent[..., None], axis=1)  # [B, K, T]
        position = ops.arange(steps, dtype="int32")[None, None, :] == step
        tokens = ops.where(position, word[..., None], tokens)
        lengths = ops.take_along_axis(lengths, parent, axis=1) + ops.cast(
            ops.logical_not(was_finished), "int32"
        )
        finished = ops.logical_or(was_finished, word == model.end_id)
        # What the step only reads (the encoder's memory) is the same for
        # every beam of a sentence: it needs no reordering.
        new_states = [
            ops.take(out[name], gather, axis=0) if name in out else current[name]
            for name in names
        ]
        next_token = ops.reshape(word, (flat, 1))
        return (step + 1, next_token, new_scores, finished, lengths, tokens, *new_states)

    loop = (ops.convert_to_tensor(0, "int32"), start, scores, finished, lengths, tokens)
    loop = loop + tuple(states[name] for name in names)
    _, _, scores, finished, lengths, tokens, *_ = ops.while_loop(cond, body, loop)
    normalized = scores / _length_penalty(ops.maximum(lengths, 1), alpha)
    # Prefer finished hypotheses; among them (or among the alive ones, when
    # none finished) the best normalized score.
    ranked = ops.where(finished, normalized, normalized + 2 * _NEGATIVE)
    best = ops.argmax(ranked, axis=1)[:, None]  # [B, 1]
    ids = ops.take_along_axis(tokens, ops.cast(best[..., None], "int32"), axis=1)[:, 0]
    return ids, ops.take_along_axis(normalized, ops.cast(best, "int32"), axis=1)[:, 0]


def _compiled(model, beam_size, length_penalty, batch_size):
    """The search as one XLA-compiled function, cached on the model."""
    cache = model.__dict__.setdefault("_beam_search_functions", {})
    key = (beam_size, float(length_penalty), batch_size)
    if key not in cache:

        def search(source):
            source = ops.convert_to_tensor(source, "int32")
            return _search(model, source, beam_size, float(length_penalty))

        tf_function_kwargs = {}
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            spec = tf.TensorSpec((batch_size, model.source_length), tf.int32)
            tf_function_kwargs = dict(input_signature=[spec], jit_compile=True)
        # On PyTorch `ops.while_loop` is a Python loop, run eagerly.
        cache[key] = traced(model, search, **tf_function_kwargs)
    return cache[key]


def beam_search(model, source_ids, beam_size=4, length_penalty=0.6, batch_size=64):
    """Translate `source_ids` with beam search: the best ids and their scores.

    Args:
        model: a `RNNSeq2Seq` or `TransformerSeq2Seq` (anything with their
            `_encode` / `_decode_step` convention).
        source_ids: int `[N, S]`, padded with 0 to `model.source_length`
            (`keras_attention.data.translation.pad_ids`).
        beam_size: hypotheses kept per sentence; 1 is greedy decoding.
        length_penalty: `alpha` of `((5 + length) / 6) ** alpha`; 0 ranks
            by log-probability alone, larger values favour longer output.
        batch_size: sentences searched together (the last batch is padded to
            it, so that one compiled function serves every batch).

    Returns:
        `(ids, scores)`: int32 `[N, T]`, each row's tokens up to and
        including its end token, then 0 (a row that never ended fills all
        `T`); float32 `[N]`, the chosen hypotheses' normalized
        log-probabilities.
    """
    source = model._check_source(source_ids)
    check_positive_int("beam_size", beam_size)
    check_positive_int("batch_size", batch_size)
    if (
        not isinstance(length_penalty, (int, float))
        or isinstance(length_penalty, bool)
        or not math.isfinite(length_penalty)
        or length_penalty < 0
    ):
        raise ValueError(
            "length_penalty must be a finite number >= 0, received "
            f"length_penalty={length_penalty!r}"
        )
    count = len(source)
    if count == 0:
        return (
            np.zeros((0, model.target_length), "int32"),
            np.zeros((0,), "float32"),
        )
    batch_size = min(batch_size, count)
    search = _compiled(model, beam_size, length_penalty, batch_size)
    ids, scores = [], []
    for i in range(0, count, batch_size):
        chunk = source[i : i + batch_size]
        rows = len(chunk)
        if rows < batch_size:  # pad with copies of a real row, dropped below
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], batch_size - rows, 0)])
        chunk_ids, chunk_scores = search(chunk)
        ids.append(ops.convert_to_numpy(chunk_ids)[:rows])
        scores.append(ops.convert_to_numpy(chunk_scores)[:rows])
    return np.concatenate(ids), np.concatenate(scores)


def greedy_search(model, source_ids, batch_size=64):
    """Compiled greedy decoding: `beam_search` with `beam_size=1`, ids only."""
    return beam_search(model, source_ids, beam_size=1, length_penalty=0.0,
                       batch_size=batch_size)[0]
