"""Representative data for the integer modes, checked before conversion.

Accepted forms, per signature:
- a dict `{input name: array [N, ...]}`, or an array `[N, ...]` for a
  signature with one input, or a list of arrays in input order: sample `i`
  is rows `i * b : (i + 1) * b` of each, `b` the signature's batch size;
- a `tf.data.Dataset` or an iterable/generator (or a function returning
  one) whose elements are such dicts, lists or arrays of one sample each,
  with the batch axis.

With several signatures, pass `{signature name: data}` (also accepted with
one).

Every sample is checked before the converter sees it: its inputs by name,
shapes, dtypes, and values. Float values must be finite and at most
`MAX_MAGNITUDE` in absolute value; integer inputs must hold whole numbers
that fit their dtype. TF 2.21's converter kills the process (SIGSEGV) on
`inf`, and on finite values whose squares overflow float32, and it turns
all-NaN data into a float model that says it is int8.

`check_arrays` checks the `.npz` files of arrays by input name that the
command line takes (calibration and held-out data, read by
`export.arrays.read_npz`), naming the file and the array in every error.
"""

import itertools

import numpy as np

from keras_attention._tensorflow import import_tensorflow
from keras_attention_export.arrays import MAX_MAGNITUDE, read_npz, value_problem
from keras_attention_export.errors import CalibrationError

__all__ = [
    "MAX_MAGNITUDE",
    "check_arrays",
    "read_npz",
    "representative_dataset",
    "value_problem",
]

tf = import_tensorflow("keras_attention_export (LiteRT conversion)")


