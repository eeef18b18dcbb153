"""Image classifiers on the device: `python -m edge_demo model.tflite --image
digit.png`, against Keras, and the clear errors for a bad image file."""

import json

import keras
import numpy as np
import pytest
from PIL import Image

import edge_demo
from edge_demo.__main__ import main as edge_main
from edge_demo.images import classify_image, read_image
from keras_attention.models.vision_models import (
    as_model_images,
    cnn_classifier,
    image_task_metadata,
    vit_classifier,
)
from keras_attention_export import Exporter

RNG = np.random.default_rng(0)
# Digit-like images: a bright stroke on black, so that the models' inputs
# look like MNIST's, in [0, 255].
PIXELS = np.zeros((6, 28, 28), np.uint8)
for i in range(6):
    PIXELS[i, 4 + i:24, 8 + 2 * i:12 + 2 * i] = 200 + 9 * i
PIXELS = np.maximum(PIXELS, RNG.integers(0, 40, PIXELS.shape).astype(np.uint8))


def _strokes(n, rng):
    """Images like PIXELS', for calibrating int8 on what it will see."""
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for image in images:
        top, left = rng.integers(2, 10), rng.integers(4, 20)
        image[top:top + rng.integers(12, 18), left:left + 4] = rng.integers(180, 256)
    return images


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A small ViT and CNN, each in float32 and int8, with Keras's logits."""
    folder = tmp_path_factory.mktemp("images")
    keras.utils.set_random_seed(0)
    models = {
        "vit": vit_classifier(num_blocks=1, hidden_dim=16, num_heads=2,
                              intermediate_dim=32, dropout=0.0),
        # Overlapping patches: the padding before the strided convolution
        # must reach the device too.
        "vit_overlap": vit_classifier(num_blocks=1, hidden_dim=16, num_heads=2,
                                      intermediate_dim=32, dropout=0.0, patch_kernel_size=8),
        # The hybrid: a stem of strided convolutions before the patches.
        "vit_hybrid": vit_classifier(num_blocks=1, hidden_dim=16, num_heads=2,
                                     intermediate_dim=32, dropout=0.0, stem_filters=(4, 8)),
        "cnn": cnn_classifier(filters=(4, 8), hidden_units=16, dropout=0.0),
    }
    calibration = as_model_images(np.concatenate([PIXELS, _strokes(58, RNG)]))
    found = {}
    for name, model in models.items():
        logits = keras.ops.convert_to_numpy(model(as_model_images(PIXELS)))
        with Exporter(model) as exporter:
            for mode in ("float32", "int8"):
                path = folder / f"{name}_{mode}.tflite"
                exporter.export_tflite(
                    str(path), mode=mode, task=image_task_metadata(),
                    representative_data=(
                        {"serving_default": {"images": calibration}}
                        if mode == "int8" else None),
                )
                found[name, mode] = (path, logits)
    return found


def _png(path, pixels, mode="L"):
    Image.fromarray(pixels, mode=None).convert(mode).save(path)
    return str(path)


@pytest.mark.parametrize("name", ["vit", "vit_overlap", "vit_hybrid", "cnn"])
def test_the_device_gives_keras_probabilities_from_a_png(exported, name, tmp_path):
    path, logits = exported[name, "float32"]
    model = edge_demo.load(str(path))
    for i, pixels in enumerate(PIXELS):
        png = _png(tmp_path / f"digit_{i}.png", pixels)
        found = classify_image(model, png)
        want = np.exp(logits[i] - logits[i].max())
        want /= want.sum()
        np.testing.assert_allclose(found.probabilities, want, atol=1e-5)
        assert found.label == str(int(np.argmax(logits[i])))


# The largest error of a probability in int8, above what was measured
# on these untrained models (CNN 0.0002, ViT 0.072: its layer norms and
# softmaxes lose more to int8 than convolutions do). bench/vision.py measures
# what that costs trained models in accuracy.
TOLERANCE = {"cnn": 0.002, "vit": 0.1, "vit_overlap": 0.1, "vit_hybrid": 0.1}


