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
"""

import itertools

import numpy as np

from keras_attention._tensorflow import import_tensorflow
from keras_attention_export.errors import CalibrationError

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
    batch = specs[0].shape[0]
    available = min(len(np.asarray(arrays[n])) // batch for n in names)
    for i in range(min(count, available)):
        yield {n: np.asarray(arrays[n])[i * batch : (i + 1) * batch] for n in arrays}


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
        if not (np.issubdtype(value.dtype, np.number) or value.dtype == bool):
            raise CalibrationError(
                f"calibration sample {index} for {where}: input {spec.name!r} must "
                f"be numeric, received dtype {value.dtype}"
            )
    extra = set(sample) - {spec.name for spec in specs}
    if extra:
        raise CalibrationError(
            f"calibration sample {index} for {where} has inputs the signature does "
            f"not take: {sorted(extra)}; it takes {[s.name for s in specs]}"
        )


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
