import keras
import numpy as np
import pytest

from keras_attention.layers.patch_embedding import PatchEmbedding
from tests import harness

RNG = np.random.default_rng(0)
B, H, W, C, D = 2, 8, 8, 2, 6


def _images(*shape):
    return RNG.uniform(size=shape).astype("float32")


CASES = [
    harness.LayerCase(
        name="square_class_token",
        cls=PatchEmbedding,
        init_kwargs=dict(hidden_dim=D, patch_size=4),
        inputs={"inputs": _images(B, H, W, C)},
        trainable_weights=4,  # kernel, bias, class token, positions
        # kernel 4*4*2*6 = 192, bias 6, class token 6, positions (2*2 + 1)*6 = 30
        trainable_params=192 + 6 + 6 + 30,
        has_softmax=False,
    ),
    harness.LayerCase(
        name="rectangular_no_token_no_bias",
        cls=PatchEmbedding,
        init_kwargs=dict(hidden_dim=D, patch_size=(2, 4), use_class_token=False,
                         use_patch_bias=False),
        inputs={"inputs": _images(B, H, W, C)},
        trainable_weights=2,  # kernel, positions
        # kernel 2*4*2*6 = 96, positions (4*2)*6 = 48
        trainable_params=96 + 48,
        has_softmax=False,
    ),
    harness.LayerCase(
        name="overlapping",
        cls=PatchEmbedding,
        init_kwargs=dict(hidden_dim=D, patch_size=4, kernel_size=(8, 6)),
        inputs={"inputs": _images(B, H, W, C)},
        trainable_weights=4,  # kernel, bias, class token, positions
        # kernel 8*6*2*6 = 576, bias 6, class token 6, positions (2*2 + 1)*6 = 30
        trainable_params=576 + 6 + 6 + 30,
        has_softmax=False,
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)


def reshape_and_project(images, kernel, bias, class_token, positions, patch):
    """The paper's equation 1 done by hand: cut, flatten, project, add."""
    b, h, w, c = images.shape
    ph, pw = patch
    gh, gw = h // ph, w // pw
    patches = images.reshape(b, gh, ph, gw, pw, c).transpose(0, 1, 3, 2, 4, 5)
    patches = patches.reshape(b, gh * gw, ph * pw * c)  # rows of patches first
    tokens = patches @ kernel.reshape(ph * pw * c, -1)
    if bias is not None:
        tokens = tokens + bias
    if class_token is not None:
        tokens = np.concatenate(
            [np.broadcast_to(class_token, (b, 1, tokens.shape[-1])), tokens], axis=1)
    return tokens + positions


@pytest.mark.parametrize("patch_size,use_class_token,use_patch_bias", [
    (4, True, True), ((2, 4), False, False), ((4, 2), True, False),
])
def test_equals_cutting_patches_and_one_dense_layer(patch_size, use_class_token,
                                                    use_patch_bias):
    keras.utils.set_random_seed(3)
    layer = PatchEmbedding(D, patch_size, use_class_token=use_class_token,
                           use_patch_bias=use_patch_bias)
    images = _images(3, H, W, C)
    layer.build(images.shape)
    # Nonzero class token and bias, so that a dropped or misplaced one shows.
    if use_class_token:
        layer.class_token.assign(RNG.normal(size=(D,)).astype("float32"))
    if use_patch_bias:
        layer._projection.bias.assign(RNG.normal(size=(D,)).astype("float32"))
    patch = (patch_size, patch_size) if isinstance(patch_size, int) else patch_size
    want = reshape_and_project(
        images,
        np.asarray(layer._projection.kernel),
        np.asarray(layer._projection.bias) if use_patch_bias else None,
        np.asarray(layer.class_token) if use_class_token else None,
        np.asarray(layer.position_embedding),
        patch,
    )
    got = keras.ops.convert_to_numpy(layer(images))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=harness.FLOAT32_ATOL)
    assert layer.grid_shape == (H // patch[0], W // patch[1])


def overlapping_windows(images, kernel, bias, positions, patch, window):
    """Each token's `window`, centred on its patch of the zero-padded image,
    flattened and projected (no class token), by hand."""
    b, h, w, c = images.shape
    (ph, pw), (kh, kw) = patch, window
    my, mx = (kh - ph) // 2, (kw - pw) // 2
    padded = np.zeros((b, h + 2 * my, w + 2 * mx, c), "float32")
    padded[:, my:my + h, mx:mx + w] = images
    rows = [padded[:, i * ph:i * ph + kh, j * pw:j * pw + kw].reshape(b, -1)
            for i in range(h // ph) for j in range(w // pw)]  # row by row
    tokens = np.stack(rows, axis=1) @ kernel.reshape(kh * kw * c, -1) + bias
    return tokens + positions


@pytest.mark.parametrize("patch_size,kernel_size", [(4, 8), ((2, 4), (4, 6)), (4, (4, 6))])
def test_overlapping_patches_equal_windows_cut_by_hand(patch_size, kernel_size):
    keras.utils.set_random_seed(5)
    layer = PatchEmbedding(D, patch_size, kernel_size=kernel_size, use_class_token=False)
    images = _images(3, H, W, C)
    layer.build(images.shape)
    layer._projection.bias.assign(RNG.normal(size=(D,)).astype("float32"))
    patch = (patch_size,) * 2 if isinstance(patch_size, int) else patch_size
    window = (kernel_size,) * 2 if isinstance(kernel_size, int) else kernel_size
    want = overlapping_windows(
        images, np.asarray(layer._projection.kernel), np.asarray(layer._projection.bias),
        np.asarray(layer.position_embedding), patch, window)
    got = keras.ops.convert_to_numpy(layer(images))
    np.testing.assert_allclose(got, want, atol=harness.FLOAT32_ATOL)
    # The same grid as without overlap: one token per patch.
    assert layer.grid_shape == (H // patch[0], W // patch[1])


def test_each_image_is_embedded_alone():
    # A reshape that mixes the batch with the patches passes at B = 1 only.
    layer = PatchEmbedding(D, 4)
    images = _images(3, H, W, C)
    together = keras.ops.convert_to_numpy(layer(images))
    for i in range(3):
        alone = keras.ops.convert_to_numpy(layer(images[i:i + 1]))
        np.testing.assert_allclose(together[i:i + 1], alone, atol=harness.FLOAT32_ATOL)


def test_the_class_token_and_positions_start_as_the_paper_does():
    keras.utils.set_random_seed(4)
    layer = PatchEmbedding(64, 4)
    layer.build((None, 28, 28, 1))
    assert np.all(np.asarray(layer.class_token) == 0)
    positions = np.asarray(layer.position_embedding)
    assert positions.shape == (50, 64)
    assert 0.015 < positions.std() < 0.025  # normal, standard deviation 0.02


@pytest.mark.parametrize("kwargs,message", [
    (dict(hidden_dim=0, patch_size=4), r"hidden_dim must be a positive int, received hidden_dim=0"),
    (dict(hidden_dim=8, patch_size=0), r"patch_size must be a positive int or a pair"),
    (dict(hidden_dim=8, patch_size=(4,)), r"received patch_size=\(4,\)"),
    (dict(hidden_dim=8, patch_size=True), r"received patch_size=True"),
    (dict(hidden_dim=8, patch_size="4"), r"received patch_size='4'"),
    (dict(hidden_dim=8, patch_size=4, use_class_token=1), r"use_class_token must be a bool"),
    (dict(hidden_dim=8, patch_size=4, kernel_size=2),
     r"kernel_size must be at least patch_size .* received kernel_size=2 and patch_size=4"),
    (dict(hidden_dim=8, patch_size=4, kernel_size=7),
     r"larger by an even number of pixels .* received kernel_size=7"),
    (dict(hidden_dim=8, patch_size=4, kernel_size=(8, 0)),
     r"kernel_size must be a positive int or a pair"),
])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PatchEmbedding(**kwargs)


@pytest.mark.parametrize("shape,message", [
    ((2, 30, 28, 1), r"\(30, 28\) must be whole multiples of patch_size=4"),
    ((2, 28, 28), r"inputs must be images of shape \[B, H, W, C\]"),
])
def test_bad_images_are_named(shape, message):
    with pytest.raises(ValueError, match=message):
        PatchEmbedding(8, 4)(np.zeros(shape, "float32"))


def test_unknown_image_size_is_refused_symbolically():
    with pytest.raises(ValueError, match=r"with H, W and C known"):
        PatchEmbedding(8, 4)(keras.Input((None, None, 1)))
