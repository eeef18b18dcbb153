import keras
import numpy as np
import pytest

from keras_attention.models.vision_models import (
    ImageBatches,
    as_model_images,
    cnn_classifier,
    compile_image_classifier,
    vit_attention,
    vit_classifier,
)

RNG = np.random.default_rng(0)


def _bytes(n, size=28):
    return RNG.integers(0, 256, (n, size, size), dtype=np.uint8)


def test_default_sizes_compare_at_a_similar_parameter_count():
    vit, cnn = vit_classifier(), cnn_classifier()
    # ViT: patches 4*4*64 + 64 + class token 64 + positions 50*64 = 4,352;
    # per block: attention 4*(64*64 + 64) = 16,640, feed-forward
    # 64*128 + 128 + 128*64 + 64 = 16,576, two layer norms 256: 33,472,
    # six blocks 200,832; final norm 128; head 64*10 + 10 = 650.
    assert vit.count_params() == 4_352 + 6 * 33_472 + 128 + 650
    # CNN: convs 320 + 9,248 + 18,496 + 36,928; hidden 7*7*64*48 + 48;
    # head 48*10 + 10.
    assert cnn.count_params() == 320 + 9_248 + 18_496 + 36_928 + 150_576 + 490
    assert abs(cnn.count_params() / vit.count_params() - 1) < 0.1
    # Overlapping 8x8 windows: only the projection grows, 8*8*64 against
    # 4*4*64 weights; the grid, and so the positions, stay 7x7.
    overlapping = vit_classifier(patch_kernel_size=8)
    assert overlapping.count_params() == vit.count_params() + (64 - 16) * 64
    assert overlapping.get_layer("patches").grid_shape == (7, 7)
    # The hybrid: stem convolutions 3*3*1*32 + 32 and 3*3*32*64 + 64, then
    # the 7x7 map's cells as 1x1 patches (64*64 + 64, class token 64,
    # positions 50*64), five blocks, the final norm and the head.
    hybrid = vit_classifier(stem_filters=(32, 64), num_blocks=5)
    assert hybrid.count_params() == (320 + 18_496 + 4_160 + 64 + 3_200 + 5 * 33_472
                                     + 128 + 650)
    assert hybrid.get_layer("patches").grid_shape == (7, 7)
    assert hybrid.get_layer("patches").patch_size == (1, 1)


def test_the_vit_is_the_papers_layout():
    model = vit_classifier(num_blocks=2)
    names = [layer.name for layer in model.layers]
    assert names[:3] == ["images", "patches", "patch_dropout"]
    assert "block_0" in names and "block_1" in names and "final_norm" in names
    assert all(model.get_layer(f"block_{i}").normalize_first for i in range(2))
    assert model.get_layer("block_0").get_config()["activation"] == "gelu"
    # The logits are the head applied to the class token's normalised final
    # state, recomputed here layer by layer.
    images = as_model_images(_bytes(2))
    logits = keras.ops.convert_to_numpy(model(images))
    embedded = model.get_layer("patches")(images)
    x = embedded
    for i in range(2):
        x = model.get_layer(f"block_{i}")(x)
    state = keras.ops.convert_to_numpy(model.get_layer("final_norm")(x))[:, 0]
    head = model.get_layer("logits")
    want = state @ np.asarray(head.kernel) + np.asarray(head.bias)
    np.testing.assert_allclose(logits, want, atol=1e-5)


@pytest.mark.parametrize("make", [vit_classifier, cnn_classifier])
def test_logits_are_float32_under_mixed_precision(make):
    model = make(dtype="mixed_float16")
    logits = model(as_model_images(_bytes(2)))
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"
    assert all(w.dtype == "float32" for w in model.weights)
    assert np.isfinite(keras.ops.convert_to_numpy(logits)).all()


@pytest.mark.parametrize("make", [
    lambda: vit_classifier(num_blocks=2, dropout=0.0),
    lambda: cnn_classifier(filters=(8, 16), hidden_units=16, dropout=0.0),
])
def test_both_learn_a_task_they_can_see_with_xla(make):
    # Bright left half or bright right half: both must separate it quickly;
    # a model that cannot see its input stays near 50%.
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 256)
    images = rng.uniform(0, 0.3, (256, 28, 28, 1)).astype("float32")
    for i, label in enumerate(labels):
        images[i, :, 14 * label:14 * label + 14] += 0.6
    keras.utils.set_random_seed(2)
    model = compile_image_classifier(make(), learning_rate=2e-3)
    model.fit(ImageBatches(images, labels, batch_size=32, rotation=0, shift=0, seed=0),
              epochs=3, verbose=0)
    accuracy = model.evaluate(images, labels, verbose=0, return_dict=True)["accuracy"]
    assert accuracy > 0.95


