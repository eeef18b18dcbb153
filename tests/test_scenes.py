import numpy as np
import pytest

from keras_attention.data.scenes import (
    CELLS,
    END_ID,
    MAX_CAPTION_LENGTH,
    PAD_ID,
    START_ID,
    WORDS,
    caption_ids,
    caption_of,
    digit_scenes,
    digit_word_positions,
    ids_to_caption,
    ink_box,
)

RNG = np.random.default_rng(0)


def _digits(n=30):
    """Digit images whose ink is a bar at a random place, labels cycling."""
    images = np.zeros((n, 28, 28), np.uint8)
    for i, image in enumerate(images):
        top, left = RNG.integers(2, 12), RNG.integers(2, 16)
        image[top:top + 12, left:left + 6] = 50 + i
    return images, np.arange(n) % 10


def _parse(caption):
    """(digits, cells) read back from a caption."""
    words = caption.replace(" , ", " and ").split(" and ")
    digits, cells = [], []
    for part in words:
        article, digit, at, row, column = part.split(" ")
        assert article == ("an" if digit == "8" else "a") and at == "at"
        digits.append(int(digit))
        cells.append(CELLS.index((row, column)))
    return digits, cells


def test_the_caption_says_what_the_scene_shows():
    images, labels = _digits()
    scenes = digit_scenes(images, labels, count=50, seed=3)
    for n, caption in enumerate(scenes.captions):
        shown = int((scenes.digits[n] >= 0).sum())
        assert 2 <= shown <= 4
        digits, cells = _parse(caption)
        assert digits == scenes.digits[n, :shown].tolist()
        assert cells == scenes.cells[n, :shown].tolist()
        assert cells == sorted(cells)  # reading order
        assert (scenes.digits[n, shown:] == -1).all() and (scenes.boxes[n, shown:] == -1).all()


