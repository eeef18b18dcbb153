"""Question answering over a story: MemN2N, and an LSTM and an NTM reader beside it.

All three take the arrays of `keras_attention.data.babi.vectorize`:
`story` int `[B, M, L]` (one sentence a slot, oldest first, empty slots
all padding) and `question` int `[B, L]`, and give answer logits
`[B, num_answers]`.

- `memn2n_model`: the library's `MemoryNetwork` (Sukhbaatar et al. 2015).
- `lstm_reader_model`: an LSTM over the story's words, sentence after
  sentence, then the question's, as the LSTM baseline of Weston et al.
  (2015) reads them.
- `ntm_reader_model`: the library's `NTMCell` over the story one sentence
  a step (each sentence a bag of word embeddings), then the question: the
  same memory idea, with a learned controller choosing what to write and
  read.

`compile_qa_model` gives the paper's schedule (learning rate 0.01, halved
every 25 epochs, gradients clipped to norm 40) with Adam, or the paper's
SGD; `LinearStart` ends MemN2N's linear start.
"""

import keras
import numpy as np
from keras import ops

from keras_attention.data.babi import TOKEN_PATTERN
from keras_attention.layers import MemoryNetwork, NTMCell
from keras_attention.layers._validation import check_positive_int
from keras_attention.models._optimizer import build_optimizer
from keras_attention.models.signature import Signature, TensorSpec

READERS = ("memn2n", "lstm", "ntm")


def _inputs(memory_size, sentence_length):
    check_positive_int("memory_size", memory_size)
    check_positive_int("sentence_length", sentence_length)
    story = keras.Input((memory_size, sentence_length), dtype="int32", name="story")
    question = keras.Input((sentence_length,), dtype="int32", name="question")
    return story, question


def memn2n_model(
    vocabulary_size,
    num_answers,
    memory_size=50,
    sentence_length=12,
    hidden_dim=20,
    num_hops=3,
    weight_tying="adjacent",
    sentence_encoding="position",
    temporal_encoding=True,
    temporal_noise=0.1,
    linear_start=False,
    answer_word_ids=None,
    seed=None,
    name="memn2n",
):
    """MemN2N as a functional model: `{"story", "question"}` in, logits out.

    The paper's 3-hop PE LS RN configuration by default (`linear_start`
    aside: pass True and train with `LinearStart`). The layer is named
    `"memory_network"`; `attention_model(model)` adds each hop's weights
    as a second output.

    Args:
        vocabulary_size, num_answers: of the `Vocabulary`.
        memory_size, sentence_length: `M` and `L` of the arrays.
        hidden_dim, num_hops, weight_tying, sentence_encoding,
        temporal_encoding, temporal_noise, linear_start, answer_word_ids,
        seed: passed to `MemoryNetwork` (`answer_word_ids`, the paper's
            `W^T = C^K`: `Vocabulary.answer_word_ids`).
        name: the model's.

    Returns:
        An uncompiled `keras.Model`.
    """
    story, question = _inputs(memory_size, sentence_length)
    layer = MemoryNetwork(
        vocabulary_size, num_answers, hidden_dim=hidden_dim, memory_size=memory_size,
        num_hops=num_hops, weight_tying=weight_tying, sentence_encoding=sentence_encoding,
        temporal_encoding=temporal_encoding, temporal_noise=temporal_noise,
        linear_start=linear_start, answer_word_ids=answer_word_ids, seed=seed,
        name="memory_network",
    )
    # One call that gives both outputs, the model keeping the logits:
    # `attention_model` reads the weights off the same call. (Keras 3.15
    # leaves the second output of a later call of a layer unconnected,
    # "Output with path `1` is not connected to `inputs`", Keras's own
    # MultiHeadAttention included.)
    logits, _ = layer(story, question, return_attention_scores=True)  # [B, A], [B, K, M]
    return keras.Model({"story": story, "question": question}, logits, name=name)


def attention_model(model):
    """The MemN2N `model`'s own layer, with each hop's weights as a second
    output: `(logits [B, A], weights [B, K, M])`. It shares the weights."""
    layer = model.get_layer("memory_network")
    outputs = layer._inbound_nodes[0].outputs
    if len(outputs) != 2:
        raise ValueError(
            f"attention_model needs a model from memn2n_model, whose memory_network "
            f"layer returns its attention; {model.name!r}'s gives {len(outputs)} output(s)"
        )
    return keras.Model(model.input, tuple(outputs), name=f"{model.name}_attention")


@keras.saving.register_keras_serializable(package="keras_attention")
class SentenceSum(keras.layers.Layer):
    """Each sentence's word embeddings summed: `[B, M, L, d]` to `[B, M, d]`,
    padding words (id 0 in `ids`) left out."""

    def call(self, embedded, ids):
        words = ops.not_equal(ids, 0)[..., None]  # [B, M, L, 1]
        return ops.sum(ops.where(words, embedded, 0.0), axis=-2)


