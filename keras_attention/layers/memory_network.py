"""End-to-end memory network: a question answered by attention over sentences."""

import operator

import keras
from keras import ops

from keras_attention.layers._initializers import clone_initializer
from keras_attention.layers._masking import masked_softmax
from keras_attention.layers._validation import check_positive_int, check_rate

WEIGHT_TYING = ("adjacent", "layer_wise")
SENTENCE_ENCODINGS = ("bag_of_words", "position")


def position_encoding(word_mask, hidden_dim):
    """The weights `l_kj` of the paper's position encoding (section 4.1).

    `l_kj = (1 - j/J) - (k/d)(1 - 2j/J)` for word `j` (1-based, counting
    words only, so padding on either side changes nothing) of a sentence of
    `J` words and embedding unit `k` of `d`; padding gets 0.

    Args:
        word_mask: boolean `[..., L]`, true for the words of a sentence.
        hidden_dim: `d`.

    Returns:
        float32 `[..., L, d]`.
    """
    words = ops.cast(word_mask, "float32")
    length = ops.maximum(ops.sum(words, axis=-1, keepdims=True), 1.0)  # [..., 1]: J
    # A word's place among the sentence's words, wherever the padding is
    # (left-padded rows, as keras.utils.pad_sequences makes by default).
    j = ops.cumsum(words, axis=-1)  # [..., L]
    ratio = (j / length)[..., None]  # [..., L, 1]: j / J
    k = ops.arange(1, hidden_dim + 1, dtype="float32") / hidden_dim  # [d]: k / d
    weights = (1.0 - ratio) - k * (1.0 - 2.0 * ratio)  # [..., L, d]
    return ops.where(word_mask[..., None], weights, 0.0)


def recency(slot_mask, blanks=None):
    """How many memories are newer than each slot, for the temporal encoding.

    Slots are in time order (oldest first); empty slots between or after
    the sentences are skipped, so the most recent sentence gets 0 wherever
    it sits. `blanks` (int `[B, M]`, 0 or 1) puts an empty memory just
    before a sentence in time, the paper's random noise (section 4.1): every
    older sentence ages by one, the newest stays at 0.

    Returns:
        int32 `[B, M]`.
    """
    filled = ops.cast(slot_mask, "int32")
    if blanks is not None:
        filled = filled + ops.cast(blanks, "int32") * filled
    # Each slot's own count (its sentence and the blank before it) left
    # out of a reversed cumulative sum: what lies after it in time.
    newer = ops.flip(ops.cumsum(ops.flip(filled, axis=1), axis=1), axis=1) - filled
    return newer


def _check_answer_word_ids(answer_word_ids, num_answers, vocabulary_size):
    """`answer_word_ids` as a tuple of Python ints, or a ValueError naming it."""
    try:
        items = list(answer_word_ids)
        ids = tuple(operator.index(i) for i in items)
    except TypeError:  # not a sequence, or an item that is not an integer
        items = ids = ()
    if (len(ids) != num_answers or any(isinstance(i, bool) for i in items)
            or not all(1 <= i < vocabulary_size for i in ids)):
        raise ValueError(
            f"answer_word_ids must be {num_answers} word ids (one per answer class, "
            f"num_answers={num_answers}), each in [1, vocabulary_size={vocabulary_size}), "
            f"received answer_word_ids={answer_word_ids!r}"
        )
    return ids


