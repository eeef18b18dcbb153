"""The tour's images family, at a small size on digits drawn with Pillow's
font and written in MNIST's format: its rows, files, pictures and report,
how it finds MNIST, and what happens when it cannot."""

import json
import re

import numpy as np
import pytest

from keras_attention.data import mnist, scenes
from keras_attention.tour import FAMILIES, FamilySkipped, family_names, run_tour
from keras_attention.tour import __main__ as tour_command
from keras_attention.tour import images as family

COUNT = 400
TINY = dict(train=300, test=100, epochs=3, device=40, calibration=16, scenes=96,
            scene_test=8, caption_epochs=1, device_scenes=3, graphs=64, graph_test=40,
            graph_epochs=2)


def drawn_digits(count, seed=0):
    """`count` 28 x 28 uint8 digits drawn in Pillow's font, each moved,
    turned and sized at random; labels cycle 0 to 9."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), np.uint8)
    labels = (np.arange(count) % 10).astype(np.uint8)
    for n, label in enumerate(labels):
        font = ImageFont.load_default(size=int(rng.integers(17, 23)))
        canvas = Image.new("L", (28, 28))
        ImageDraw.Draw(canvas).text(
            (14 + rng.integers(-3, 4), 14 + rng.integers(-3, 4)), str(label), fill=255,
            font=font, anchor="mm", stroke_width=1, stroke_fill=255)
        images[n] = np.asarray(canvas.rotate(float(rng.uniform(-12, 12)),
                                             resample=Image.BILINEAR))
    return images, labels


@pytest.fixture(scope="module")
def mnist_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist")
    images, labels = drawn_digits(COUNT)
    images_stem, labels_stem = mnist.FILES["test"]
    mnist.write_idx(folder / f"{images_stem}.gz", images)
    mnist.write_idx(folder / f"{labels_stem}.gz", labels)
    return folder


@pytest.fixture(scope="module")
def toured(mnist_folder, tmp_path_factory):
    """The family run through `run_tour` at `TINY` sizes on the drawn digits."""
    out = tmp_path_factory.mktemp("tour")
    with pytest.MonkeyPatch.context() as patch:
        # A folder of COUNT images, whose bytes have no canonical SHA-256.
        patch.setattr(mnist, "SIZES", {"train": 60_000, "test": COUNT})
        patch.setattr(mnist, "MNIST_PAYLOAD_SHA256", {})
        patch.setattr(family, "QUICK", TINY)
        patch.setattr(family, "BATCH_SIZE", 32)  # 10 steps an epoch
        index, table = run_tour(str(out), quick=True, families=["images"],
                                data={"mnist": str(mnist_folder)})
    return out, index, table, json.loads((out / "results.json").read_text())


def test_the_rows_and_their_files(toured):
    out, _, _, results = toured
    assert [r["name"] for r in results] == [
        "mnist vit", "mnist cnn", "scene captioner", "superpixel gat"]
    assert {r["family"] for r in results} == {"images"}
    vit, cnn, captioner, gat = results
    for result in (vit, cnn, captioner):
        assert set(result["sizes"]) == set(result["latency_ms"]) == {
            "float32", "dynamic", "int8"}
        # Quantized weights: both integer files well under float32's.
        assert result["sizes"]["dynamic"] < 0.5 * result["sizes"]["float32"]
        assert result["sizes"]["int8"] < 0.5 * result["sizes"]["float32"]
        assert result["device_mode"] == "int8"
    # LiteRT's segment sums have no int8 kernels: float32 and dynamic only.
    assert set(gat["sizes"]) == set(gat["latency_ms"]) == {"float32", "dynamic"}
    assert gat["device_mode"] == "dynamic"
    assert [r["default_mode"] for r in results] == [
        "float32", "float32", "dynamic", "float32"]
    for result in results:
        for key in ("keras_accuracy", "device_accuracy", "device_agreement"):
            assert 0.0 <= result[key] <= 1.0
        assert all(ms > 0 for ms in result["latency_ms"].values())
        for mode in result["sizes"]:
            name = result["name"].replace(" ", "_")
            assert (out / f"{name}_{mode}.tflite").stat().st_size == result["sizes"][mode]
    # Every metric names the split its figures come from.
    assert all("300 train / 100 test, seed 0" in r["metric"] for r in results)


def test_the_models_train_and_the_device_agrees_with_keras(toured):
    _, _, _, results = toured
    vit, cnn, captioner, gat = results
    # The CNN's int8 file gives Keras's class on nearly every digit: a
    # file that scaled the pixels wrong, or a broken export, agrees on about
    # a tenth. The ViT's, trained a few dozen steps, has many near ties,
    # which int8 moves: it must only beat chance here (tests/test_edge_images.py
    # compares a ViT's files with Keras closely).
    assert cnn["device_agreement"] >= 0.9
    assert vit["device_agreement"] >= 0.25
    # The graph network's dynamic-range file gives Keras's class on nearly
    # every graph: a batch fed in another layout would not.
    assert gat["device_agreement"] >= 0.9
    for result in (vit, cnn, gat):
        losses = result["history"]["loss"]
        assert len(losses) == (2 if result is gat else 3) and losses[-1] < losses[0]
    assert len(captioner["history"]["loss"]) == 1
    assert captioner["train_seconds"] > 0


def test_the_device_commands_read_the_pngs_the_tour_writes(toured, capsys):
    from edge_demo.__main__ import main as edge_main

    out, _, _, _ = toured
    capsys.readouterr()
    assert edge_main([str(out / "mnist_cnn_int8.tflite"), "--image",
                      str(out / "mnist_digit.png")]) == 0
    assert re.search(r"^output:  [0-9] \(", capsys.readouterr().out, re.M)
    assert edge_main([str(out / "scene_captioner_dynamic.tflite"), "--image",
                      str(out / "scene.png"), "--runs", "1"]) == 0
    caption = re.search(r"^output:  (.*)$", capsys.readouterr().out, re.M).group(1)
    # After a few steps of training: words of the vocabulary (maybe none),
    # not yet the scene's.
    assert set(caption.split()) <= set(scenes.WORDS) - {scenes.PAD, scenes.START}


def test_the_pictures_and_the_report(toured):
    out, index, table, results = toured
    pictures = [p for r in results for p in r["pictures"]]
    assert pictures == ["mnist_vit_attention.png", "scene_captioner_attention.png",
                        "superpixel_gat_attention.png"]
    page = open(index, encoding="utf-8").read()
    for picture in pictures:
        assert (out / picture).stat().st_size > 5000
        assert f"]({picture})" in page
    assert table in page and "| images | superpixel gat |" in table
    assert "on built-in data and MNIST" in page
    html = (out / "index.html").read_text(encoding="utf-8")
    assert "Why int8 is blank for the graph network" in html


def _drawn_attention(figure):
    """The heatmaps' arrays and the colorbar's label of a drawn figure."""
    images = [image for axis in figure.axes for image in axis.get_images()]
    labels = [axis.get_ylabel() for axis in figure.axes if axis.get_label() == "<colorbar>"]
    return images, labels


def test_the_captions_picture_has_a_map_per_word_and_a_colorbar(tmp_path):
    from keras_attention.models import AttentiveCaptioner

    images, labels = drawn_digits(40)
    made = scenes.digit_scenes(images, labels, 1, seed=0)
    model = AttentiveCaptioner(len(scenes.WORDS), scenes.MAX_CAPTION_LENGTH - 1,
                               filters=(4, 8, 8), units=16)
    figure = family.draw_caption_attention(model, made.images[0], str(tmp_path / "c.png"))
    words = scenes.ids_to_caption(np.asarray(model.greedy_decode(
        made.images[:1, ..., None] / 255.0))[0]).split() + [scenes.END]
    shown, bars = _drawn_attention(figure)
    # The scene, then one 8 x 8 map per word said, end included.
    assert len(shown) == 1 + len(words)
    assert all(image.get_array().shape == (8, 8) for image in shown[1:])
    weights = model.attention_weights(made.images[:1, ..., None] / 255.0)[0]
    np.testing.assert_allclose(shown[1].get_array(), weights[0].reshape(8, 8), rtol=1e-6)
    assert bars == ["attention weight"]
    assert [axis.get_title() for axis in figure.axes[1 : len(words) + 1]] == [
        repr(word) for word in words]


def test_mnist_is_found_in_the_checkout_then_the_cache(tmp_path, monkeypatch, mnist_folder):
    monkeypatch.setattr(mnist, "SIZES", {"train": 60_000, "test": COUNT})
    monkeypatch.setattr(mnist, "MNIST_PAYLOAD_SHA256", {})
    monkeypatch.setattr(family, "CHECKOUT_MNIST", str(mnist_folder))
    images, labels, where = family.find_mnist()
    assert images.shape == (COUNT, 28, 28) and where == str(mnist_folder)
    asked = []

    def cache_only(split, path=None, cache_dir=None):
        asked.append((split, path))
        raise OSError("no route to host")

    monkeypatch.setattr(family, "CHECKOUT_MNIST", str(tmp_path / "absent"))
    monkeypatch.setattr(mnist, "load_mnist", cache_only)
    with pytest.raises(FamilySkipped, match="downloading it failed .*no route to host.*"
                                            "--mnist DIR"):
        family.find_mnist()
    assert asked == [("test", None)]


def test_a_folder_given_that_is_wrong_is_an_error_not_a_skip(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="t10k-"):
        family.find_mnist(str(tmp_path))


def test_a_family_left_out_is_a_note_and_nothing_left_is_an_error(tmp_path, monkeypatch,
                                                                  capsys):
    def skipped(path=None):
        raise FamilySkipped("MNIST is nowhere")

    monkeypatch.setattr(family, "find_mnist", skipped)
    with pytest.raises(FamilySkipped, match="The images family was left out: MNIST is "
                                            "nowhere"):
        run_tour(str(tmp_path), families=["images"])
    assert tour_command.main(["--families", "images", "--out", str(tmp_path)]) == 2
    assert "error: nothing ran. The images family was left out" in capsys.readouterr().err
    assert not (tmp_path / "index.md").exists()
    # Beside a family that ran, the one left out is a note under the title.
    index, table = run_tour(str(tmp_path), families=["images", "tests.one_row_family"])
    page = open(index, encoding="utf-8").read()
    assert "The images family was left out: MNIST is nowhere." in page
    assert "| one row | fixed |" in table and "| images |" not in table
    assert "on built-in data, nothing downloaded" in page


def test_the_command_knows_the_families():
    assert tuple(family_names()) == tour_command._FAMILY_NAMES
    assert family_names()[-1] == "images" and FAMILIES[-1].endswith(".images")
    with pytest.raises(SystemExit):
        tour_command._parser().parse_args(["--families", "sequence,pictures"])
    with pytest.raises(ValueError, match="families must name some of sequence"):
        run_tour(families=["pictures"])


def test_the_mnist_option_must_name_a_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        tour_command._parser().parse_args(["--mnist", str(tmp_path / "absent")])
    assert "--mnist: must be a folder; " in capsys.readouterr().err
    assert tour_command._parser().parse_args(["--mnist", str(tmp_path)]).mnist == str(tmp_path)