@keras.saving.register_keras_serializable(package="keras_attention")
class StoryThenQuestion(keras.layers.Layer):
    """The question's vector appended to the sentences' as one more step:
    `[B, M + 1, d]`, with a Keras mask that is false for the empty slots
    (all padding in `story_ids`), so that an RNN skips them."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, story_ids, sentences, question):
        return ops.concatenate([sentences, question[:, None, :]], axis=1)

    def compute_mask(self, story_ids, previous_mask=None):
        filled = ops.any(ops.not_equal(story_ids, 0), axis=-1)  # [B, M]
        return ops.concatenate([filled, ops.ones_like(filled[:, :1])], axis=1)


def lstm_reader_model(
    vocabulary_size, num_answers, memory_size=50, sentence_length=12, units=128,
    embedding_dim=64, name="lstm_reader",
):
    """An LSTM over the story's words then the question's (padding skipped
    through the Keras mask), its last state to the answer logits."""
    check_positive_int("units", units)
    check_positive_int("embedding_dim", embedding_dim)
    story, question = _inputs(memory_size, sentence_length)
    words = keras.layers.Concatenate(axis=1, name="story_then_question")([
        keras.layers.Reshape((memory_size * sentence_length,), name="story_words")(story),
        question,
    ])  # [B, M * L + L]
    embedded = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                      name="embedding")(words)
    state = keras.layers.LSTM(units, name="lstm")(embedded)  # [B, units]
    logits = keras.layers.Dense(num_answers, name="answer")(state)
    return keras.Model({"story": story, "question": question}, logits, name=name)


def ntm_reader_model(
    vocabulary_size, num_answers, memory_size=50, sentence_length=12, embedding_dim=32,
    ntm_memory_size=64, memory_width=20, controller_units=100, seed=None,
    name="ntm_reader",
):
    """An `NTMCell` reading one sentence a step (a sum of word embeddings),
    then the question; empty slots are skipped through the RNN's mask. Its
    last output, through a dense layer, gives the answer logits."""
    check_positive_int("embedding_dim", embedding_dim)
    story, question = _inputs(memory_size, sentence_length)
    embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
    summed = SentenceSum(name="sentence_sum")
    sentences = summed(embedding(story), story)  # [B, M, d]
    one_sentence = keras.layers.Reshape((1, sentence_length), name="question_sentence")(question)
    asked = keras.layers.Reshape((embedding_dim,), name="question_vector")(
        summed(embedding(one_sentence), one_sentence))  # [B, d]
    steps = StoryThenQuestion(name="story_then_question")(story, sentences, asked)  # [B, M + 1, d]
    cell = NTMCell(
        units=controller_units, controller_units=controller_units,
        memory_size=ntm_memory_size, memory_width=memory_width, seed=seed, name="ntm_cell",
    )
    read = keras.layers.RNN(cell, name="ntm")(steps)  # [B, units]
    logits = keras.layers.Dense(num_answers, name="answer")(read)
    return keras.Model({"story": story, "question": question}, logits, name=name)


def qa_model(reader, vocabulary_size, num_answers, memory_size=50, sentence_length=12,
             **kwargs):
    """`memn2n_model`, `lstm_reader_model` or `ntm_reader_model` by name."""
    builders = {"memn2n": memn2n_model, "lstm": lstm_reader_model, "ntm": ntm_reader_model}
    if reader not in builders:
        raise ValueError(f"reader must be one of {READERS}, received reader={reader!r}")
    return builders[reader](vocabulary_size, num_answers, memory_size=memory_size,
                            sentence_length=sentence_length, **kwargs)


def support_recall(weights, supporting):
    """Attention as evidence: for each hop, the share of questions whose
    most attended sentence is a supporting fact.

    Args:
        weights: `[N, K, M]`, each hop's attention over the slots
            (`attention_model`'s second output).
        supporting: boolean `[N, M]`, the supporting facts' slots
            (`vectorize`'s `"supporting"`).

    Returns:
        float64 `[K]`.
    """
    weights = np.asarray(weights)
    supporting = np.asarray(supporting, bool)
    if weights.ndim != 3 or supporting.shape != (weights.shape[0], weights.shape[2]):
        raise ValueError(
            "weights must be [N, K, M] and supporting [N, M], received "
            f"weights.shape={weights.shape} and supporting.shape={supporting.shape}")
    top = np.argmax(weights, axis=-1)  # [N, K]
    hit = np.take_along_axis(supporting[:, None, :], top[..., None], axis=-1)[..., 0]
    return hit.mean(axis=0)


OPTIMIZERS = ("adam", "sgd")


def compile_qa_model(model, optimizer="adam", learning_rate=0.01, steps_per_epoch=None,
                     anneal_every=25, clipnorm=40.0, jit_compile=True):
    """Compiles a reader with the paper's schedule (section 4.2): the
    learning rate halved every `anneal_every` epochs (given
    `steps_per_epoch`; constant without it), gradients clipped to norm
    `clipnorm`; sparse cross-entropy on the logits, and accuracy.

    The paper's optimizer is SGD at 0.01 (`optimizer="sgd"`). Adam at the
    same rate is the default here, as in most reimplementations: on
    generated task 1 (1,000 questions, 60 epochs, seed 0) MemN2N reached
    99.1% test accuracy with it and 34.1% with SGD.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, received optimizer={optimizer!r}")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) \
            or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number, received "
                         f"learning_rate={learning_rate!r}")
    rate = learning_rate
    if steps_per_epoch is not None:
        check_positive_int("steps_per_epoch", steps_per_epoch)
        check_positive_int("anneal_every", anneal_every)
        rate = keras.optimizers.schedules.ExponentialDecay(
            learning_rate, decay_steps=anneal_every * steps_per_epoch, decay_rate=0.5,
            staircase=True,
        )
    make = keras.optimizers.Adam if optimizer == "adam" else keras.optimizers.SGD
    model.compile(
        optimizer=make(rate, clipnorm=clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )
    build_optimizer(model)
    return model


class LinearStart(keras.callbacks.Callback):
    """Ends MemN2N's linear start: once the validation loss has not fallen
    for `patience` epochs, the hops' softmax goes back in (the paper's LS).
    `switched_at` is the epoch it happened, or None."""

    def __init__(self, monitor="val_loss", patience=1):
        super().__init__()
        self.monitor, self.patience = monitor, patience
        self.best, self.wait, self.switched_at = float("inf"), 0, None

    def on_epoch_end(self, epoch, logs=None):
        if self.switched_at is not None:
            return
        value = (logs or {}).get(self.monitor)
        if value is None:
            raise ValueError(
                f"LinearStart monitors {self.monitor!r}, which the logs lack: "
                f"{sorted(logs or {})} (pass validation_data to fit)"
            )
        if value < self.best:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            layers = [layer for layer in self.model._flatten_layers()
                      if isinstance(layer, MemoryNetwork)]
            if not layers:
                raise ValueError(
                    f"LinearStart needs a model with a MemoryNetwork layer; "
                    f"{self.model.name!r} has none")
            for layer in layers:
                layer.set_attention_softmax(True)
            self.switched_at = epoch


# -- to the device ------------------------------------------------------------


def memn2n_signatures(model):
    """The device entry point of a `memn2n_model`: `{"answer": Signature}`.

    `answer` takes one story `story` int32 `[1, M, L]` and its question
    `question` int32 `[1, L]`, and gives `answer`, the answers' softmax
    probabilities float32 `[1, A]`, and `attention`, each hop's weights over
    the slots float32 `[1, K, M]`.
    """
    with_attention = attention_model(model)
    story = model.input["story"]
    memory_size, sentence_length = story.shape[1], story.shape[2]

    def answer(story, question):
        logits, weights = with_attention({"story": story, "question": question},
                                         training=False)
        return {"answer": ops.softmax(ops.cast(logits, "float32"), axis=-1),
                "attention": ops.cast(weights, "float32")}

    return {"answer": Signature(answer, [
        TensorSpec((1, memory_size, sentence_length), "int32", "story"),
        TensorSpec((1, sentence_length), "int32", "question"),
    ])}


def qa_task_metadata(model, vocabulary):
    """The `task` a `memn2n_model`'s export carries to the device.

    `edge_demo` reads it (`python -m edge_demo memn2n.tflite --story
    story.txt --question "Where is Mary?"`): kind `"question_answering"`,
    the words by id (0 the padding, 1 an unknown word), the answers by
    class, how text is split into words (`token_pattern`, after
    lower-casing), and the memory's slots and sentence length.

    Args:
        model: a `memn2n_model`.
        vocabulary: the `keras_attention.data.babi.Vocabulary` it was
            trained with.
    """
    layer = model.get_layer("memory_network")
    if len(vocabulary.words) != layer.vocabulary_size:
        raise ValueError(
            f"vocabulary must have the model's {layer.vocabulary_size} words, "
            f"received {len(vocabulary.words)}")
    if len(vocabulary.answers) != layer.num_answers:
        raise ValueError(
            f"vocabulary must have the model's {layer.num_answers} answers, "
            f"received {len(vocabulary.answers)}")
    story = model.input["story"]
    return {"kind": "question_answering", "signature": "answer",
            "words": list(vocabulary.words), "answers": list(vocabulary.answers),
            "unknown_id": 1, "token_pattern": TOKEN_PATTERN, "lowercase": True,
            "memory_size": int(story.shape[1]), "sentence_length": int(story.shape[2])}