@pytest.mark.parametrize("name", ["vit", "vit_overlap", "vit_hybrid", "cnn"])
def test_int8_stays_near_float32(exported, name, tmp_path):
    path, logits = exported[name, "int8"]
    model = edge_demo.load(str(path))
    want = np.exp(logits - logits.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    got = np.stack([classify_image(model, p[..., None]).probabilities for p in PIXELS])
    assert np.abs(got - want).max() < TOLERANCE[name]
    assert not np.allclose(got, want, atol=1e-6)  # it really is quantized


def test_the_command_prints_the_label_and_its_latency(exported, tmp_path, capsys):
    path, logits = exported["cnn", "int8"]
    png = _png(tmp_path / "digit.png", PIXELS[2])
    assert edge_main([str(path), "--image", png, "--runs", "3"]) == 0
    out = capsys.readouterr().out
    assert f"input:   {png}" in out
    assert f"output:  {int(np.argmax(logits[2]))} (" in out
    assert "latency:" in out and "(3 runs, 1 thread(s))" in out


def test_an_rgb_file_is_read_as_grey(tmp_path):
    grey = _png(tmp_path / "grey.png", PIXELS[0])
    rgb = _png(tmp_path / "rgb.png", PIXELS[0], mode="RGB")
    np.testing.assert_array_equal(read_image(rgb, 28, 28, 1), read_image(grey, 28, 28, 1))


def _written(path, content):
    path.write_bytes(content)
    return str(path)


def _truncated(path):
    _png(path, PIXELS[0])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


@pytest.mark.parametrize("make,message", [
    (lambda d: str(d / "missing.png"), r"missing\.png: no such image file"),
    (lambda d: _written(d / "empty.png", b""),
     r"empty\.png: the image file is empty"),
    (lambda d: _written(d / "text.png", b"not an image"),
     r"text\.png: not an image file Pillow can read"),
    (lambda d: _truncated(d / "cut.png"), r"cut\.png: a corrupt or cut-short image"),
    (lambda d: _png(d / "big.png", np.zeros((30, 32), np.uint8)),
     r"big\.png: the image is 32x30 pixels \(width x height\); the model takes 28x28"),
])
def test_a_bad_image_file_is_named(exported, tmp_path, capsys, make, message):
    path, _ = exported["cnn", "float32"]
    image = make(tmp_path)
    with pytest.raises(edge_demo.EdgeModelError, match=message):
        classify_image(edge_demo.load(str(path)), image)
    # The command prints the same reason on one line and exits with 2.
    assert edge_main([str(path), "--image", image]) == 2
    assert "error: " in capsys.readouterr().err


def test_the_command_asks_for_an_image(exported, capsys):
    path, _ = exported["cnn", "float32"]
    assert edge_main([str(path)]) == 2
    assert "classifies images: give --image" in capsys.readouterr().err


@pytest.mark.parametrize("change,message", [
    (lambda task: task.update(pixel_scale=0), r"task\.pixel_scale must be a positive number"),
    (lambda task: task.update(pixel_scale="1/255"), r"task\.pixel_scale must be a positive number"),
    (lambda task: task.pop("pixel_scale"), r"task\.pixel_scale is missing"),
    (lambda task: task.update(labels=["a", "b"]), r"task\.labels must be 10 labels"),
])
def test_a_bad_task_is_refused_on_loading(exported, tmp_path, change, message):
    path, _ = exported["cnn", "float32"]
    metadata = json.loads(path.with_suffix(".json").read_text())
    change(metadata["task"])
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(metadata))
    with pytest.raises(edge_demo.EdgeModelError, match=message):
        edge_demo.load(str(path), str(changed))


def test_uint8_pixels_of_the_wrong_shape_are_refused(exported):
    path, _ = exported["cnn", "float32"]
    with pytest.raises(edge_demo.EdgeModelError, match=r"image must be uint8 pixels \[H, W, C\] = \[28, 28, 1\]"):
        classify_image(edge_demo.load(str(path)), PIXELS[0])
