"""Image classifiers: a Vision Transformer and the small CNN it is measured
against, and the augmented batches both train on.

Shapes: `B` batch, `H, W, C` an image's height, width and channels, `N`
patches, `D` features, `K` classes.

Images go in as float32 `[B, H, W, C]` in `[0, 1]` (MNIST's bytes divided by
255), channels last, and both models give logits `[B, K]` in float32, for
`SparseCategoricalCrossentropy(from_logits=True)`.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_attention.layers import PatchEmbedding, TransformerEncoderBlock
from keras_attention.layers.patch_embedding import _pair
from keras_attention.layers._random import HashDropout
from keras_attention.layers._validation import check_positive_int, check_rate
from keras_attention.layers._quantizable_norm import QuantizableLayerNormalization
from keras_attention.models._optimizer import build_optimizer


def _check_image_shape(image_shape):
    if (
        not isinstance(image_shape, (tuple, list))
        or len(image_shape) != 3
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0
                   for d in image_shape)
    ):
        raise ValueError(
            "image_shape must be (height, width, channels), three positive ints, "
            f"received image_shape={image_shape!r}"
        )
    return tuple(image_shape)


def vit_classifier(
    image_shape=(28, 28, 1),
    num_classes=10,
    patch_size=4,
    patch_kernel_size=None,
    stem_filters=None,
    hidden_dim=64,
    num_heads=4,
    num_blocks=6,
    intermediate_dim=128,
    dropout=0.1,
    dtype=None,
    name="vit_classifier",
):
    """A Vision Transformer (Dosovitskiy et al. 2021) sized for small images.

    The paper's ViT with pre-LN blocks (section 3.1, equations 1 to 4): the
    image cut into `patch_size` patches and projected (`PatchEmbedding`,
    with a class token and learned positions), `num_blocks`
    `TransformerEncoderBlock`s with `normalize_first=True` and GELU, a layer
    normalisation after the last block, and a linear head on the class
    token's final state. The defaults fit 28x28 MNIST: 7x7 patches of 4x4,
    D=64, 4 heads, 6 blocks, about 208,000 parameters.

    Args:
        image_shape: `(H, W, C)`, a whole number of patches each way.
        num_classes: `K`.
        patch_size: an int, or `(P_h, P_w)`.
        patch_kernel_size: None for the paper's non-overlapping patches, or
            a larger window each patch token projects
            (`PatchEmbedding(kernel_size=...)`): 8 with 4x4 patches makes
            neighbouring tokens share half their pixels, a locality prior
            worth about 2 points on the 8,000-image MNIST split
            (docs/benchmarks.md, Images).
        stem_filters: None, or the channels of a convolutional stem: the
            paper's hybrid (section 3.1, "Hybrid Architecture"), its
            patches cut from a CNN's feature map rather than the image.
            Each entry is a 3x3 convolution of stride 2 with ReLU (padded
            by one pixel each side), so `patch_size` must be a multiple of
            `2 ** len(stem_filters)`: with `(32, 64)` and 4x4 patches,
            the 7x7 map's cells are the patches. Xiao et al. (2021) show
            such a stem helps a ViT train; they drop one block to pay for
            it.
        hidden_dim, num_heads, num_blocks, intermediate_dim: the encoder.
        dropout: of the attention weights, of each block's sublayers and
            of the patch embeddings (as the paper applies it after adding
            the positions).
        dtype: the dtype policy of every layer but the float32 head (None:
            Keras's global policy, `"mixed_float16"` for instance).
        name: the model's name.

    Returns:
        An uncompiled functional `keras.Model`: images `[B, H, W, C]` to
        logits `[B, K]` (float32). Its layer `"patches"` is the
        `PatchEmbedding` and `"block_{i}"` the blocks, for reading their
        attention (`vit_attention`).

    Example:

    >>> model = vit_classifier(num_blocks=2)
    >>> tuple(model(np.zeros((3, 28, 28, 1), "float32")).shape)
    (3, 10)
    """
    image_shape = _check_image_shape(image_shape)
    for arg, value in (("num_classes", num_classes), ("hidden_dim", hidden_dim),
                       ("num_heads", num_heads), ("num_blocks", num_blocks),
                       ("intermediate_dim", intermediate_dim)):
        check_positive_int(arg, value)
    check_rate("dropout", dropout)
    if hidden_dim % num_heads:
        raise ValueError(
            f"hidden_dim must be a multiple of num_heads, received hidden_dim="
            f"{hidden_dim} and num_heads={num_heads}"
        )
    stem_filters = tuple(stem_filters or ())
    for value in stem_filters:
        check_positive_int("stem_filters", value)
    shrink = 2 ** len(stem_filters)
    patch = _pair("patch_size", patch_size)
    if any(p % shrink for p in patch):
        raise ValueError(
            f"patch_size must be a multiple of {shrink} (the stem's {len(stem_filters)} "
            f"convolutions of stride 2, stem_filters={list(stem_filters)}), received "
            f"patch_size={patch_size!r}")
    images = keras.Input(image_shape, name="images")
    x = images
    for i, width in enumerate(stem_filters):
        # Even padding: "same" splits it by each backend's convention.
        x = keras.layers.ZeroPadding2D(1, dtype=dtype, name=f"stem_{i}_padding")(x)
        x = keras.layers.Conv2D(width, 3, strides=2, activation="relu", dtype=dtype,
                                name=f"stem_{i}")(x)  # [B, H / 2^(i+1), W / 2^(i+1), C_i]
    x = PatchEmbedding(hidden_dim, tuple(p // shrink for p in patch) if stem_filters
                       else patch_size, kernel_size=patch_kernel_size, dtype=dtype,
                       name="patches")(x)
    x = HashDropout(dropout, dtype=dtype, name="patch_dropout")(x)  # [B, N + 1, D]
    for i in range(num_blocks):
        x = TransformerEncoderBlock(
            intermediate_dim, num_heads, dropout=dropout, activation="gelu",
            normalize_first=True, dtype=dtype, name=f"block_{i}",
        )(x)  # [B, N + 1, D]
    # Pre-LN blocks leave their sum unnormalised: one more LayerNorm, in
    # float32, as the mixed-precision guide does for normalisations.
    x = QuantizableLayerNormalization(epsilon=1e-6, dtype="float32", name="final_norm")(x)
    class_state = x[:, 0]  # [B, D], the class token's
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(class_state)
    return keras.Model(images, logits, name=name)


def cnn_classifier(
    image_shape=(28, 28, 1),
    num_classes=10,
    filters=(32, 64),
    hidden_units=48,
    dropout=0.1,
    dtype=None,
    name="cnn_classifier",
):
    """A small convolutional network, the baseline the ViT is measured against.

    For each entry of `filters`, two 3x3 convolutions with ReLU ("same"
    padding) and a 2x2 max pooling, as in the VGG-style networks that reach
    99% on MNIST; then the feature map flattened, a hidden `Dense` layer of
    `hidden_units` with ReLU and dropout, and the linear head. The defaults
    give about 216,000 parameters, near `vit_classifier`'s 208,000, so
    that the two compare at a similar size.

    Args:
        image_shape: `(H, W, C)`.
        num_classes: `K`.
        filters: the channels of each stage; each stage halves `H` and `W`.
        hidden_units: the hidden layer's width.
        dropout: before the hidden and the output layer.
        dtype: the dtype policy of every layer but the float32 head.
        name: the model's name.

    Returns:
        An uncompiled functional `keras.Model`: images `[B, H, W, C]` to
        logits `[B, K]` (float32).

    Example:

    >>> model = cnn_classifier()
    >>> tuple(model(np.zeros((3, 28, 28, 1), "float32")).shape)
    (3, 10)
    """
    image_shape = _check_image_shape(image_shape)
    check_positive_int("num_classes", num_classes)
    check_positive_int("hidden_units", hidden_units)
    check_rate("dropout", dropout)
    if not isinstance(filters, (tuple, list)) or not filters:
        raise ValueError(
            f"filters must be a non-empty list of positive ints, received filters={filters!r}"
        )
    for value in filters:
        check_positive_int("filters", value)
    shrink = 2 ** len(filters)
    if image_shape[0] < shrink or image_shape[1] < shrink:
        raise ValueError(
            f"image_shape={image_shape} is too small for {len(filters)} stages of "
            f"2x2 pooling (filters={filters!r}): height and width must be at "
            f"least {shrink}"
        )
    images = keras.Input(image_shape, name="images")
    x = images
    for stage, width in enumerate(filters):
        for j in range(2):
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu",
                                    dtype=dtype, name=f"conv_{stage}_{j}")(x)
        x = keras.layers.MaxPooling2D(2, dtype=dtype, name=f"pool_{stage}")(x)
    x = keras.layers.Flatten(dtype=dtype, name="flatten")(x)
    x = HashDropout(dropout, dtype=dtype, name="dropout_0")(x)
    x = keras.layers.Dense(hidden_units, activation="relu", dtype=dtype, name="hidden")(x)
    x = HashDropout(dropout, dtype=dtype, name="dropout_1")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(images, logits, name=name)


def compile_image_classifier(
    model, learning_rate=1e-3, weight_decay=0.05, total_steps=None, warmup_fraction=0.05,
    jit_compile=True,
):
    """`model.compile` with the recipe both classifiers train with here.

    AdamW (Loshchilov and Hutter 2019), the optimiser ViTs are trained with
    (DeiT, Touvron et al. 2021: weight decay 0.05); with `total_steps`, the
    learning rate rises linearly over the first `warmup_fraction` of them and
    then follows a cosine down to zero, as DeiT's schedule does. Sparse
    cross-entropy on the logits, accuracy as the metric. One recipe for both
    models keeps the comparison about the architectures.

    Args:
        model: a `vit_classifier` or `cnn_classifier` (logits out).
        learning_rate: the peak learning rate.
        weight_decay: AdamW's decoupled weight decay.
        total_steps: the training steps the schedule spans; None keeps the
            learning rate constant.
        warmup_fraction: the share of `total_steps` spent warming up.
        jit_compile: compile the steps with XLA.

    Returns:
        `model`, compiled.
    """
    if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool) or not (
        learning_rate > 0
    ):
        raise ValueError(
            f"learning_rate must be a positive number, received learning_rate={learning_rate!r}"
        )
    if total_steps is not None:
        check_positive_int("total_steps", total_steps)
        check_rate("warmup_fraction", warmup_fraction)
        warmup = int(total_steps * warmup_fraction)
        learning_rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else learning_rate,
            decay_steps=total_steps - warmup,
            warmup_target=learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )
    return build_optimizer(model)


class ImageBatches(keras.utils.PyDataset):
    """Images and labels in shuffled batches, with small random shifts and
    rotations: the augmentation the field trains small ViTs with on MNIST.

    The augmentation runs here, on each batch as it is drawn, with Keras's
    own `RandomRotation` and `RandomTranslation` (zeros fill what moves in,
    MNIST's background), and not in the model: those layers cannot be
    compiled by XLA, and a model called without `training=False` would
    augment its own test images. Any backend; a seed gives the same batches
    twice.

    Args:
        images: `[N, H, W, C]` float32 in `[0, 1]`, or uint8 `[N, H, W]`
            (MNIST's bytes: scaled by 1/255, a channel added).
        labels: `[N]` ints.
        batch_size: images per batch; the last batch may be shorter.
        rotation: the largest rotation, as a fraction of a full turn
            (0.03: about 11 degrees); 0 for none.
        shift: the largest shift, as a fraction of the height and width
            (0.1: about 3 pixels of 28); 0 for none.
        shuffle: draw a new order every epoch.
        seed: of the order and the augmentation.
    """

    def __init__(self, images, labels, batch_size=128, rotation=0.03, shift=0.1,
                 shuffle=True, seed=0):
        super().__init__()
        check_positive_int("batch_size", batch_size)
        self.images = as_model_images(images, "images")
        self.labels = np.asarray(labels).astype("int32")
        if self.labels.shape != (len(self.images),):
            raise ValueError(
                f"labels must have shape [N] = [{len(self.images)}], one per image, "
                f"received labels.shape={self.labels.shape}"
            )
        for arg, value in (("rotation", rotation), ("shift", shift)):
            if not isinstance(value, (int, float)) or not 0 <= value < 0.5:
                raise ValueError(f"{arg} must be a fraction in [0, 0.5), received {arg}={value!r}")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._rows = np.arange(len(self.images))
        steps = []
        if rotation:
            steps.append(keras.layers.RandomRotation(rotation, fill_mode="constant", seed=seed))
        if shift:
            steps.append(keras.layers.RandomTranslation(
                shift, shift, fill_mode="constant", seed=seed + 1))
        self._augment = keras.Sequential(steps) if steps else None
        self.on_epoch_end()

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index):
        rows = self._rows[index * self.batch_size:(index + 1) * self.batch_size]
        images = self.images[rows]
        if self._augment is not None:
            images = ops.convert_to_numpy(self._augment(images, training=True))
        return images.astype("float32"), self.labels[rows]

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self._rows)


def as_model_images(images, name="images"):
    """Images as the classifiers take them: float32 `[N, H, W, C]` in `[0, 1]`.

    uint8 `[N, H, W]` (MNIST's bytes) is scaled by 1/255 and given a channel;
    float images must already lie in `[0, 1]`, which is checked so that
    bytes passed as floats (0 to 255) are refused rather than trained on.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype("float32") / 255.0
        if images.ndim == 3:
            images = images[..., None]
    if images.ndim != 4:
        raise ValueError(
            f"{name} must be [N, H, W, C] floats in [0, 1] or [N, H, W] uint8 "
            f"bytes, received {name}.shape={images.shape} ({images.dtype})"
        )
    images = images.astype("float32")
    finite = np.isfinite(images)
    if not finite.all():
        raise ValueError(
            f"{name} must be finite, received {np.size(finite) - np.count_nonzero(finite)} "
            f"NaN or infinite values"
        )
    if images.size and (images.min() < 0 or images.max() > 1):
        raise ValueError(
            f"{name} must lie in [0, 1] (bytes divided by 255), received values "
            f"from {images.min()} to {images.max()}"
        )
    return images


def image_task_metadata(labels=tuple(str(d) for d in range(10))):
    """The `task` an image classifier's export carries to the device.

    `edge_demo` reads it (`python -m edge_demo vit.tflite --image digit.png`):
    kind `"image_classification"`, a label per class, and the scale from an
    8-bit image's bytes to the models' `[0, 1]`.
    """
    labels = [str(label) for label in labels]
    if not labels:
        raise ValueError("labels must name at least one class, received labels=[]")
    return {"kind": "image_classification", "labels": labels, "pixel_scale": 1 / 255}


def vit_attention(model, images):
    """The class token's attention over the patches, per block.

    Reruns the `PatchEmbedding` and the blocks of a `vit_classifier` with
    `return_attention_scores`, in inference mode.

    Args:
        model: a `vit_classifier`.
        images: `[B, H, W, C]` as the model takes them.

    Returns:
        numpy float32 `[L, B, H_heads, gh, gw]`: for each of the `L` blocks,
        each image and head, the weight the class token gives each patch,
        laid out on the patch grid `(gh, gw)`.
    """
    patches = model.get_layer("patches")
    blocks = [layer for layer in model.layers if isinstance(layer, TransformerEncoderBlock)]
    if not patches.use_class_token:
        raise ValueError("vit_attention needs a model whose PatchEmbedding has a class token")
    # From the images to the patches' tokens, through a stem if there is one.
    embed = keras.Model(model.inputs[0], patches.output)
    x = embed(as_model_images(images), training=False)  # [B, N + 1, D]
    maps = []
    for block in blocks:
        x, scores = block(x, return_attention_scores=True, training=False)  # [B, h, N+1, N+1]
        scores = ops.convert_to_numpy(ops.cast(scores[:, :, 0, 1:], "float32"))
        maps.append(scores.reshape(scores.shape[:2] + tuple(patches.grid_shape)))
    return np.stack(maps)
