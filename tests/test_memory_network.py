import re

import keras
import numpy as np
import pytest

from keras_attention.layers import MemoryNetwork
from keras_attention.layers.memory_network import position_encoding, recency
from tests import harness

RNG = np.random.default_rng(0)
B, M, L, V, A, D, K = 3, 5, 4, 12, 6, 8, 3


def _story():
    """Word ids `[B, M, L]` with padded words, empty slots between and after
    the sentences, and one story with no sentence."""
    story = RNG.integers(1, V, size=(B, M, L)).astype("int32")
    story[:, :, 3] = 0  # every sentence has at most 3 words
    story[0, 1, 2] = 0  # a sentence of 2 words
    story[0, 4] = 0  # an empty last slot
    story[1, 2] = 0  # an empty slot between sentences
    story[2] = 0  # no sentence at all
    return story


STORY = _story()
QUESTION = RNG.integers(1, V, size=(B, L)).astype("int32")
QUESTION[:, 3] = 0
# The word of each answer class, out of order: class 0 is word 7, ...
ANSWER_WORDS = (7, 2, 11, 5, 3, 9)

CASES = [
    harness.LayerCase(
        name="adjacent_position_temporal",
        cls=MemoryNetwork,
        init_kwargs=dict(vocabulary_size=V, num_answers=A, hidden_dim=D, memory_size=M,
                         num_hops=K),
        inputs={"story": STORY, "question": QUESTION},
        call_kwargs={"return_attention_scores": True},
        # E_0..E_3 [12, 8], T_0..T_3 [5, 8], W [8, 6]
        trainable_weights=2 * (K + 1) + 1,
        trainable_params=(K + 1) * (V * D + M * D) + D * A,
    ),
    harness.LayerCase(
        name="layer_wise_bag_of_words",
        cls=MemoryNetwork,
        init_kwargs=dict(vocabulary_size=V, num_answers=A, hidden_dim=D, memory_size=M,
                         num_hops=2, weight_tying="layer_wise",
                         sentence_encoding="bag_of_words", temporal_encoding=False),
        inputs={"story": STORY, "question": QUESTION},
        # A, C, B [12, 8], H [8, 8], W [8, 6]
        trainable_weights=5,
        trainable_params=3 * V * D + D * D + D * A,
    ),
    harness.LayerCase(
        name="layer_wise_temporal_linear_start",
        cls=MemoryNetwork,
        init_kwargs=dict(vocabulary_size=V, num_answers=A, hidden_dim=D, memory_size=M,
                         num_hops=2, weight_tying="layer_wise", linear_start=True),
        inputs={"story": STORY, "question": QUESTION},
        call_kwargs={"return_attention_scores": True},
        # A, C, B [12, 8], T_A, T_C [5, 8], H [8, 8], W [8, 6]
        trainable_weights=7,
        trainable_params=3 * V * D + 2 * M * D + D * D + D * A,
        has_softmax=False,  # linear start: the hops' softmax is off
    ),
    harness.LayerCase(
        name="adjacent_answers_tied_to_words",
        cls=MemoryNetwork,
        init_kwargs=dict(vocabulary_size=V, num_answers=A, hidden_dim=D, memory_size=M,
                         num_hops=K, answer_word_ids=ANSWER_WORDS),
        inputs={"story": STORY, "question": QUESTION},
        call_kwargs={"return_attention_scores": True},
        # E_0..E_3 [12, 8], T_0..T_3 [5, 8]; no W: the answers read E_3
        trainable_weights=2 * (K + 1),
        trainable_params=(K + 1) * (V * D + M * D),
    ),
]


@harness.parametrize(CASES)
def test_harness(case, check, tmp_path):
    check(case, tmp_path)


# -- an independent reading of the paper's equations, in numpy -----------------


