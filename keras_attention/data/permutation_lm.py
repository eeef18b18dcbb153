"""XLNet's permutation language-modelling inputs (Yang et al. 2019), and the
masked-LM inputs of its BERT baseline, in numpy.

`permutation_lm_batch` samples a factorization order for each sequence and
turns it into what `TwoStreamRelativeAttention` and the model read: the
permutation mask, the prediction targets' mapping, their ids and weights.

Partial prediction (section 2.3): only the last `1/K` of each order is
predicted, `K = 6` as in the paper (`plm_probability = 1/6`). As in XLNet's
released code (`_local_perm`) and Hugging Face's collator, the positions
that are not predicted form the context: they come first in the order, all
at the same place, so they see one another (both ways) and none of the
targets, and every target sees all of them. The targets follow, one after
another in a random order: a target sees the context and the targets before
it, never itself nor the ones after it.

Shapes: `B` sequences, `T` positions, `P` target rows (`num_predict`).

Example:

>>> batch = permutation_lm_batch(np.arange(12).reshape(1, 12), seed=0)
>>> batch["perm_mask"].shape, batch["target_mapping"].shape
((1, 12, 12), (1, 2, 12))
>>> int(batch["num_targets"][0])  # a sixth of 12
2
"""

import math

import numpy as np

__all__ = ["gap_batch", "gap_positions", "sequence_lengths", "masked_lm_batch", "permutation_lm_batch", "perm_mask_from_order"]


def perm_mask_from_order(order, num_targets, length):
    """The `[T, T]` permutation mask of one sequence, from its order.

    `order` `[T]` lists the positions: the `length - num_targets` context
    positions first, then the `num_targets` targets in their order, then the
    padding (positions `>= length`). `mask[i, j] = 1` when `i` may not attend
    to `j` (Hugging Face's and KerasHub's layout): `j` is a target that does
    not come before `i`, or `j` is padding.
    """
    order = np.asarray(order)
    size = len(order)
    context = length - num_targets
    rank = np.full(size, -1, "int64")  # the context shares the first place
    targets = order[context:length]
    rank[targets] = np.arange(num_targets)
    is_target = np.zeros(size, bool)
    is_target[targets] = True
    blocked = is_target[None, :] & (rank[None, :] >= rank[:, None])
    blocked[:, length:] = True
    return blocked.astype("float32")


def _checked_ids(token_ids):
    token_ids = np.asarray(token_ids)
    if token_ids.ndim != 2 or not np.issubdtype(token_ids.dtype, np.integer):
        raise ValueError(
            "token_ids must be integer ids [B, T], received "
            f"token_ids of shape {token_ids.shape} and dtype {token_ids.dtype}"
        )
    return token_ids


def sequence_lengths(token_ids, padding_mask=None):
    """`[B]` real lengths of `token_ids` `[B, T]`: `T` each without
    `padding_mask`, else its count of true values, checked to be a prefix of
    each row (the helpers here read a sequence as its first tokens)."""
    batch, size = np.shape(token_ids)
    if padding_mask is None:
        return np.full(batch, size)
    padding_mask = np.asarray(padding_mask, bool)
    if padding_mask.shape != (batch, size):
        raise ValueError(
            f"padding_mask must have token_ids' shape {(batch, size)}, "
            f"received padding_mask.shape={padding_mask.shape}"
        )
    lengths = padding_mask.sum(1)
    if not np.array_equal(padding_mask, np.arange(size)[None] < lengths[:, None]):
        raise ValueError("padding_mask must be true for a prefix of each row")
    return lengths


def _choose_targets(rng, length, count, max_span_length):
    """`count` distinct positions in `[0, length)`: single tokens, or whole
    spans of 1 to `max_span_length` tokens (the last one cut to fit)."""
    if max_span_length == 1:
        return rng.choice(length, size=count, replace=False)
    taken = np.zeros(length, bool)
    chosen = []
    while len(chosen) < count:
        span = int(rng.integers(1, max_span_length + 1))
        span = min(span, count - len(chosen))
        free = [s for s in range(length - span + 1) if not taken[s : s + span].any()]
        if not free:  # fragmented: fall back to a single free token
            span, free = 1, list(np.flatnonzero(~taken))
        start = int(rng.choice(free))
        taken[start : start + span] = True
        chosen.extend(range(start, start + span))
    return np.asarray(chosen)