def test_batches_are_augmented_seeded_and_complete():
    images, labels = _bytes(70), np.arange(70) % 10
    plain = ImageBatches(images, labels, batch_size=32, rotation=0, shift=0, shuffle=False)
    assert len(plain) == 3
    x, y = plain[2]
    assert x.shape == (6, 28, 28, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(x, as_model_images(images[64:]))
    np.testing.assert_array_equal(y, labels[64:])
    one = ImageBatches(images, labels, batch_size=32, seed=5)
    two = ImageBatches(images, labels, batch_size=32, seed=5)
    other = ImageBatches(images, labels, batch_size=32, seed=6)
    (x1, y1), (x2, y2), (x3, _) = one[0], two[0], other[0]
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_allclose(x1, x2)
    assert not np.allclose(x1, x3)
    # Augmented, not replaced: each image moved a little, and stays in [0, 1].
    originals = as_model_images(images)[one._rows[:32]]
    assert not np.allclose(x1, originals)
    assert 0 <= x1.min() and x1.max() <= 1
    # Every image once per epoch.
    seen = np.concatenate([one[i][1] for i in range(len(one))])
    assert sorted(seen.tolist()) == sorted(labels.tolist())


def test_vit_attention_is_the_class_tokens_row_on_the_grid():
    model = vit_classifier(num_blocks=3)
    images = _bytes(2)
    maps = vit_attention(model, images)
    assert maps.shape == (3, 2, 4, 7, 7)
    # The class token's row sums to one over all 50 tokens; the patches hold
    # all of it but its weight on itself.
    _, scores = model.get_layer("block_0")(
        model.get_layer("patches")(as_model_images(images)), return_attention_scores=True)
    scores = keras.ops.convert_to_numpy(scores)
    np.testing.assert_allclose(maps[0].reshape(2, 4, 49), scores[:, :, 0, 1:], atol=1e-6)
    np.testing.assert_allclose(maps[0].sum(axis=(-1, -2)) + scores[:, :, 0, 0], 1, atol=1e-5)


def test_the_hybrids_patches_are_the_stems_cells():
    # The stem's 7x7 map, cell by cell, is what PatchEmbedding projects;
    # vit_attention runs the stem before the patches.
    model = vit_classifier(stem_filters=(4, 8), num_blocks=1, hidden_dim=16, num_heads=2)
    images = as_model_images(_bytes(2))
    x = images
    for i in range(2):
        x = model.get_layer(f"stem_{i}")(model.get_layer(f"stem_{i}_padding")(x))
    cells = keras.ops.convert_to_numpy(x)
    assert cells.shape == (2, 7, 7, 8)
    patches = model.get_layer("patches")
    kernel = np.asarray(patches._projection.kernel).reshape(8, 16)
    tokens = cells.reshape(2, 49, 8) @ kernel + np.asarray(patches._projection.bias)
    want = tokens + np.asarray(patches.position_embedding)[1:]
    got = keras.ops.convert_to_numpy(patches(x))[:, 1:]
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert vit_attention(model, images).shape == (1, 2, 2, 7, 7)


@pytest.mark.parametrize("images,message", [
    (np.full((2, 28, 28, 1), 255.0, "float32"), r"must lie in \[0, 1\] .*from 255"),
    (np.zeros((2, 28), "uint8"), r"images must be \[N, H, W, C\]"),
    (np.full((2, 28, 28, 1), np.nan, "float32"), r"must be finite, received 1568 NaN"),
])
def test_images_outside_the_models_range_are_refused(images, message):
    with pytest.raises(ValueError, match=message):
        as_model_images(images)


@pytest.mark.parametrize("call,message", [
    (lambda: vit_classifier(image_shape=(28, 28)), r"image_shape must be \(height, width, channels\)"),
    (lambda: vit_classifier(hidden_dim=30, num_heads=4), r"hidden_dim must be a multiple of num_heads"),
    (lambda: vit_classifier(patch_size=5), r"multiples of patch_size=5"),
    (lambda: vit_classifier(stem_filters=(8, 8, 8)),
     r"patch_size must be a multiple of 8 \(the stem's 3 convolutions of stride 2, "
     r"stem_filters=\[8, 8, 8\]\), received patch_size=4"),
    (lambda: vit_classifier(stem_filters=(8, 0)), r"stem_filters must be a positive int"),
    (lambda: vit_classifier(dropout=1.0), r"dropout must be a float in \[0, 1\)"),
    (lambda: cnn_classifier(filters=()), r"filters must be a non-empty list"),
    (lambda: cnn_classifier(image_shape=(6, 6, 1), filters=(4, 4, 4)), r"too small for 3 stages"),
    (lambda: ImageBatches(np.zeros((4, 28, 28), "uint8"), np.zeros(3)), r"labels must have shape \[N\] = \[4\]"),
    (lambda: ImageBatches(np.zeros((4, 28, 28), "uint8"), np.zeros(4), rotation=0.6), r"rotation must be a fraction"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_schedule_warms_up_then_follows_a_cosine_to_zero():
    model = compile_image_classifier(cnn_classifier(filters=(4,), hidden_units=4),
                                     learning_rate=1e-3, total_steps=200)
    schedule = model.optimizer._learning_rate  # the schedule, not its current value
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    rates = [float(schedule(step)) for step in (0, 5, 10, 105, 200)]
    # 10 warm-up steps (5% of 200) from 0 to the peak, then half way down the
    # cosine at step 10 + 95 and zero at the end.
    np.testing.assert_allclose(rates, [0.0, 5e-4, 1e-3, 5e-4, 0.0], atol=1e-7)
