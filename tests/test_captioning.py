import keras
import numpy as np
import pytest
from keras import ops
from PIL import Image

import edge_demo
from edge_demo.__main__ import main as edge_main
from edge_demo.images import caption_image
from keras_attention.data.scenes import WORDS, caption_ids, ids_to_caption
from keras_attention.models.captioning import (
    AttentiveCaptioner,
    TransformerCaptioner,
    caption_task_metadata,
)
from keras_attention_export import Exporter

RNG = np.random.default_rng(0)
SHAPE = (32, 32, 1)
T = 12
CAPTIONS = ["a 7 at top left and an 8 at bottom right", "a 1 at top right"]


def _attentive(**kwargs):
    return AttentiveCaptioner(len(WORDS), T, image_shape=SHAPE, filters=(4, 8), units=16,
                              embedding_dim=8, attention_units=8, **kwargs)


def _transformer(**kwargs):
    return TransformerCaptioner(len(WORDS), T, image_shape=SHAPE, filters=(4, 8),
                                hidden_dim=16, num_heads=2, intermediate_dim=32, **kwargs)


MAKERS = {"attentive": _attentive,
          "attentive_hard": lambda **kwargs: _attentive(hard_attention=True, **kwargs),
          "transformer": _transformer}
# For fitting two captions: the penalty's floor (about 50 here, with 64
# cells and 12 steps) would hide the cross-entropy's fall.
FITTED = {"attentive": lambda: _attentive(attention_penalty=0.0), "transformer": _transformer}
LEARNING_RATES = {"attentive": 1e-2, "transformer": 3e-3}


def _batch():
    # Two scenes a small model tells apart quickly: faint noise, and a bright
    # block where each caption's first digit is (top left, top right).
    images = RNG.uniform(0, 0.2, (2, *SHAPE)).astype("float32")
    images[0, 2:14, 2:12] = 0.9
    images[1, 2:14, 20:30] = 0.9
    ids = caption_ids(CAPTIONS, length=T + 1)
    return images, ids[:, :-1]  # decoder inputs: start, then the words


@pytest.mark.parametrize("name", list(MAKERS))
def test_stepwise_decoding_gives_the_teacher_forced_logits(name):
    # The exported decode_step and the trained graph are the same model:
    # fed the same tokens one at a time, every step's logits match.
    keras.utils.set_random_seed(1)
    model = MAKERS[name]()
    images, decoder_inputs = _batch()
    want = ops.convert_to_numpy(model({"source": images, "decoder_inputs": decoder_inputs}))
    states = model._encode(ops.convert_to_tensor(images))
    memory = {s.name for s in model._memory_specs(2)}
    for t in range(T):
        out = model._decode_step(ops.convert_to_tensor(decoder_inputs[:, t:t + 1]),
                                 ops.convert_to_tensor(np.array([t], "int32")), states)
        np.testing.assert_allclose(ops.convert_to_numpy(out["logits"])[:, 0], want[:, t],
                                   atol=1e-4, err_msg=f"step {t}")
        states = {**{k: v for k, v in states.items() if k in memory},
                  **{k: v for k, v in out.items() if k != "logits"}}


def test_the_coverage_penalty_is_the_papers_over_real_steps():
    keras.utils.set_random_seed(2)
    model = _attentive(attention_penalty=0.5)
    images, decoder_inputs = _batch()
    model({"source": images, "decoder_inputs": decoder_inputs})
    (penalty,) = [float(loss) for loss in model.losses]
    weights = model.attention_weights(images, decoder_inputs)  # [B, T, L]
    real = decoder_inputs != 0  # the second caption's padded steps do not count
    assert not real.all()
    coverage = (weights * real[..., None]).sum(axis=1)  # [B, L]
    want = 0.5 * np.mean(np.sum((1 - coverage) ** 2, axis=-1))
    np.testing.assert_allclose(penalty, want, rtol=1e-5)
    assert model.get_config()["attention_penalty"] == 0.5


def test_no_penalty_adds_no_loss():
    model = _attentive(attention_penalty=0.0)
    images, decoder_inputs = _batch()
    model({"source": images, "decoder_inputs": decoder_inputs})
    assert model.losses == []


def test_attention_weights_are_distributions_over_the_grid():
    model = _attentive()
    images, decoder_inputs = _batch()
    weights = model.attention_weights(images, decoder_inputs)
    assert weights.shape == (2, T, 64) and model.grid_shape == (8, 8)
    np.testing.assert_allclose(weights.sum(-1), 1, atol=1e-5)
    scores = _transformer().attention_weights(images, decoder_inputs)
    assert scores.shape == (2, 2, 2, T, 64)
    np.testing.assert_allclose(scores.sum(-1), 1, atol=1e-5)