def _samples_from_arrays(data, specs, count):
    names = [spec.name for spec in specs]
    if isinstance(data, dict):
        arrays = data
    elif isinstance(data, (list, tuple)):
        arrays = dict(zip(names, data))
    else:
        arrays = {names[0]: data} if len(names) == 1 else None
    if arrays is None:
        raise CalibrationError(
            f"calibration data for inputs {names} must be a dict of arrays by "
            f"input name, received one {type(data).__name__}"
        )
    missing = [n for n in names if n not in arrays]
    if missing:
        raise CalibrationError(
            f"calibration data has no input {missing[0]!r}: expected arrays "
            f"named {names}, received {sorted(arrays)}"
        )
    # Sample i is rows i * b : (i + 1) * b of each input, b its leading
    # size in the signature (the batch; a graph's fixed node or edge count).
    leading = {spec.name: spec.shape[0] for spec in specs}
    values = {n: np.asarray(arrays[n]) for n in arrays}
    for n in names:
        if values[n].ndim == 0:
            raise CalibrationError(
                f"calibration input {n!r} must be an array with a first axis of "
                f"samples, received a scalar {values[n]!r}"
            )
    available = min(len(values[n]) // leading[n] for n in names)
    for i in range(min(count, available)):
        yield {
            n: v[i * leading.get(n, 1) : (i + 1) * leading.get(n, 1)]
            for n, v in values.items()
        }


def _samples(data, specs, count):
    if isinstance(data, (dict, list, tuple, np.ndarray)) and not (
        isinstance(data, (list, tuple)) and data and isinstance(data[0], dict)
    ):
        return list(_samples_from_arrays(data, specs, count))
    if isinstance(data, tf.data.Dataset):
        data = data.as_numpy_iterator()
    elif callable(data):
        data = data()
    names = [spec.name for spec in specs]
    samples = []
    for element in itertools.islice(iter(data), count):
        if isinstance(element, dict):
            samples.append(element)
        elif isinstance(element, (list, tuple)):
            samples.append(dict(zip(names, element)))
        else:
            samples.append({names[0]: element})
    return samples


def _real(value):
    """Whether `value`'s dtype is bool or a real number type (not complex,
    strings or objects)."""
    return value.dtype == bool or value.dtype.kind in "iuf"


def _check(sample, specs, where, index):
    for spec in specs:
        if spec.name not in sample:
            raise CalibrationError(
                f"calibration sample {index} for {where} has no input "
                f"{spec.name!r}; it has {sorted(sample)}"
            )
        value = np.asarray(sample[spec.name])
        if tuple(value.shape) != tuple(spec.shape):
            raise CalibrationError(
                f"calibration sample {index} for {where}: input {spec.name!r} must "
                f"have shape {tuple(spec.shape)}, received {tuple(value.shape)}"
            )
        if not _real(value):
            raise CalibrationError(
                f"calibration sample {index} for {where}: input {spec.name!r} must "
                f"be real numbers, received dtype {value.dtype}"
            )
        problem = value_problem(value, spec.dtype.as_numpy_dtype, MAX_MAGNITUDE)
        if problem:
            raise CalibrationError(
                f"calibration sample {index} for {where}: input {spec.name!r} "
                f"{problem[1]}"
            )
    extra = set(sample) - {spec.name for spec in specs}
    if extra:
        raise CalibrationError(
            f"calibration sample {index} for {where} has inputs the signature does "
            f"not take: {sorted(extra)}; it takes {[s.name for s in specs]}"
        )


def check_arrays(arrays, specs, source, bound=None):
    """Raise unless `arrays` (from `read_npz`) fit the inputs `specs`.

    Each input needs an array of its name, `[N * b, ...]` with `b` its
    leading size in the signature and the rest of its shape; every input the
    same number of samples `N >= 1`; real numbers whose values pass
    `value_problem` (with `bound` for float inputs); no array the signature
    does not take.

    Args:
        arrays: `{name: array}`.
        specs: the signature's `tf.TensorSpec`s.
        source: the file, named in every message.
        bound: the largest magnitude for float inputs (`MAX_MAGNITUDE` for
            calibration); None: what the input's dtype can hold.

    Returns:
        The number of samples.

    Raises:
        CalibrationError: naming `source`, the array and what was wrong.
    """
    names = [spec.name for spec in specs]
    missing = [n for n in names if n not in arrays]
    extra = sorted(set(arrays) - set(names))
    if missing or extra:
        raise CalibrationError(
            f"{source}: expected arrays named after the model's inputs {names}, "
            f"found {sorted(arrays)}"
            + (
                f" (no {missing[0]!r})"
                if missing
                else f" ({extra[0]!r} is not an input)"
            )
        )
    samples = {}
    for spec in specs:
        value, name = arrays[spec.name], spec.name
        leading, rest = spec.shape[0], tuple(spec.shape[1:])
        if not _real(value):
            raise CalibrationError(
                f"{source}: array {name!r} must hold real numbers, found dtype "
                f"{value.dtype}"
            )
        if value.ndim == 0 or tuple(value.shape[1:]) != rest or len(value) < leading:
            raise CalibrationError(
                f"{source}: array {name!r} must have shape (N * {leading}, "
                f"{', '.join(str(d) for d in rest)}) with N >= 1 samples of "
                f"input shape {tuple(spec.shape)}, found {tuple(value.shape)}"
            )
        if len(value) % leading:
            raise CalibrationError(
                f"{source}: array {name!r} has {len(value)} rows, not a multiple of "
                f"the input's leading size {leading}"
            )
        problem = value_problem(value, spec.dtype.as_numpy_dtype, bound)
        if problem:
            index, text = problem
            raise CalibrationError(
                f"{source}: array {name!r}, sample {index[0] // leading}, {text}"
            )
        samples[name] = len(value) // leading
    if len(set(samples.values())) > 1:
        counts = sorted(samples.items(), key=lambda item: item[1])
        (a, n_a), (b, n_b) = counts[0], counts[-1]
        raise CalibrationError(
            f"{source}: every array must hold the same number of samples, found "
            f"{n_a} in {a!r} and {n_b} in {b!r}"
        )
    return next(iter(samples.values()))


def representative_dataset(data, signature_specs, count):
    """A converter `representative_dataset` from `data`, checked up front.

    Args:
        data: see the module docstring.
        signature_specs: `{signature name: [tf.TensorSpec]}`.
        count: the number of calibration samples per signature.

    Returns:
        A function yielding `(signature name, {input: array})` pairs, every
        sample of the right shape and dtype.
    """
    if not isinstance(count, int) or count <= 0:
        raise CalibrationError(
            f"num_calibration_samples must be a positive int, received {count!r}"
        )
    if data is None:
        raise CalibrationError(
            "the int8 and int16x8 modes calibrate activation ranges on "
            "representative data: pass representative_data (arrays, a dict of "
            "arrays, a tf.data.Dataset or a generator), or use mode='dynamic'"
        )
    names = list(signature_specs)
    if len(names) > 1:
        if not isinstance(data, dict) or set(data) != set(names):
            raise CalibrationError(
                f"a model with signatures {names} needs representative_data as "
                f"{{signature name: data}} for each, received "
                f"{sorted(data) if isinstance(data, dict) else type(data).__name__}"
            )
        per_signature = data
    elif isinstance(data, dict) and set(data) == set(names):
        per_signature = data  # {signature name: data} with one signature
    else:
        per_signature = {names[0]: data}

    prepared = []
    for name in names:
        specs = signature_specs[name]
        samples = _samples(per_signature[name], specs, count)
        if not samples:
            raise CalibrationError(
                f"representative_data for signature {name!r} holds no sample"
            )
        for index, sample in enumerate(samples):
            _check(sample, specs, f"signature {name!r}", index)
        for sample in samples:
            prepared.append(
                (
                    name,
                    {
                        spec.name: np.asarray(sample[spec.name]).astype(
                            spec.dtype.as_numpy_dtype
                        )
                        for spec in specs
                    },
                )
            )

    def generate():
        for name, sample in prepared:
            # The converter takes (signature, inputs) pairs only when there
            # are several signatures; one signature takes the inputs alone.
            yield (name, sample) if len(names) > 1 else sample

    return generate