def _reference(layer, story, question, story_mask=None):
    """MemN2N by the paper's equations, sentence by sentence, from the
    layer's weights: the logits and each hop's weights."""
    w = {v.path.split("/")[-1]: keras.ops.convert_to_numpy(v) for v in layer.weights}
    K, d = layer.num_hops, layer.hidden_dim
    if layer.weight_tying == "adjacent":
        A = [w[f"embeddings_{k}"] for k in range(K)]
        C = [w[f"embeddings_{k + 1}"] for k in range(K)]
        Bq = w["embeddings_0"]
        TA = [w.get(f"temporal_{k}") for k in range(K)]
        TC = [w.get(f"temporal_{k + 1}") for k in range(K)]
    else:
        A, C = [w["input_embeddings"]] * K, [w["output_embeddings"]] * K
        Bq = w["question_embeddings"]
        TA, TC = [w.get("input_temporal")] * K, [w.get("output_temporal")] * K

    def sentence(E, ids):
        words = [i for i in ids if i != 0]
        J, total = len(words), np.zeros(d)
        for j, word in enumerate(words, start=1):
            if layer.sentence_encoding == "position":
                l = np.array([(1 - j / J) - (k / d) * (1 - 2 * j / J) for k in range(1, d + 1)])
            else:
                l = np.ones(d)
            total += l * E[word]
        return total

    logits, hops = [], []
    for b in range(len(story)):
        slots = [i for i in range(story.shape[1]) if story[b, i].any()
                 and (story_mask is None or story_mask[b, i])]
        u = sentence(Bq, question[b])
        weights_b = []
        for k in range(K):
            m = {i: sentence(A[k], story[b, i]) for i in slots}
            c = {i: sentence(C[k], story[b, i]) for i in slots}
            if layer.temporal_encoding:
                for age, i in enumerate(reversed(slots)):  # the newest is 0
                    m[i] = m[i] + TA[k][age]
                    c[i] = c[i] + TC[k][age]
            p = np.zeros(story.shape[1])
            if slots:
                scores = np.array([u @ m[i] for i in slots])
                e = np.exp(scores - scores.max())
                p[slots] = e / e.sum() if not layer.linear_start else scores
            o = sum((p[i] * c[i] for i in slots), np.zeros(d))
            u = (u @ w["hop_kernel"] if layer.weight_tying == "layer_wise" else u) + o
            weights_b.append(p)
        if layer.answer_word_ids is None:
            logits.append(u @ w["output_kernel"])
        else:  # W^T = C^K: row a of W is the last C's row of answer a's word
            logits.append(np.array([u @ C[-1][word] for word in layer.answer_word_ids]))
        hops.append(weights_b)
    return np.array(logits), np.array(hops)


@pytest.mark.parametrize("tying, encoding, temporal, answers", [
    ("adjacent", "position", True, None),
    ("adjacent", "bag_of_words", False, None),
    ("adjacent", "position", True, ANSWER_WORDS),
    ("layer_wise", "position", True, None),
    ("layer_wise", "bag_of_words", True, None),
    ("layer_wise", "position", True, ANSWER_WORDS),
])
def test_matches_the_papers_equations(tying, encoding, temporal, answers):
    layer = MemoryNetwork(V, A, hidden_dim=D, memory_size=M, num_hops=K, weight_tying=tying,
                          sentence_encoding=encoding, temporal_encoding=temporal,
                          answer_word_ids=answers)
    logits, weights = layer(STORY, QUESTION, return_attention_scores=True)
    want_logits, want_weights = _reference(layer, STORY, QUESTION)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(weights), want_weights, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(logits), want_logits, atol=1e-4)
    # Not vacuous: the sentences are attended to unevenly.
    assert np.abs(want_weights[0, 0, [0, 1, 3]] - 1 / 3).max() > 1e-3


def test_position_encoding_by_hand():
    # J = 2, d = 4: word 1 has j/J = 1/2, so l = 1/2 at every k; word 2 has
    # j/J = 1, so l = 0 - (k/4)(1 - 2) = k/4. Padding gets 0.
    weights = position_encoding(keras.ops.convert_to_tensor([[True, True, False]]), 4)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(weights)[0],
        [[0.5, 0.5, 0.5, 0.5], [0.25, 0.5, 0.75, 1.0], [0, 0, 0, 0]],
    )
    # J = 3, d = 2, word 1: (1 - 1/3) - (k/2)(1 - 2/3) = 2/3 - k/6.
    weights = position_encoding(keras.ops.convert_to_tensor([[True, True, True]]), 2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(weights)[0, 0], [0.5, 1 / 3], rtol=1e-6)


