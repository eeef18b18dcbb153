"""Images on the device: a classifier's label, a captioner's caption.

A model of task kind `"image_classification"` (`vit_classifier` and
`cnn_classifier` exported with the task of
`keras_attention.models.image_task_metadata`) has one signature: `images` `[1, H, W, C]`, float32 in `[0, 1]`, in; logits
`[1, K]` out. Its task names the labels and the pixel scale (1/255: an
8-bit PNG's bytes to the model's range).

A model of task kind `"captioning"` (`AttentiveCaptioner` and
`TransformerCaptioner`, exported with the task of
`keras_attention.models.caption_task_metadata`) has the `encode` /
`decode_step` signatures of `edge_demo.seq2seq`, with one image `[1, H, W,
C]` as `encode`'s `source`; its task names the caption's words and the
pixel scale. `caption_image` decodes it greedily.

An image is read with Pillow, which installs without TensorFlow: PNG, and
any format Pillow reads. It is converted to grey (C = 1) or RGB (C = 3) and
must already be the size the model takes; nothing is resized, since a
digit scaled from another size is not what the model learned, and a wrong
file should be named rather than quietly squeezed.
"""

import dataclasses
import os
import time

import numpy as np

from edge_demo.errors import EdgeModelError

# Pillow's conversion for each channel count the models take.
MODES = {1: "L", 3: "RGB"}


@dataclasses.dataclass
class Classified:
    """What `classify_image` returns.

    Attributes:
        label: the most likely class's label.
        probability: its softmax probability.
        probabilities: float32 `[K]`, every class's.
        call_ms: the time of the model's call.
    """

    label: str
    probability: float
    probabilities: np.ndarray
    call_ms: float


def read_image(path, height, width, channels):
    """The pixels of the image file `path`: uint8 `[height, width, channels]`.

    Raises:
        EdgeModelError: naming `path`: missing, empty, not an image Pillow
            can read (a corrupt or cut-short file), or not `width x height`
            pixels.
    """
    from PIL import Image, UnidentifiedImageError

    if channels not in MODES:
        raise EdgeModelError(
            f"the model takes {channels} channels; images are read as grey (1) or RGB (3)")
    if not os.path.isfile(path):
        raise EdgeModelError(f"{path}: no such image file")
    if os.path.getsize(path) == 0:
        raise EdgeModelError(f"{path}: the image file is empty")
    try:
        with Image.open(path) as image:
            # `load` decodes every pixel: a cut-short or corrupt file fails
            # here, not later as a half-grey image.
            image.load()
            size = image.size
            pixels = np.asarray(image.convert(MODES[channels]), dtype=np.uint8)
    except UnidentifiedImageError:
        raise EdgeModelError(
            f"{path}: not an image file Pillow can read (PNG, JPEG, ...)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        reason = " ".join(str(error).split())
        raise EdgeModelError(f"{path}: a corrupt or cut-short image ({reason})") from None
    if size != (width, height):
        raise EdgeModelError(
            f"{path}: the image is {size[0]}x{size[1]} pixels (width x height); the "
            f"model takes {width}x{height}, and images are not resized"
        )
    return pixels.reshape(height, width, channels)


def image_shape(model, name=None):
    """`(height, width, channels)` of the image the signature `name` takes
    (default: the classifier's)."""
    spec = model.spec(name or signature(model))
    shape = spec["inputs"][0]["shape"]
    return tuple(shape[1:4])


def _pixels(model, image, name=None):
    """uint8 `[H, W, C]` of a file's path or of pixels, checked."""
    height, width, channels = image_shape(model, name)
    if isinstance(image, (str, os.PathLike)):
        return read_image(os.fspath(image), height, width, channels)
    pixels = np.asarray(image)
    if pixels.dtype != np.uint8 or pixels.shape != (height, width, channels):
        raise EdgeModelError(
            f"image must be uint8 pixels [H, W, C] = [{height}, {width}, "
            f"{channels}], received {pixels.dtype.name} {list(pixels.shape)}"
        )
    return pixels


@dataclasses.dataclass
class Captioned:
    """What `caption_image` returns.

    Attributes:
        caption: the words, joined by spaces.
        ids: the generated ids, without start and end.
        encode_ms: the `encode` call's time.
        step_ms: each `decode_step` call's time.
    """

    caption: str
    ids: list
    encode_ms: float
    step_ms: list


def caption_image(model, image, max_length=None):
    """Caption one image (a file's path, or uint8 pixels `[H, W, C]`):
    scaled by the task's `pixel_scale`, encoded once, then decoded greedily
    (`edge_demo.seq2seq.greedy_decode`) into the task's `vocabulary`."""
    from edge_demo.seq2seq import greedy_decode

    pixels = _pixels(model, image, "encode")
    scaled = pixels[None].astype(np.float32) * np.float32(model.task["pixel_scale"])
    decoded = greedy_decode(model, scaled, max_length)  # [1, H, W, C] as the source
    words = model.task["vocabulary"]
    ids = decoded.tokens[0]
    return Captioned(" ".join(words[i] for i in ids), ids, decoded.encode_ms,
                     decoded.step_ms)


def signature(model):
    return model.task.get("signature") or model.default_signature


def classify_image(model, image):
    """Classify one image: a file's path, or uint8 pixels `[H, W, C]`.

    The pixels are scaled by the task's `pixel_scale` into the model's range,
    the signature runs once, and its logits become probabilities by a
    softmax.
    """
    pixels = _pixels(model, image)
    name = signature(model)
    spec = model.spec(name)
    scaled = pixels[None].astype(np.float32) * np.float32(model.task["pixel_scale"])
    inputs = {spec["inputs"][0]["name"]: scaled}  # [1, H, W, C]
    start = time.perf_counter()
    outputs = model.run(name, **inputs)
    call_ms = (time.perf_counter() - start) * 1000
    logits = np.asarray(outputs[spec["outputs"][0]["name"]], np.float64).reshape(-1)
    shifted = np.exp(logits - logits.max())
    probabilities = (shifted / shifted.sum()).astype(np.float32)
    best = int(np.argmax(probabilities))
    return Classified(
        label=model.task["labels"][best],
        probability=float(probabilities[best]),
        probabilities=probabilities,
        call_ms=call_ms,
    )
