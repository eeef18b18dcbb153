"""Captioned scenes of MNIST digits: where each digit is, said in words.

A generated captioning set for "Show, Attend and Tell" (Xu et al. 2015):
each scene is a `canvas x canvas` black image (64 x 64 by default) cut into
a 2 x 2 grid of cells, with 2 to 4 digits, one to a cell, each shifted by a
few pixels inside its cell. The caption reads the digits in reading order
(top row first, left to right) and says where each is:

    a 7 at top left , a 3 at top right and a 1 at bottom right

so every word comes from the layout: which digits, in which cells ("an"
before an 8, as it is said). Each
scene also records its digits' boxes (the tight box around the ink, in
pixels), so that a captioner's attention can be checked against where the
digit it names really is (`digit_word_positions`, `grounding`).

Scenes are seeded: the same images, labels, count and seed give the same
scenes. Draw the training scenes from training digits and the held-out
scenes from held-out digits, so that no held-out scene shows a digit image
seen in training.

Example:

>>> import numpy as np
>>> digits = np.zeros((10, 28, 28), np.uint8)
>>> digits[:, 8:20, 10:18] = 255
>>> scenes = digit_scenes(digits, np.arange(10), count=3, seed=0)
>>> scenes.images.shape, scenes.boxes.shape
((3, 64, 64), (3, 4, 4))
>>> all(caption.split()[0] in ("a", "an") for caption in scenes.captions)
True
"""

import dataclasses

import numpy as np

CELLS = (("top", "left"), ("top", "right"), ("bottom", "left"), ("bottom", "right"))
# The caption's words, and the ids `caption_ids` gives them: padding, start
# and end first, as the translation vocabularies do.
PAD, START, END = "<pad>", "<start>", "<end>"
WORDS = (PAD, START, END, "a", "an", "at", "and", ",", "top", "bottom", "left", "right",
         *(str(d) for d in range(10)))
PAD_ID, START_ID, END_ID = 0, 1, 2
# The longest caption: four digits of 5 words, 3 separators, start and end.
MAX_CAPTION_LENGTH = 4 * 5 + 3 + 2


@dataclasses.dataclass
class Scenes:
    """Generated scenes and what they show.

    Attributes:
        images: uint8 `[N, canvas, canvas]`.
        captions: `N` strings, words separated by single spaces.
        digits: int32 `[N, 4]`, the digits in caption order, -1 after the
            last.
        boxes: int32 `[N, 4, 4]`, each digit's ink box `(top, left, bottom,
            right)` in pixels, bottom and right exclusive; -1 after the last.
        cells: int32 `[N, 4]`, each digit's cell (0 top left, 1 top right,
            2 bottom left, 3 bottom right), -1 after the last.
    """

    images: np.ndarray
    captions: list
    digits: np.ndarray
    boxes: np.ndarray
    cells: np.ndarray


def _check(images, labels, count, canvas, min_digits, max_digits, seed):
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"images must be uint8 digits [N, h, w], received {images.dtype.name} "
            f"{images.shape}")
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu" or (
        labels.size and not (0 <= labels.min() and labels.max() <= 9)
    ):
        raise ValueError(
            f"labels must be [N] = [{len(images)}] digits 0 to 9, received "
            f"{labels.dtype.name} {labels.shape}")
    if not len(images):
        raise ValueError("images must hold at least one digit, received none")
    for name, value in (("count", count), ("canvas", canvas), ("seed", seed)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < (
            0 if name == "seed" else 1
        ):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'seed' else 'positive'}"
                             f" int, received {name}={value!r}")
    if canvas % 2 or canvas // 2 < images.shape[1] or canvas // 2 < images.shape[2]:
        raise ValueError(
            f"canvas must be even and hold a {images.shape[1]}x{images.shape[2]} digit in "
            f"each half, received canvas={canvas}")
    if not (isinstance(min_digits, int) and isinstance(max_digits, int)
            and 1 <= min_digits <= max_digits <= 4):
        raise ValueError(
            "min_digits and max_digits must be ints with 1 <= min_digits <= max_digits "
            f"<= 4 (a 2 x 2 grid), received min_digits={min_digits!r}, "
            f"max_digits={max_digits!r}")
    return images, labels