def test_position_encoding_counts_words_not_padding():
    """A left-padded sentence and padding between words weigh each word as
    the same sentence padded on the right."""
    right = keras.ops.convert_to_tensor([[True, True, True, False, False]])
    left = keras.ops.convert_to_tensor([[False, False, True, True, True]])
    inside = keras.ops.convert_to_tensor([[True, False, True, False, True]])
    want = keras.ops.convert_to_numpy(position_encoding(right, 4))[0, :3]
    for mask, words in ((left, [2, 3, 4]), (inside, [0, 2, 4])):
        got = keras.ops.convert_to_numpy(position_encoding(mask, 4))[0]
        np.testing.assert_allclose(got[words], want, rtol=1e-6)
    # And the layer gives the same answer for either padding.
    layer = MemoryNetwork(V, A, hidden_dim=D, memory_size=M, temporal_encoding=False)
    story = np.zeros((1, M, L), "int32")
    story[0, 0, :3] = [3, 4, 5]
    shifted = np.zeros_like(story)
    shifted[0, 0, 1:] = [3, 4, 5]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(story, QUESTION[:1])),
                               keras.ops.convert_to_numpy(layer(shifted, QUESTION[:1])),
                               atol=1e-6)


def test_recency_by_hand():
    filled = keras.ops.convert_to_tensor([[True, True, False, True, False]])
    # Newer sentences than each slot: slot 0 has slots 1 and 3 after it.
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(recency(filled))[0, [0, 1, 3]],
                                  [2, 1, 0])
    # An empty memory just before slot 1's sentence ages the older slot 0
    # by one, not slot 1 itself nor the newer slot 3.
    blanks = keras.ops.convert_to_tensor([[0, 1, 0, 0, 0]])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(recency(filled, blanks))[0, [0, 1, 3]], [3, 1, 0])


def test_the_temporal_encoding_reads_recency_not_slots():
    """The same sentences in different slots, with empty slots between
    them, give the same answer: the newest sentence has recency 0 wherever
    it sits."""
    layer = MemoryNetwork(V, A, hidden_dim=D, memory_size=M, num_hops=2)
    packed = np.zeros((1, M, L), "int32")
    packed[0, :2] = STORY[0, [0, 1]]
    spread = np.zeros((1, M, L), "int32")
    spread[0, [1, 3]] = STORY[0, [0, 1]]
    got_packed = keras.ops.convert_to_numpy(layer(packed, QUESTION[:1]))
    got_spread = keras.ops.convert_to_numpy(layer(spread, QUESTION[:1]))
    np.testing.assert_allclose(got_packed, got_spread, atol=1e-6)
    # And order matters: the two sentences swapped give another answer.
    swapped = packed[:, [1, 0, 2, 3, 4]]
    assert np.abs(keras.ops.convert_to_numpy(layer(swapped, QUESTION[:1])) - got_packed).max() > 1e-4


def test_masked_slots_get_no_attention_and_count_as_absent():
    layer = MemoryNetwork(V, A, hidden_dim=D, memory_size=M, num_hops=K)
    mask = np.ones((B, M), bool)
    mask[0, 3] = False  # a sentence left out by the mask
    logits, weights = layer(STORY, QUESTION, story_mask=mask, return_attention_scores=True)
    weights = keras.ops.convert_to_numpy(weights)
    assert (weights[0, :, 3] == 0).all() and (weights[0, :, 4] == 0).all()
    np.testing.assert_allclose(weights[:2].sum(-1), 1.0, rtol=1e-6)
    removed = STORY.copy()
    removed[0, 3] = 0
    want_logits, want_weights = layer(removed, QUESTION, return_attention_scores=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(logits),
                               keras.ops.convert_to_numpy(want_logits), atol=1e-6)
    np.testing.assert_allclose(weights, keras.ops.convert_to_numpy(want_weights), atol=1e-7)
    # The Keras mask of `story` is read as `story_mask`: the same answer.
    story_in = keras.Input((M, L), dtype="int32")
    question_in = keras.Input((L,), dtype="int32")
    masked = _SlotMask(mask)(story_in)
    model = keras.Model([story_in, question_in], layer(masked, question_in))
    np.testing.assert_allclose(model.predict([STORY, QUESTION], verbose=0),
                               keras.ops.convert_to_numpy(logits), atol=1e-5)


class _SlotMask(keras.layers.Layer):
    """Passes the story through with a fixed Keras mask `[B, M]`."""

    def __init__(self, mask, **kwargs):
        super().__init__(**kwargs)
        self.fixed = mask
        self.supports_masking = True

    def call(self, story):
        return story

    def compute_mask(self, story, previous_mask=None):
        return keras.ops.convert_to_tensor(self.fixed[: story.shape[0] or len(self.fixed)])