def permutation_lm_batch(
    token_ids,
    padding_mask=None,
    plm_probability=1 / 6,
    max_span_length=1,
    num_predict=None,
    seed=None,
):
    """One batch of permutation-LM inputs, a fresh order per sequence.

    Args:
        token_ids: int `[B, T]`.
        padding_mask: optional bool `[B, T]`, true for real tokens (a
            prefix of each row); padding is never a target and nobody
            attends to it.
        plm_probability: `1/K`, the share of each sequence predicted:
            `round(length * plm_probability)` targets, at least 1.
        max_span_length: targets come in whole spans of 1 to this many
            tokens (1: single tokens, as the paper's main runs).
        num_predict: `P`, the target rows of every batch (a fixed shape for
            XLA); default `ceil(T * plm_probability)`. Rows beyond a
            sequence's targets have an all-zero mapping and weight 0.
        seed: an int, or a `numpy.random.Generator` to draw from.

    Returns:
        A dict of numpy arrays: `perm_mask` float32 `[B, T, T]`,
        `target_mapping` float32 `[B, P, T]` (one-hot rows, in the order the
        targets are predicted), `target_ids` int32 `[B, P]`,
        `target_weights` float32 `[B, P]` (1 for real targets), `order`
        int32 `[B, T]` and `num_targets` int32 `[B]` (what
        `perm_mask_from_order` rebuilds the mask from).
    """
    token_ids = _checked_ids(token_ids)
    batch, size = token_ids.shape
    lengths = sequence_lengths(token_ids, padding_mask)
    if not 0 < plm_probability <= 1:
        raise ValueError(
            f"plm_probability must be in (0, 1], received plm_probability={plm_probability!r}"
        )
    if isinstance(max_span_length, bool) or not isinstance(max_span_length, int) or (
        max_span_length < 1
    ):
        raise ValueError(
            "max_span_length must be an int >= 1, received "
            f"max_span_length={max_span_length!r}"
        )
    if num_predict is None:
        num_predict = max(1, math.ceil(size * plm_probability))
    if isinstance(num_predict, bool) or not isinstance(num_predict, int) or num_predict < 1:
        raise ValueError(
            f"num_predict must be an int >= 1, received num_predict={num_predict!r}"
        )
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    perm_mask = np.zeros((batch, size, size), "float32")
    target_mapping = np.zeros((batch, num_predict, size), "float32")
    target_ids = np.zeros((batch, num_predict), "int32")
    target_weights = np.zeros((batch, num_predict), "float32")
    orders = np.zeros((batch, size), "int32")
    counts = np.zeros(batch, "int32")
    for b, length in enumerate(lengths):
        length = int(length)
        if length == 0:  # an empty row: no target, nothing to see
            orders[b] = np.arange(size)
            perm_mask[b] = perm_mask_from_order(orders[b], 0, 0)
            continue
        count = min(num_predict, length, max(1, round(length * plm_probability)))
        targets = rng.permutation(_choose_targets(rng, length, count, max_span_length))
        context = np.setdiff1d(np.arange(length), targets)
        orders[b] = np.concatenate([context, targets, np.arange(length, size)])
        counts[b] = count
        perm_mask[b] = perm_mask_from_order(orders[b], count, length)
        target_mapping[b, np.arange(count), targets] = 1.0
        target_ids[b, :count] = token_ids[b, targets]
        target_weights[b, :count] = 1.0
    return {
        "perm_mask": perm_mask,
        "target_mapping": target_mapping,
        "target_ids": target_ids,
        "target_weights": target_weights,
        "order": orders,
        "num_targets": counts,
    }


def gap_positions(start, length, lengths):
    """`[B, length]` gap positions, checked to lie inside each sequence.

    `start` is an int or one per sequence `[B]`; `lengths` `[B]` are the
    sequences' real lengths.
    """
    lengths = np.asarray(lengths)
    starts = np.broadcast_to(np.asarray(start), lengths.shape)
    if length < 1 or (starts < 0).any() or (starts + length > lengths).any():
        raise ValueError(
            f"the gap (start={start}, length={length}) must lie inside every "
            f"sequence's tokens, received sequences of lengths {sorted(set(lengths.tolist()))}"
        )
    return starts[:, None] + np.arange(length)[None, :]


