"""Image patches as a sequence of tokens, for a Vision Transformer."""

import keras
from keras import ops

from keras_attention.layers._initializers import clone_initializer
from keras_attention.layers._validation import check_positive_int


def _pair(name, value):
    """`value` as `(height, width)`: an int is square."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in pair)
    ):
        raise ValueError(
            f"{name} must be a positive int or a pair of them (height, width), "
            f"received {name}={value!r}"
        )
    return tuple(pair)


@keras.saving.register_keras_serializable(package="keras_attention")
class PatchEmbedding(keras.layers.Layer):
    """Cuts an image into patches, projects each, and adds learned positions.

    The input stage of the Vision Transformer (Dosovitskiy et al. 2021,
    section 3.1, equation 1): the image is cut into non-overlapping
    `P_h x P_w` patches, read row by row, and each flattened patch is
    projected to `D` features, `x_p E`. A learned class token is put in
    front (`use_class_token`), whose state after the encoder is the image's
    representation, and a learned position vector is added to every token,
    the class token's included.

    The projection is a convolution with kernel and stride equal to the patch
    (`keras.layers.Conv2D`, kernel `[P_h, P_w, C, D]`), which is the same
    arithmetic as reshaping into patches and applying one dense layer, and
    converts to a single strided `CONV_2D` for LiteRT where the reshape
    would need a rank-6 transpose. The image size is read in `build`, and
    must be a whole number of patches: the position table has one row per
    patch, so a different size needs a different layer.

    With `kernel_size` larger than `patch_size`, the patches overlap: each
    token projects a `K_h x K_w` window centred on its `P_h x P_w` patch,
    the image padded with `(K - P) / 2` zeros on each side, so the grid is
    the same. This is the overlapping patch embedding of PVT v2 (Wang et
    al. 2022) and SegFormer (Xie et al. 2021; KerasHub's
    `OverlappingPatchingAndEmbedding`): neighbouring patches share pixels,
    a locality prior that helps a ViT trained from scratch on a small
    dataset (docs/benchmarks.md, Images). On LiteRT that is a `PAD` before
    the strided `CONV_2D`.

    The class token starts at zeros and the positions at a normal of
    standard deviation 0.02, as in the paper's reference code. Both are
    float32 variables, cast to the compute dtype under mixed precision.

    Shapes: `B` batch, `H, W, C` the image's height, width and channels,
    `N = (H / P_h) (W / P_w)` patches, `D` features.

    The arguments follow KerasHub's `ViTPatchingAndEmbedding` (`hidden_dim`,
    `patch_size`, `use_class_token`, `use_patch_bias`), which also takes the
    image size and channels; here they come from the input shape.

    Args:
        hidden_dim: `D`, the width of every token.
        patch_size: `P`, an int for square patches or `(P_h, P_w)`: the
            stride of the grid.
        kernel_size: `K`, the window each token projects, an int or
            `(K_h, K_w)`; None (the default) is `patch_size`, the paper's
            non-overlapping patches. Larger windows overlap; `K - P` must
            be even each way, for the same padding on both sides.
        use_class_token: put a learned class token in front of the patches.
        use_patch_bias: whether the projection has a bias.
        kernel_initializer: of the projection.
        position_initializer: of the `[N (+ 1), D]` position table.

    Call arguments:
        inputs: images `[B, H, W, C]`, channels last.

    Returns:
        `[B, N + 1, D]` with the class token first, or `[B, N, D]` without
        it, in the compute dtype. `grid_shape` gives `(H / P_h, W / P_w)`
        once built, for drawing the patches' attention as an image.

    Example:

    >>> images = keras.random.uniform((2, 28, 28, 1))
    >>> embed = PatchEmbedding(hidden_dim=64, patch_size=4)
    >>> tuple(embed(images).shape), embed.grid_shape
    ((2, 50, 64), (7, 7))
    """

    def __init__(
        self,
        hidden_dim,
        patch_size,
        kernel_size=None,
        use_class_token=True,
        use_patch_bias=True,
        kernel_initializer="glorot_uniform",
        position_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("hidden_dim", hidden_dim)
        self._patch = _pair("patch_size", patch_size)
        self._kernel = self._patch if kernel_size is None else _pair("kernel_size", kernel_size)
        if any(k < p or (k - p) % 2 for k, p in zip(self._kernel, self._patch)):
            raise ValueError(
                "kernel_size must be at least patch_size each way, and larger by an "
                f"even number of pixels (the same padding on both sides), received "
                f"kernel_size={kernel_size!r} and patch_size={patch_size!r}"
            )
        for name, value in (("use_class_token", use_class_token),
                            ("use_patch_bias", use_patch_bias)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be a bool, received {name}={value!r}")
        self.hidden_dim = hidden_dim
        self.patch_size = patch_size if isinstance(patch_size, int) else self._patch
        self.kernel_size = (kernel_size if kernel_size is None or isinstance(kernel_size, int)
                            else self._kernel)
        self.use_class_token = use_class_token
        self.use_patch_bias = use_patch_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.position_initializer = keras.initializers.get(
            position_initializer
            if position_initializer is not None
            else keras.initializers.RandomNormal(stddev=0.02)
        )
        self.grid_shape = None

    def build(self, inputs_shape):
        inputs_shape = tuple(inputs_shape)
        if len(inputs_shape) != 4 or any(d is None for d in inputs_shape[1:]):
            raise ValueError(
                "inputs must be images of shape [B, H, W, C] with H, W and C "
                f"known, received inputs.shape={inputs_shape}"
            )
        height, width = inputs_shape[1:3]
        if height % self._patch[0] or width % self._patch[1]:
            raise ValueError(
                f"the image's height and width ({height}, {width}) must be whole "
                f"multiples of patch_size={self.patch_size!r}, received "
                f"inputs.shape={inputs_shape}"
            )
        self.grid_shape = (height // self._patch[0], width // self._patch[1])
        margin = tuple((k - p) // 2 for k, p in zip(self._kernel, self._patch))
        # Explicit, even padding rather than "same", whose split of an odd
        # total differs between backends' conventions.
        self._padding = (
            keras.layers.ZeroPadding2D(margin, dtype=self.dtype_policy, name="patch_padding")
            if any(margin) else None
        )
        padded_shape = (inputs_shape[0], height + 2 * margin[0], width + 2 * margin[1],
                        inputs_shape[3])
        self._projection = keras.layers.Conv2D(
            self.hidden_dim,
            kernel_size=self._kernel,
            strides=self._patch,
            padding="valid",
            use_bias=self.use_patch_bias,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="patch_projection",
        )
        if self._padding is not None:
            self._padding.build(inputs_shape)
        self._projection.build(padded_shape)
        num_tokens = self.grid_shape[0] * self.grid_shape[1] + int(self.use_class_token)
        if self.use_class_token:
            self.class_token = self.add_weight(
                name="class_token", shape=(self.hidden_dim,), initializer="zeros"
            )
        self.position_embedding = self.add_weight(
            name="position_embedding",
            shape=(num_tokens, self.hidden_dim),
            initializer=clone_initializer(self.position_initializer, salt=1),
        )
        self.built = True

    def compute_output_shape(self, inputs_shape):
        grid = (inputs_shape[1] // self._patch[0]) * (inputs_shape[2] // self._patch[1])
        return (inputs_shape[0], grid + int(self.use_class_token), self.hidden_dim)

    def call(self, inputs):
        if self._padding is not None:
            inputs = self._padding(inputs)  # [B, H + K_h - P_h, W + K_w - P_w, C]
        patches = self._projection(inputs)  # [B, H/P_h, W/P_w, D]
        batch = ops.shape(patches)[0]
        tokens = ops.reshape(patches, (batch, -1, self.hidden_dim))  # [B, N, D], rows first
        if self.use_class_token:
            token = ops.cast(self.class_token, tokens.dtype)
            token = ops.broadcast_to(token[None, None, :], (batch, 1, self.hidden_dim))
            tokens = ops.concatenate([token, tokens], axis=1)  # [B, N + 1, D]
        return tokens + ops.cast(self.position_embedding, tokens.dtype)[None]

    def get_config(self):
        config = {
            "hidden_dim": self.hidden_dim,
            "patch_size": self.patch_size,
            "kernel_size": self.kernel_size,
            "use_class_token": self.use_class_token,
            "use_patch_bias": self.use_patch_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "position_initializer": keras.initializers.serialize(
                self.position_initializer
            ),
        }
        return {**super().get_config(), **config}