def test_a_story_without_sentences_gives_zero_weights_not_nan():
    layer = MemoryNetwork(V, A, hidden_dim=D, memory_size=M)
    logits, weights = layer(STORY[2:], QUESTION[2:], return_attention_scores=True)
    assert np.all(keras.ops.convert_to_numpy(weights) == 0)
    logits = keras.ops.convert_to_numpy(logits)
    assert np.all(np.isfinite(logits)) and np.abs(logits).max() > 0  # the question alone


def test_temporal_noise_only_in_training():
    layer = MemoryNetwork(V, A, hidden_dim=D, memory_size=M, temporal_noise=0.5, seed=1)
    plain = keras.ops.convert_to_numpy(layer(STORY, QUESTION))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(STORY, QUESTION)), plain)
    noisy = [keras.ops.convert_to_numpy(layer(STORY, QUESTION, training=True)) for _ in range(4)]
    assert any(np.abs(n[:2] - plain[:2]).max() > 1e-5 for n in noisy)
    quiet = MemoryNetwork(V, A, hidden_dim=D, memory_size=M, temporal_noise=0.0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(quiet(STORY, QUESTION, training=True)),
                                  keras.ops.convert_to_numpy(quiet(STORY, QUESTION)))


def test_linear_start_then_softmax_survives_saving(tmp_path):
    story_in = keras.Input((M, L), dtype="int32", name="story")
    question_in = keras.Input((L,), dtype="int32", name="question")
    layer = MemoryNetwork(V, A, hidden_dim=D, memory_size=M, linear_start=True, name="memn2n")
    model = keras.Model([story_in, question_in],
                        layer(story_in, question_in, return_attention_scores=True)[1])
    linear = model.predict([STORY, QUESTION], verbose=0)
    _, want = _reference(layer, STORY, QUESTION)
    np.testing.assert_allclose(linear, want, atol=1e-5)  # the raw scores
    assert np.abs(linear[:2].sum(-1) - 1).max() > 1e-3
    layer.set_attention_softmax(True)
    softmax = model.predict([STORY, QUESTION], verbose=0)
    np.testing.assert_allclose(softmax[:2].sum(-1), 1.0, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(reloaded.predict([STORY, QUESTION], verbose=0), softmax, atol=1e-6)


def _raises(*parts):
    return pytest.raises(ValueError, match=".*".join(map(re.escape, parts)))


def test_bad_arguments_are_named():
    with _raises("num_hops must be a positive int", "num_hops=0"):
        MemoryNetwork(V, A, num_hops=0)
    with _raises("weight_tying must be one of", "weight_tying='tied'"):
        MemoryNetwork(V, A, weight_tying="tied")
    with _raises("sentence_encoding must be one of", "sentence_encoding='bow'"):
        MemoryNetwork(V, A, sentence_encoding="bow")
    with _raises("temporal_noise"):
        MemoryNetwork(V, A, temporal_noise=1.5)
    with _raises("linear_start must be True or False", "linear_start='no'"):
        MemoryNetwork(V, A, linear_start="no")
    with _raises("story must have at most memory_size=4 slots", "(3, 5, 4)"):
        MemoryNetwork(V, A, memory_size=4)(STORY, QUESTION)
    with _raises("story must be word ids of shape [B, M, L]", "(3, 4)"):
        MemoryNetwork(V, A)(QUESTION, QUESTION)
    with _raises("question must be word ids of shape [B, L]", "(3, 5, 4)"):
        MemoryNetwork(V, A)(STORY, STORY)
    for bad in ([1, 2], [0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5, V], [1, 2, 3, 4, 5, 6.0],
                [1, 2, 3, 4, 5, True], 7):
        with _raises(f"answer_word_ids must be {A} word ids", f"[1, vocabulary_size={V})",
                     f"received answer_word_ids={bad!r}"):
            MemoryNetwork(V, A, answer_word_ids=bad)
    # Numpy ids are ints too, and the config holds Python ints.
    layer = MemoryNetwork(V, A, answer_word_ids=np.array(ANSWER_WORDS))
    assert layer.get_config()["answer_word_ids"] == list(ANSWER_WORDS)