@pytest.mark.parametrize("name", list(MAKERS))
def test_logits_are_float32_under_mixed_precision(name):
    model = MAKERS[name](dtype="mixed_float16")
    images, decoder_inputs = _batch()
    logits = model({"source": images, "decoder_inputs": decoder_inputs})
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert np.isfinite(ops.convert_to_numpy(logits)).all()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Each captioner fitted to two captions (with XLA), exported in float32
    and int8, with its training history."""
    folder = tmp_path_factory.mktemp("captioners")
    images, decoder_inputs = _batch()
    targets = caption_ids(CAPTIONS, length=T + 1)[:, 1:]
    found = {}
    for name, make in FITTED.items():
        keras.utils.set_random_seed(4)
        model = make()
        model.compile(keras.optimizers.Adam(LEARNING_RATES[name]),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=True)
        history = model.fit({"source": images, "decoder_inputs": decoder_inputs}, targets,
                            sample_weight=(targets != 0).astype("float32"), epochs=100,
                            verbose=0)
        task = caption_task_metadata(model, WORDS)
        with Exporter(model, model.export_signatures()) as exporter:
            for mode in ("float32", "int8"):
                path = folder / f"{name}_{mode}.tflite"
                exporter.export_tflite(
                    str(path), mode=mode, task=task,
                    representative_data=(model.representative_data(images)
                                         if mode == "int8" else None))
                found[name, mode] = path
        found[name] = model
        found[name, "loss"] = history.history["loss"]
    return found, images


@pytest.mark.parametrize("name", list(FITTED))
def test_training_moves_the_loss_and_the_model_reloads(trained, name, tmp_path):
    found, images = trained
    model, loss = found[name], found[name, "loss"]
    assert loss[-1] < 0.5 * loss[0]
    # It learned the two captions, and decodes them greedily.
    assert [ids_to_caption(row) for row in model.greedy_decode(images)] == CAPTIONS
    _, decoder_inputs = _batch()
    inputs = {"source": images, "decoder_inputs": decoder_inputs}
    model.save(tmp_path / "captioner.keras")
    reloaded = keras.saving.load_model(tmp_path / "captioner.keras")
    np.testing.assert_array_equal(reloaded.predict(inputs, verbose=0),
                                  model.predict(inputs, verbose=0))


def _png(path, image):
    Image.fromarray(np.round(image[..., 0] * 255).astype(np.uint8)).save(path)
    return str(path)


@pytest.mark.parametrize("name", list(FITTED))
@pytest.mark.parametrize("mode", ["float32", "int8"])
def test_the_device_captions_a_png_as_keras_does(trained, name, mode, tmp_path):
    found, images = trained
    device = edge_demo.load(str(found[name, mode]))
    # The PNG holds bytes: Keras captions the same rounded pixels.
    pixels = np.round(images * 255) / 255
    want = [ids_to_caption(row) for row in found[name].greedy_decode(pixels)]
    assert want == CAPTIONS
    for i in range(2):
        assert caption_image(device, _png(tmp_path / f"scene_{i}.png", images[i])).caption == want[i]


def test_the_hard_attention_captioner_captions_on_the_device_as_keras_does(tmp_path):
    # Untrained (a fit of two captions leaves its attention flat, and which
    # cell it reads then is chance; bench/vision.py has the trained one's
    # figures): the exported encode and decode_step pick the cell Keras
    # picks, step by step, and say the same words.
    keras.utils.set_random_seed(5)
    model = _attentive(hard_attention=True)
    images, _ = _batch()
    images = np.round(images * 255) / 255
    path = str(tmp_path / "hard.tflite")
    with Exporter(model, model.export_signatures()) as exporter:
        exporter.export_tflite(path, mode="float32", task=caption_task_metadata(model, WORDS))
    device = edge_demo.load(path)
    want = [ids_to_caption(row) for row in model.greedy_decode(images)]
    assert want[0] != want[1]  # the two scenes read differently, or this shows little
    for i in range(2):
        assert caption_image(device, _png(tmp_path / f"s{i}.png", images[i])).caption == want[i]


def test_the_command_prints_the_caption(trained, tmp_path, capsys):
    found, images = trained
    png = _png(tmp_path / "scene.png", images[0])
    assert edge_main([str(found["attentive", "int8"]), "--image", png, "--runs", "2"]) == 0
    out = capsys.readouterr().out
    assert f"output:  {CAPTIONS[0]}" in out and "encode median" in out


def test_the_task_must_name_every_word(trained):
    found, _ = trained
    with pytest.raises(ValueError, match=r"vocabulary must have the model's 22 words, received 3"):
        caption_task_metadata(found["attentive"], ["a", "b", "c"])


@pytest.mark.parametrize("kwargs,message", [
    (dict(image_shape=(30, 32, 1)), r"multiples of 4 \(2 stages of 2x2 pooling"),
    (dict(image_shape=(32, 32)), r"image_shape must be \(height, width, channels\)"),
    (dict(filters=()), r"filters must be a non-empty list"),
    (dict(attention_penalty=-1.0), r"attention_penalty must be a number >= 0"),
    (dict(hard_attention="yes"), r"hard_attention must be True or False, received hard_attention='yes'"),
    (dict(end_id=1), r"start_id and end_id must differ"),
])
def test_bad_arguments_are_named(kwargs, message):
    arguments = {**dict(vocabulary_size=len(WORDS), caption_length=T, image_shape=SHAPE,
                        filters=(4, 8), units=8), **kwargs}
    with pytest.raises(ValueError, match=message):
        AttentiveCaptioner(**arguments)


def test_images_outside_the_models_range_are_refused():
    model = _attentive()
    with pytest.raises(ValueError, match=r"images must be finite and in \[0, 1\]"):
        model.greedy_decode(np.full((1, *SHAPE), 255.0, "float32"))
    with pytest.raises(ValueError, match=r"images must have shape \[N, 32, 32, 1\]"):
        model.greedy_decode(np.zeros((1, 28, 28, 1), "float32"))