def test_each_box_holds_its_digits_ink_and_nothing_else_is_inked():
    images, labels = _digits()
    scenes = digit_scenes(images, labels, count=40, seed=4)
    for n in range(40):
        inked = np.zeros((64, 64), bool)
        for k in range(int((scenes.digits[n] >= 0).sum())):
            top, left, bottom, right = scenes.boxes[n, k]
            # A bar of 12 x 6 pixels, inside the digit's cell.
            assert (bottom - top, right - left) == (12, 6)
            cell = scenes.cells[n, k]
            assert (top // 32, left // 32) == (cell // 2, cell % 2)
            assert (bottom - 1) // 32 == cell // 2 and (right - 1) // 32 == cell % 2
            assert (scenes.images[n, top:bottom, left:right] > 0).all()
            inked[top:bottom, left:right] = True
        assert not scenes.images[n][~inked].any()


def test_scenes_are_seeded():
    images, labels = _digits()
    one, two = digit_scenes(images, labels, 10, seed=5), digit_scenes(images, labels, 10, seed=5)
    other = digit_scenes(images, labels, 10, seed=6)
    np.testing.assert_array_equal(one.images, two.images)
    assert one.captions == two.captions
    assert one.captions != other.captions


def test_digit_counts_follow_the_bounds():
    images, labels = _digits()
    scenes = digit_scenes(images, labels, 200, seed=7, min_digits=1, max_digits=3)
    counts = (scenes.digits >= 0).sum(1)
    assert set(counts.tolist()) == {1, 2, 3}


def test_caption_grammar_by_hand():
    assert caption_of([7], [0]) == "a 7 at top left"
    assert caption_of([7, 8], [0, 3]) == "a 7 at top left and an 8 at bottom right"
    assert caption_of([1, 2, 3], [1, 2, 3]) == (
        "a 1 at top right , a 2 at bottom left and a 3 at bottom right")


def test_ids_round_trip_with_start_end_and_padding():
    captions = ["a 7 at top left and an 8 at bottom right", "a 1 at top right"]
    ids = caption_ids(captions)
    assert ids.shape == (2, MAX_CAPTION_LENGTH) and ids.dtype == np.int32
    # 11 words: start at 0, the words at 1 to 11, end at 12, then padding.
    assert ids[0, 0] == START_ID and ids[0, 12] == END_ID and (ids[0, 13:] == PAD_ID).all()
    assert [WORDS[i] for i in ids[1, 1:6]] == ["a", "1", "at", "top", "right"]
    assert [ids_to_caption(row[1:]) for row in ids] == captions
    # Generation stops at the first end: what follows is not read.
    assert ids_to_caption([WORDS.index("a"), END_ID, WORDS.index("7")]) == "a"


def test_the_longest_caption_fits():
    caption = caption_of([1, 2, 3, 4], [0, 1, 2, 3])
    assert len(caption.split()) + 2 == MAX_CAPTION_LENGTH
    caption_ids([caption])


def test_digit_word_positions():
    caption = "a 7 at top left , an 8 at top right and a 1 at bottom left"
    assert digit_word_positions(caption) == [1, 7, 13]


def test_ink_box():
    digit = np.zeros((28, 28), np.uint8)
    digit[5:9, 10:20] = 1
    assert ink_box(digit) == (5, 10, 9, 20)
    assert ink_box(np.zeros((28, 28), np.uint8)) == (0, 0, 28, 28)


@pytest.mark.parametrize("call,message", [
    (lambda i, l: digit_scenes(i.astype("float32"), l, 3), r"images must be uint8 digits"),
    (lambda i, l: digit_scenes(i, l[:-1], 3), r"labels must be \[N\] = \[30\] digits"),
    (lambda i, l: digit_scenes(i, l + 5, 3), r"labels must be \[N\] = \[30\] digits 0 to 9"),
    (lambda i, l: digit_scenes(i, l, 0), r"count must be a positive int, received count=0"),
    (lambda i, l: digit_scenes(i, l, 3, canvas=40), r"canvas must be even and hold a 28x28"),
    (lambda i, l: digit_scenes(i, l, 3, min_digits=3, max_digits=2), r"min_digits and max_digits"),
    (lambda i, l: digit_scenes(i, l, 3, max_digits=5), r"<= 4 \(a 2 x 2 grid\)"),
    (lambda i, l: caption_ids(["a 7 at the top"]), r"captions\[0\] has words outside the vocabulary: \['the'\]"),
    (lambda i, l: caption_ids(["a 7 at top left"], length=6), r"need length >= 7, received length=6"),
])
def test_bad_arguments_are_named(call, message):
    images, labels = _digits()
    with pytest.raises(ValueError, match=message):
        call(images, labels)


def test_captioning_arrays_are_the_images_scaled_and_the_ids_shifted():
    from keras_attention.data.scenes import captioning_arrays

    images = np.zeros((10, 28, 28), np.uint8)
    images[:, 8:20, 10:18] = 255
    made = digit_scenes(images, np.arange(10), count=3, seed=0)
    pixels, decoder_inputs, targets = captioning_arrays(made)
    assert pixels.dtype == np.float32 and pixels.shape == (3, 64, 64, 1)
    np.testing.assert_array_equal(pixels[..., 0] * 255, made.images)
    ids = caption_ids(made.captions)
    np.testing.assert_array_equal(decoder_inputs, ids[:, :-1])
    np.testing.assert_array_equal(targets, ids[:, 1:])


def test_grounding_counts_peaks_on_the_named_digits_box():
    from keras_attention.data.scenes import Scenes, attention_grounding

    # One 64 x 64 scene, an 8 x 8 grid of 8-pixel cells. The "1" is a thin
    # stroke, rows 8-28 and columns 42-46: the cell at row 2, column 5
    # (pixels 16-24 x 40-48) has 8 x 4 = 32 of its 64 pixels on it, half:
    # on the digit. The cell at column 6 (48-56) has none. The "6" is boxed
    # at rows 36-60, columns 4-24: cell (5, 1) lies inside it.
    scenes = Scenes(
        images=np.zeros((1, 64, 64), np.uint8),
        captions=["a 1 at top right and a 6 at bottom left"],
        digits=np.array([[1, 6, -1, -1]]),
        boxes=np.array([[[8, 42, 28, 46], [36, 4, 60, 24], [-1] * 4, [-1] * 4]]),
        cells=np.array([[1, 2, -1, -1]]),
    )
    weights = np.full((1, 12, 64), 0.01)
    weights[0, 1, 2 * 8 + 5] = 1  # "1" is word 1: on its stroke
    weights[0, 7, 0] = 1  # "6" is word 7: the top-left cell, off its digit
    assert attention_grounding(weights, scenes, (8, 8)) == (1, 2)
    weights[0, 7, 5 * 8 + 1] = 2  # now on it
    assert attention_grounding(weights, scenes, (8, 8)) == (2, 2)
    weights[0, 1, 2 * 8 + 6] = 2  # the cell beside the stroke: off it
    assert attention_grounding(weights, scenes, (8, 8)) == (1, 2)
    # A quarter of a cell on the box is not enough: rows 8-28 against the
    # cell at row 3 (24-32) overlap 4 rows, times 4 columns: 16 of 64.
    weights[0, 1, 3 * 8 + 5] = 3
    assert attention_grounding(weights, scenes, (8, 8)) == (1, 2)
    with pytest.raises(ValueError, match=r"weights must be \[N, T, L\] = \[1, T, 64\]"):
        attention_grounding(weights[:, :, :32], scenes, (8, 8))
    with pytest.raises(ValueError, match=r"names a digit at step 7, past the weights' 5 steps"):
        attention_grounding(weights[:, :5], scenes, (8, 8))
    # The looser test asks only for the digit's layout cell, a quarter of
    # the canvas: cell (3, 5) is in the top right, the "1"'s; (5, 1) in the
    # bottom left, the "6"'s.
    assert attention_grounding(weights, scenes, (8, 8), region="cell") == (2, 2)
    weights[0, 1, 3 * 8 + 3] = 4  # top left: the wrong quarter
    weights[0, 7, 4 * 8 + 3] = 4  # row 4 (32-40) column 3: bottom left, the "6"'s
    assert attention_grounding(weights, scenes, (8, 8), region="cell") == (1, 2)
    assert attention_grounding(weights, scenes, (8, 8)) == (0, 2)
    with pytest.raises(ValueError, match="region must be 'box' or 'cell', received region='ink'"):
        attention_grounding(weights, scenes, (8, 8), region="ink")