def ink_box(digit, threshold=0):
    """`(top, left, bottom, right)` of the pixels above `threshold`, bottom
    and right exclusive; the whole image where there is no ink."""
    rows = np.flatnonzero((digit > threshold).any(axis=1))
    columns = np.flatnonzero((digit > threshold).any(axis=0))
    if not rows.size:
        return 0, 0, digit.shape[0], digit.shape[1]
    return int(rows[0]), int(columns[0]), int(rows[-1]) + 1, int(columns[-1]) + 1


def caption_of(digits, cells):
    """The caption of digits in cells, in caption order."""
    parts = [f"{'an' if digit == 8 else 'a'} {digit} at {' '.join(CELLS[cell])}"
             for digit, cell in zip(digits, cells)]
    if len(parts) == 1:
        return parts[0]
    return " , ".join(parts[:-1]) + " and " + parts[-1]


def digit_scenes(images, labels, count, seed=0, canvas=64, min_digits=2, max_digits=4):
    """`count` scenes of digits drawn from `images` and `labels`.

    Each scene draws how many digits it shows (uniform in `[min_digits,
    max_digits]`), which cells they take, which digit images (with
    replacement across scenes), and each digit's shift within its cell
    (uniform, as far as the cell leaves room).

    Args:
        images: uint8 `[N, h, w]` digit images (MNIST's 28 x 28).
        labels: `[N]` their digits.
        count: scenes to make.
        seed: of every draw.
        canvas: the scenes' height and width, even, at least `2 h`.
        min_digits, max_digits: digits per scene, 1 to 4.

    Returns:
        `Scenes`.
    """
    images, labels = _check(images, labels, count, canvas, min_digits, max_digits, seed)
    rng = np.random.default_rng(seed)
    half = canvas // 2
    height, width = images.shape[1:]
    scenes = np.zeros((count, canvas, canvas), np.uint8)
    digits = np.full((count, 4), -1, np.int32)
    boxes = np.full((count, 4, 4), -1, np.int32)
    cells = np.full((count, 4), -1, np.int32)
    captions = []
    for n in range(count):
        shown = int(rng.integers(min_digits, max_digits + 1))
        chosen = np.sort(rng.choice(4, shown, replace=False))  # reading order
        for k, cell in enumerate(chosen):
            index = int(rng.integers(len(images)))
            top = (cell // 2) * half + int(rng.integers(0, half - height + 1))
            left = (cell % 2) * half + int(rng.integers(0, half - width + 1))
            scenes[n, top:top + height, left:left + width] = images[index]
            box = ink_box(images[index])
            boxes[n, k] = (top + box[0], left + box[1], top + box[2], left + box[3])
            digits[n, k], cells[n, k] = labels[index], cell
        captions.append(caption_of(digits[n, :shown], chosen))
    return Scenes(scenes, captions, digits, boxes, cells)


def caption_ids(captions, length=MAX_CAPTION_LENGTH):
    """int32 `[N, length]`: start, the words' ids, end, then padding."""
    ids = np.full((len(captions), length), PAD_ID, np.int32)
    index = {word: i for i, word in enumerate(WORDS)}
    for n, caption in enumerate(captions):
        words = caption.split(" ")
        unknown = [w for w in words if w not in index or w in (PAD, START, END)]
        if unknown:
            raise ValueError(f"captions[{n}] has words outside the vocabulary: {unknown}")
        if len(words) + 2 > length:
            raise ValueError(
                f"captions[{n}] has {len(words)} words; with start and end they need "
                f"length >= {len(words) + 2}, received length={length}")
        ids[n, :len(words) + 2] = [START_ID, *(index[w] for w in words), END_ID]
    return ids


def captioning_arrays(scenes):
    """`(images, decoder_inputs, targets)` of `scenes` for a captioner's
    `fit`: float32 images `[N, canvas, canvas, 1]` in `[0, 1]`, and the
    caption ids (`caption_ids`) without their last and first column,
    `[N, MAX_CAPTION_LENGTH - 1]` each (padding targets are id 0)."""
    ids = caption_ids(scenes.captions)
    images = (scenes.images[..., None] / 255.0).astype(np.float32)
    return images, ids[:, :-1], ids[:, 1:]


def ids_to_caption(ids):
    """The caption of generated ids: up to the first end, without start or
    padding."""
    words = []
    for i in np.asarray(ids).tolist():
        if i == END_ID:
            break
        if i not in (PAD_ID, START_ID):
            words.append(WORDS[i])
    return " ".join(words)


def digit_word_positions(caption):
    """The word positions of the digits in `caption` (0 is its first word),
    in order: the `k`th is where the `k`th digit of `Scenes.digits` is
    named."""
    return [i for i, word in enumerate(caption.split(" ")) if word.isdigit()]


def attention_grounding(weights, scenes, grid_shape, region="box"):
    """The share of digit words whose attention peak lies on that digit.

    For the `k`th digit word of each scene's caption, the attention of the
    step that emits it (`weights[n, position]`, the caption's words at steps
    `0, 1, ...`) peaks at one feature cell; it counts as grounded when at
    least half of that cell's square, in pixels, lies inside the digit's
    ink box. Half, not the cell's centre: the cells are 8 pixels wide and a
    "1" can be 4, so a centre test would fail a peak on the stroke itself.
    This asks whether the model looks where the word points, which a
    correct caption alone does not show (Liu et al. 2017 measure "attention
    correctness" the same way, on the reference captions).

    With `region="cell"`, the looser test: the peak's centre lies in the
    digit's cell of the canvas's 2 x 2 layout (a quarter of the canvas,
    where the position words point), on the ink or not.

    Args:
        weights: `[N, T, L]` attention over the `L = h w` cells at each
            caption step, from teacher forcing on `scenes.captions` (e.g.
            `AttentiveCaptioner.attention_weights(images, decoder_inputs)`).
        scenes: the `Scenes` the weights are of.
        grid_shape: `(h, w)` of the cells, which tile the canvas evenly.
        region: `"box"` (the digit's ink box) or `"cell"` (its layout
            cell).

    Returns:
        `(grounded, total)`: digit words whose peak is on their digit, and
        all digit words.
    """
    if region not in ("box", "cell"):
        raise ValueError(f"region must be 'box' or 'cell', received region={region!r}")
    weights = np.asarray(weights)
    height, width = grid_shape
    canvas = scenes.images.shape[1:3]
    if weights.ndim != 3 or weights.shape[0] != len(scenes.captions) or (
        weights.shape[2] != height * width
    ):
        raise ValueError(
            f"weights must be [N, T, L] = [{len(scenes.captions)}, T, {height * width}], "
            f"received weights.shape={weights.shape}")
    cell_height, cell_width = canvas[0] / height, canvas[1] / width
    grounded = total = 0
    for n, caption in enumerate(scenes.captions):
        for k, position in enumerate(digit_word_positions(caption)):
            if position >= weights.shape[1]:
                raise ValueError(
                    f"captions[{n}] names a digit at step {position}, past the "
                    f"weights' {weights.shape[1]} steps")
            row, column = divmod(int(np.argmax(weights[n, position])), width)
            if region == "cell":
                below = (row + 0.5) * cell_height >= canvas[0] / 2
                beside = (column + 0.5) * cell_width >= canvas[1] / 2
                grounded += bool(2 * below + beside == scenes.cells[n, k])
                total += 1
                continue
            top, left, bottom, right = scenes.boxes[n, k]
            overlap_y = min(bottom, (row + 1) * cell_height) - max(top, row * cell_height)
            overlap_x = min(right, (column + 1) * cell_width) - max(left, column * cell_width)
            inside = max(overlap_y, 0) * max(overlap_x, 0)
            grounded += bool(inside >= 0.5 * cell_height * cell_width)
            total += 1
    return grounded, total