@keras.saving.register_keras_serializable(package="keras_attention")
class MemoryNetwork(keras.layers.Layer):
    """End-to-end memory network (MemN2N): hops of attention over a story.

    Sukhbaatar, Szlam, Weston and Fergus (2015), "End-To-End Memory
    Networks". Each sentence `i` of the story is embedded twice, as an
    input memory `m_i` (matrix `A`) and an output memory `c_i` (matrix
    `C`); the question is embedded as `u` (matrix `B`). Each hop attends
    over the memories and adds what it read to the question's state:

        p_i = softmax(u . m_i)      o = sum_i p_i c_i      u <- u + o

    (with layer-wise tying `u <- H u + o`), and after `K` hops the answer
    logits are `W u`. The softmax runs in float32; empty slots (all padding,
    or masked) get exactly zero weight, and a story with no sentence gives
    zero weights and `o = 0`, never NaN.

    A sentence of word embeddings `x_j` is one vector:
    - `"bag_of_words"`: `sum_j x_j`;
    - `"position"` (PE): `sum_j l_j * x_j` with the paper's `l_kj`, which
      lets the order of the words count.
    Padding words (id 0) count for nothing either way.

    With `temporal_encoding`, memory `i` adds a learned `T_A(r)` (input)
    and `T_C(r)` (output) for its recency `r` (0 for the newest sentence);
    in training, `temporal_noise` is the chance of an empty memory before
    each sentence, so that the model does not lean on exact positions (the
    paper's RN).

    Weight tying (section 2.2):
    - `"adjacent"`: `K + 1` embedding matrices `E_0 .. E_K`; hop `k` reads
      with `A = E_(k-1)` and `C = E_k`, and the question uses `B = E_0`
      (the temporal matrices are tied the same way);
    - `"layer_wise"`: one `A`, one `C` and `B` for every hop, and a linear
      map `H` between hops.
    The paper also ties `W` to the last `C` (`W^T = C^K`), scoring each
    answer word by its own output embedding: give `answer_word_ids`, the
    word id of each of the `num_answers` classes, to do so. Without it `W`
    `[d, num_answers]` is a matrix of its own.

    Linear start (the paper's LS): with `linear_start=True` the hops begin
    without their softmax (`p_i = u . m_i`), which the paper found to
    avoid poor local minima; `set_attention_softmax(True)` puts it back
    (the `LinearStart` callback of `keras_attention.models` does so when
    the validation loss stops falling). The switch is a non-trainable
    weight, so it is saved with the model and read by compiled steps.

    Shapes: `B` batch, `M` memory slots (sentences), `L` words a sentence,
    `V` vocabulary, `d` hidden size, `K` hops.

    Args:
        vocabulary_size: `V`; word ids lie in `[0, V)`, 0 the padding.
        num_answers: the number of answer classes.
        hidden_dim: `d` (the paper uses 20 per task, 50 jointly).
        memory_size: the most slots `M` a story may have (the temporal
            encoding has one row per recency).
        num_hops: `K`.
        weight_tying: `"adjacent"` or `"layer_wise"`.
        sentence_encoding: `"position"` or `"bag_of_words"`.
        temporal_encoding: add the learned recency embeddings.
        temporal_noise: in training, the chance of an empty memory before
            each sentence (the paper adds 10%); 0 turns it off.
        linear_start: start without the hops' softmax.
        embeddings_initializer: of every embedding and temporal matrix
            (the paper's N(0, 0.1)).
        kernel_initializer: of `H` and `W`.
        answer_word_ids: optional, the word id in `[1, V)` of each answer
            class, `num_answers` of them: the answers are then scored with
            the last hop's output embedding of their words (the paper's
            `W^T = C^K`), which lets what the hops read about a word count
            for that word as the answer.
        seed: of the temporal noise.

    Call arguments:
        story: int `[B, M, L]` word ids, one sentence a slot, oldest first;
            an all-padding slot is empty.
        question: int `[B, L']` word ids.
        story_mask: optional boolean `[B, M]`, false for slots to leave
            out (the Keras mask of `story`, when a layer before set one).
        training: the temporal noise runs only in training.
        return_attention_scores: also return each hop's weights.

    Returns:
        Answer logits `[B, num_answers]` in the compute dtype; with
        `return_attention_scores`, the tuple `(logits, weights)` with
        weights `[B, K, M]`.

    Example:

    >>> story = keras.ops.convert_to_tensor([[[3, 4, 0], [5, 6, 7], [0, 0, 0]]])
    >>> question = keras.ops.convert_to_tensor([[8, 4, 0]])
    >>> layer = MemoryNetwork(vocabulary_size=10, num_answers=4, hidden_dim=8,
    ...                       memory_size=3)
    >>> logits, weights = layer(story, question, return_attention_scores=True)
    >>> tuple(logits.shape), tuple(weights.shape)
    ((1, 4), (1, 3, 3))
    >>> float(weights[0, 0, 2])  # the empty slot
    0.0
    """

    def __init__(
        self,
        vocabulary_size,
        num_answers,
        hidden_dim=20,
        memory_size=50,
        num_hops=3,
        weight_tying="adjacent",
        sentence_encoding="position",
        temporal_encoding=True,
        temporal_noise=0.1,
        linear_start=False,
        embeddings_initializer=None,
        kernel_initializer="glorot_uniform",
        answer_word_ids=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (
            ("vocabulary_size", vocabulary_size), ("num_answers", num_answers),
            ("hidden_dim", hidden_dim), ("memory_size", memory_size),
            ("num_hops", num_hops),
        ):
            check_positive_int(name, value)
        if weight_tying not in WEIGHT_TYING:
            raise ValueError(
                f"weight_tying must be one of {WEIGHT_TYING}, received weight_tying={weight_tying!r}"
            )
        if sentence_encoding not in SENTENCE_ENCODINGS:
            raise ValueError(
                f"sentence_encoding must be one of {SENTENCE_ENCODINGS}, received "
                f"sentence_encoding={sentence_encoding!r}"
            )
        check_rate("temporal_noise", temporal_noise)
        if answer_word_ids is not None:
            answer_word_ids = _check_answer_word_ids(answer_word_ids, num_answers,
                                                     vocabulary_size)
        self.answer_word_ids = answer_word_ids
        self.vocabulary_size = vocabulary_size
        self.num_answers = num_answers
        self.hidden_dim = hidden_dim
        self.memory_size = memory_size
        self.num_hops = num_hops
        self.weight_tying = weight_tying
        self.sentence_encoding = sentence_encoding
        for name, value in (("temporal_encoding", temporal_encoding),
                            ("linear_start", linear_start)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False, received {name}={value!r}")
        self.temporal_encoding = temporal_encoding
        self.temporal_noise = temporal_noise
        self.linear_start = linear_start
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer or keras.initializers.RandomNormal(stddev=0.1)
        )
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def build(self, story_shape, question_shape, **unused_shapes):
        if len(story_shape) != 3:
            raise ValueError(
                "story must be word ids of shape [B, M, L], received "
                f"story.shape={tuple(story_shape)}"
            )
        if story_shape[1] is not None and story_shape[1] > self.memory_size:
            raise ValueError(
                f"story must have at most memory_size={self.memory_size} slots, "
                f"received story.shape={tuple(story_shape)}"
            )
        if len(question_shape) != 2:
            raise ValueError(
                "question must be word ids of shape [B, L], received "
                f"question.shape={tuple(question_shape)}"
            )
        d = self.hidden_dim
        salt = iter(range(10_000))

        def matrix(name, rows, initializer=self.embeddings_initializer):
            return self.add_weight(
                name=name, shape=(rows, d),
                initializer=clone_initializer(initializer, next(salt)),
            )

        hops = range(self.num_hops)
        if self.weight_tying == "adjacent":
            embeddings = [matrix(f"embeddings_{k}", self.vocabulary_size)
                          for k in range(self.num_hops + 1)]
            self._input_embeddings = [embeddings[k] for k in hops]
            self._output_embeddings = [embeddings[k + 1] for k in hops]
            self._question_embeddings = embeddings[0]
            if self.temporal_encoding:
                temporal = [matrix(f"temporal_{k}", self.memory_size)
                            for k in range(self.num_hops + 1)]
                self._input_temporal = [temporal[k] for k in hops]
                self._output_temporal = [temporal[k + 1] for k in hops]
        else:
            input_embeddings = matrix("input_embeddings", self.vocabulary_size)
            output_embeddings = matrix("output_embeddings", self.vocabulary_size)
            self._question_embeddings = matrix("question_embeddings", self.vocabulary_size)
            self._input_embeddings = [input_embeddings] * self.num_hops
            self._output_embeddings = [output_embeddings] * self.num_hops
            if self.temporal_encoding:
                self._input_temporal = [matrix("input_temporal", self.memory_size)] * self.num_hops
                self._output_temporal = [matrix("output_temporal", self.memory_size)] * self.num_hops
            self.hop_kernel = matrix("hop_kernel", d, self.kernel_initializer)
        if self.answer_word_ids is None:
            self.output_kernel = self.add_weight(
                name="output_kernel", shape=(d, self.num_answers),
                initializer=clone_initializer(self.kernel_initializer, next(salt)),
            )
        self.attention_softmax = self.add_weight(
            name="attention_softmax", shape=(),
            initializer=keras.initializers.Constant(0.0 if self.linear_start else 1.0),
            trainable=False, dtype="float32",
        )
        self.built = True

    def set_attention_softmax(self, enabled):
        """Turns the hops' softmax on (after a linear start) or off."""
        self.attention_softmax.assign(1.0 if enabled else 0.0)

    def _encode(self, embeddings, ids):
        """Sentences of word ids `[..., L]` as vectors `[..., d]`."""
        words = ids != 0
        vectors = ops.take(embeddings, ids, axis=0)  # [..., L, d]
        if self.sentence_encoding == "position":
            weights = ops.cast(position_encoding(words, self.hidden_dim), vectors.dtype)
            vectors = vectors * weights
        # Padding selected away, not multiplied: its embedding row is trained
        # by nothing and may hold anything.
        return ops.sum(ops.where(words[..., None], vectors, 0.0), axis=-2)

    def call(self, story, question, story_mask=None, training=None,
             return_attention_scores=False):
        story = ops.cast(story, "int32")
        question = ops.cast(question, "int32")
        slot_mask = ops.any(story != 0, axis=-1)  # [B, M]
        if story_mask is not None:
            slot_mask = ops.logical_and(slot_mask, ops.cast(story_mask, "bool"))
        if self.temporal_encoding:
            blanks = None
            if training and self.temporal_noise > 0:
                blanks = keras.random.uniform(
                    ops.shape(slot_mask), seed=self.seed_generator) < self.temporal_noise
            time = ops.minimum(recency(slot_mask, blanks), self.memory_size - 1)  # [B, M]
        softmax_on = self.attention_softmax > 0.5
        state = self._encode(self._question_embeddings, question)  # [B, d]
        weights_per_hop = []
        for hop in range(self.num_hops):
            memory_in = self._encode(self._input_embeddings[hop], story)  # [B, M, d]
            memory_out = self._encode(self._output_embeddings[hop], story)  # [B, M, d]
            if self.temporal_encoding:
                memory_in = memory_in + ops.take(self._input_temporal[hop], time, axis=0)
                memory_out = memory_out + ops.take(self._output_temporal[hop], time, axis=0)
            scores = ops.einsum("bmd,bd->bm", memory_in, state)  # [B, M]
            normalised = masked_softmax(scores, slot_mask)  # f32 [B, M]
            linear = ops.where(slot_mask, ops.cast(scores, "float32"), 0.0)
            weights = ops.cast(ops.where(softmax_on, normalised, linear), self.compute_dtype)
            read = ops.einsum("bm,bmd->bd", weights, memory_out)  # [B, d]
            if self.weight_tying == "layer_wise":
                state = ops.matmul(state, self.hop_kernel) + read
            else:
                state = state + read
            weights_per_hop.append(weights)
        if self.answer_word_ids is None:
            logits = ops.matmul(state, self.output_kernel)  # [B, num_answers]
        else:  # W^T = C^K: each answer's word, as the last hop reads it
            answers = ops.take(self._output_embeddings[-1], self.answer_word_ids, axis=0)
            logits = ops.matmul(state, ops.transpose(answers))  # [B, num_answers]
        if return_attention_scores:
            return logits, ops.stack(weights_per_hop, axis=1)  # [B, K, M]
        return logits

    def compute_mask(self, story, previous_mask=None):
        return None

    def get_config(self):
        config = {
            "vocabulary_size": self.vocabulary_size,
            "num_answers": self.num_answers,
            "hidden_dim": self.hidden_dim,
            "memory_size": self.memory_size,
            "num_hops": self.num_hops,
            "weight_tying": self.weight_tying,
            "sentence_encoding": self.sentence_encoding,
            "temporal_encoding": self.temporal_encoding,
            "temporal_noise": self.temporal_noise,
            "linear_start": self.linear_start,
            "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "answer_word_ids": (None if self.answer_word_ids is None
                                else list(self.answer_word_ids)),
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