def gap_batch(token_ids, start, length, padding_mask=None):
    """The inputs that fill a gap: positions `start .. start + length - 1`
    of each sequence are the targets, predicted left to right, and every
    other real token is context.

    So a target sees the context on both sides of the gap and the gap's
    tokens before it, never itself or the ones after it: how XLNet fills a
    gap (issue 18's gap task), in `permutation_lm_batch`'s format with `P =
    length` rows.

    Args:
        token_ids: int `[B, T]`.
        start: the gap's first position, an int or one per sequence `[B]`.
        length: the gap's length; it must lie inside every sequence's
            real tokens.
        padding_mask: optional bool `[B, T]`, true for real tokens.

    Returns:
        The dict of `permutation_lm_batch`.
    """
    token_ids = _checked_ids(token_ids)
    batch, size = token_ids.shape
    lengths = sequence_lengths(token_ids, padding_mask)
    gaps = gap_positions(start, length, lengths)  # [B, length]
    perm_mask = np.zeros((batch, size, size), "float32")
    orders = np.zeros((batch, size), "int32")
    target_mapping = np.zeros((batch, length, size), "float32")
    for b, (real, gap) in enumerate(zip(lengths, gaps)):
        context = np.setdiff1d(np.arange(real), gap)
        orders[b] = np.concatenate([context, gap, np.arange(real, size)])
        perm_mask[b] = perm_mask_from_order(orders[b], length, int(real))
        target_mapping[b, np.arange(length), gap] = 1.0
    return {
        "perm_mask": perm_mask,
        "target_mapping": target_mapping,
        "target_ids": np.take_along_axis(token_ids, gaps, 1).astype("int32"),
        "target_weights": np.ones((batch, length), "float32"),
        "order": orders,
        "num_targets": np.full(batch, length, "int32"),
    }


def masked_lm_batch(
    token_ids,
    mask_token_id,
    vocabulary_size,
    padding_mask=None,
    mask_selection_rate=0.15,
    mask_token_rate=0.8,
    random_token_rate=0.1,
    mask_selection_length=None,
    seed=None,
):
    """BERT's masked-LM inputs (Devlin et al. 2019), the permutation LM's
    baseline: names and outputs as KerasHub's `MaskedLMMaskGenerator`.

    Each real token is selected with probability `mask_selection_rate`
    (at least one per sequence); a selected token becomes the mask token
    (`mask_token_rate`), a random token (`random_token_rate`) or stays as it
    is (the rest: 80/10/10 by default), and the model predicts the original.

    Args:
        token_ids: int `[B, T]`.
        mask_token_id: the id of the mask token.
        vocabulary_size: random replacements are drawn from `[0, V)`.
        padding_mask: optional bool `[B, T]`, true for real tokens (a prefix).
        mask_selection_rate, mask_token_rate, random_token_rate: as above.
        mask_selection_length: `P`, the rows of every batch; default
            `ceil(T * mask_selection_rate)`. A sequence never gets more.
        seed: an int, or a `numpy.random.Generator` to draw from.

    Returns:
        A dict of numpy arrays: `token_ids` int32 `[B, T]` (corrupted),
        `mask_positions` int32 `[B, P]`, `mask_ids` int32 `[B, P]` (the
        original tokens), `mask_weights` float32 `[B, P]` (1 for real rows).
    """
    token_ids = _checked_ids(token_ids)
    batch, size = token_ids.shape
    lengths = sequence_lengths(token_ids, padding_mask)
    for name, rate in (("mask_selection_rate", mask_selection_rate),
                       ("mask_token_rate", mask_token_rate),
                       ("random_token_rate", random_token_rate)):
        if not 0 <= rate <= 1:
            raise ValueError(f"{name} must be in [0, 1], received {name}={rate!r}")
    if mask_token_rate + random_token_rate > 1:
        raise ValueError(
            "mask_token_rate + random_token_rate must be at most 1, received "
            f"{mask_token_rate} + {random_token_rate}"
        )
    if mask_selection_length is None:
        mask_selection_length = max(1, math.ceil(size * mask_selection_rate))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    corrupted = token_ids.astype("int32").copy()
    positions = np.zeros((batch, mask_selection_length), "int32")
    ids = np.zeros((batch, mask_selection_length), "int32")
    weights = np.zeros((batch, mask_selection_length), "float32")
    for b, length in enumerate(lengths):
        length = int(length)
        if length == 0:
            continue
        chosen = np.flatnonzero(rng.random(length) < mask_selection_rate)
        if len(chosen) == 0:
            chosen = rng.choice(length, size=1)
        chosen = np.sort(rng.permutation(chosen)[:mask_selection_length])
        count = len(chosen)
        positions[b, :count], ids[b, :count], weights[b, :count] = (
            chosen, token_ids[b, chosen], 1.0)
        draw = rng.random(count)
        to_mask = draw < mask_token_rate
        to_random = (draw >= mask_token_rate) & (draw < mask_token_rate + random_token_rate)
        corrupted[b, chosen[to_mask]] = mask_token_id
        corrupted[b, chosen[to_random]] = rng.integers(0, vocabulary_size, to_random.sum())
    return {"token_ids": corrupted, "mask_positions": positions, "mask_ids": ids,
            "mask_weights": weights}
