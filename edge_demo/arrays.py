"""The generic task ("arrays" in the metadata): arrays in, arrays out.

Any model `keras-attention-export` wrote runs this way: each input by name,
real values, in one batch of the signature's shape or several batches in a
row; the outputs come back by name.
"""

import numpy as np

from edge_demo.contract import check_finite
from edge_demo.errors import EdgeModelError


def run_batches(model, signature, arrays):
    """Run `signature` on arrays that hold one or several of its batches.

    Each input's array has the signature's shape `[B, ...]`, or `[k * B,
    ...]` for `k` batches in a row (the same `k` for every input), e.g. a
    batch-1 signature run on 20 samples; the outputs of the `k` calls come
    back concatenated along the first axis.

    Args:
        model: an `EdgeModel`.
        signature: the signature's name.
        arrays: `{input name: array}`, real values as in `EdgeModel.run`.

    Returns:
        `(outputs by name, k)`.

    Raises:
        EdgeModelError: naming a missing or unknown input, an input whose
            shape or dtype does not fit, with what was expected, or one
            that holds NaN or an infinity, with its first index.
    """
    specs = {t["name"]: t for t in model.spec(signature)["inputs"]}
    where = f"{model.model_path}: signature {signature!r}"
    missing = sorted(set(specs) - set(arrays))
    extra = sorted(set(arrays) - set(specs))
    if missing or extra:
        problems = [f"lacks input(s) {missing}"] if missing else []
        problems += [f"was given unknown input(s) {extra}"] if extra else []
        raise EdgeModelError(
            f"{where} {' and '.join(problems)}; it takes {sorted(specs)}"
        )
    batches = {
        name: _batch_count(arrays[name], spec["shape"], f"{where} input {name!r}")
        for name, spec in specs.items()
    }
    if len(set(batches.values())) != 1:
        raise EdgeModelError(
            f"{where}: the inputs hold different numbers of batches "
            f"({', '.join(f'{n}: {k}' for n, k in sorted(batches.items()))})"
        )
    for name in sorted(specs):
        # Here, so that the index of a NaN is in the caller's array rather
        # than in one batch of it.
        check_finite(arrays[name], f"{where} input {name!r}")
    count = next(iter(batches.values()))
    if count == 1:
        return model.run(signature, **arrays), 1
    runs = []
    for i in range(count):
        batch = {}
        for name, spec in specs.items():
            size = spec["shape"][0]
            batch[name] = np.asarray(arrays[name])[i * size : (i + 1) * size]
        runs.append(model.run(signature, **batch))
    outputs = {name: np.concatenate([r[name] for r in runs]) for name in runs[0]}
    return outputs, count


def _batch_count(array, shape, where):
    """How many batches of `shape` `array` holds in a row along its first axis."""
    array = np.asarray(array)
    if list(array.shape) == shape:
        return 1
    if (
        shape
        and shape[0] > 0
        and list(array.shape[1:]) == shape[1:]
        and array.ndim == len(shape)
        and len(array) % shape[0] == 0
        and len(array) > 0
    ):
        return len(array) // shape[0]
    rows = f" or [k * {shape[0]}] + {shape[1:]} for k batches" if shape else ""
    raise EdgeModelError(
        f"{where}: expected shape {shape}{rows}, received {list(array.shape)}"
    )
