"""Filling a gap: what XLNet's permutation buys (issue 18, item 4).

A span of tokens is hidden in each sequence and predicted, one token after
another, by three kinds of model, each as it can:

- `XLNetLM`: from the content of every other token, on both sides, and the
  gap's earlier tokens (the query stream at each hidden position,
  `gap_batch`);
- `TransformerXL` (left to right): from the tokens on its left only, the
  gap's earlier tokens included;
- `MaskedLM`: from both sides, with every hidden token replaced by the mask
  token, so the gap's tokens do not see one another.

`gap_logits` gives each model's logits at the hidden tokens and
`gap_scores` their token accuracy and perplexity.

Shapes: `B` sequences, `T` tokens, `L` the gap's length, `V` vocabulary.
"""

import numpy as np
from keras import ops

from keras_attention.data.permutation_lm import (
    gap_batch,
    gap_positions,
    sequence_lengths,
)
from keras_attention.models.masked_lm import MaskedLM
from keras_attention.models.transformer_xl import TransformerXL
from keras_attention.models.xlnet import XLNetLM

__all__ = ["gap_logits", "gap_scores"]


def gap_logits(model, token_ids, start, length, padding_mask=None, mask_token_id=None):
    """Logits `[B, L, V]` (float64) of each hidden token, as `model` fills the gap.

    Args:
        model: an `XLNetLM`, a `TransformerXL` (its memory is emptied first
            and left empty; the rows go through in chunks of its
            `batch_size`) or a `MaskedLM`.
        token_ids: int `[B, T]`.
        start: the gap's first position, an int or one per sequence `[B]`.
            For `TransformerXL` it must be at least 1 (a token to its left).
        length: `L`.
        padding_mask: optional bool `[B, T]`, true for real tokens.
        mask_token_id: the mask token, for a `MaskedLM`.
    """
    token_ids = np.asarray(token_ids, "int32")
    lengths = sequence_lengths(token_ids, padding_mask)
    padding = np.arange(token_ids.shape[1])[None] < lengths[:, None]  # [B, T]
    gaps = gap_positions(start, length, lengths)  # [B, L]
    if isinstance(model, XLNetLM):
        inputs = gap_batch(token_ids, start, length, padding)
        logits = model.predict({"token_ids": token_ids, "perm_mask": inputs["perm_mask"],
                                "target_mapping": inputs["target_mapping"]}, verbose=0)
    elif isinstance(model, MaskedLM):
        if mask_token_id is None:
            raise ValueError("a MaskedLM fills a gap with mask_token_id, received None")
        masked = token_ids.copy()
        np.put_along_axis(masked, gaps, mask_token_id, 1)
        logits = model.predict({"token_ids": masked, "padding_mask": padding,
                                "mask_positions": gaps.astype("int32")}, verbose=0)
    elif isinstance(model, TransformerXL):
        if (gaps[:, 0] < 1).any():
            raise ValueError(
                "a left-to-right model needs a token left of the gap: start must "
                f"be at least 1, received start={start}"
            )
        logits = _left_to_right_logits(model, token_ids)  # [B, T, V], next token
        logits = np.take_along_axis(logits, (gaps - 1)[..., None], 1)
    else:
        raise ValueError(
            "model must be an XLNetLM, a TransformerXL or a MaskedLM, received "
            f"{type(model).__name__}"
        )
    return np.asarray(logits, "float64")


def _left_to_right_logits(model, token_ids):
    """`[B, T, V]`: at `t`, the logits of token `t + 1`, chunk by chunk."""
    rows = model.batch_size
    count = len(token_ids)
    padded = np.concatenate(
        [token_ids, np.zeros((-count % rows, token_ids.shape[1]), "int32")])
    chunks = []
    for i in range(0, len(padded), rows):
        model.reset_memory()
        chunks.append(ops.convert_to_numpy(
            model(padded[i : i + rows], training=False, update_memory=False)))
    model.reset_memory()
    return np.concatenate(chunks)[:count]


def gap_scores(logits, target_ids):
    """`{"accuracy", "perplexity", "tokens"}` of logits `[B, L, V]` against
    the hidden tokens `[B, L]`: the share predicted by the argmax, and
    `exp` of the mean negative log-likelihood."""
    logits = np.asarray(logits, "float64")
    target_ids = np.asarray(target_ids)
    if logits.shape[:2] != target_ids.shape:
        raise ValueError(
            f"logits [B, L, V] and target_ids [B, L] must agree, received "
            f"logits.shape={logits.shape} and target_ids.shape={target_ids.shape}"
        )
    logits = logits - logits.max(-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, target_ids[..., None], -1)[..., 0]
    return {
        "accuracy": float((logits.argmax(-1) == target_ids).mean()),
        "perplexity": float(np.exp(-picked.mean())),
        "tokens": int(target_ids.size),
    }
