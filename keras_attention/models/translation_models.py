"""Reference translation models and how they train (Multi30k-sized).

The story of attention in translation, three models on one task:

- `"seq2seq"`: the encoder-decoder without attention (Sutskever, Vinyals and
  Le 2014; with GRUs as Cho et al. 2014): the decoder sees only the
  encoder's final state;
- `"rnnsearch"`: Bahdanau, Cho and Bengio (2015): a bidirectional GRU
  encoder and a decoder with `BahdanauAttention` inside its recurrence;
- `"transformer"`: Vaswani et al. (2017), from `MultiHeadSelfAttention` and
  the encoder and decoder blocks, trained with label smoothing and the
  warm-up learning-rate schedule.

`translation_model(kind, ...)` builds one (`RNNSeq2Seq` or
`TransformerSeq2Seq`, functional, with `encode` / `decode_step` for export
and `keras_attention.models.decoding` for beam search);
`compile_translation_model` compiles it with its kind's training recipe for
`model.fit` (with XLA, see its `jit_compile`), on batches from
`keras_attention.data.translation.translation_dataset`.

The default sizes suit Multi30k (29,000 pairs, 8,000-piece vocabularies) on
a few CPU cores or one GPU; every size can be overridden.

Example:

>>> model = translation_model("rnnsearch", 40, 30, source_length=12,
...                           target_length=10, units=16, embedding_dim=8)
>>> model = compile_translation_model(model)
>>> model.optimizer.__class__.__name__, model.bidirectional
('Adam', True)
"""

import keras
from keras import ops

from keras_attention.layers._validation import check_positive_int, check_rate
from keras_attention.models.rnn_seq2seq import RNNSeq2Seq
from keras_attention.models.transformer_seq2seq import TransformerSeq2Seq

KINDS = ("seq2seq", "rnnsearch", "transformer")
DEFAULT_SIZES = {
    "seq2seq": dict(units=256, embedding_dim=256, dropout=0.3),
    "rnnsearch": dict(units=256, embedding_dim=256, dropout=0.3),
    "transformer": dict(
        hidden_dim=256, num_heads=4, intermediate_dim=1024, num_encoder_blocks=3,
        num_decoder_blocks=3, dropout=0.1,
    ),
}
# Each kind's recipe: Adam; the RNNs with a fixed rate and gradients clipped
# by norm, the Transformer with Vaswani et al.'s schedule, betas and label
# smoothing.
RNN_LEARNING_RATE = 1e-3
RNN_CLIPNORM = 1.0
TRANSFORMER_WARMUP_STEPS = 4000
TRANSFORMER_LABEL_SMOOTHING = 0.1


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, received kind={kind!r}")


def translation_model(
    kind,
    source_vocabulary_size,
    target_vocabulary_size,
    source_length=64,
    target_length=64,
    start_id=1,
    end_id=2,
    mixed_precision=None,
    **sizes,
):
    """One of the three reference models, uncompiled.

    Args:
        kind: `"seq2seq"`, `"rnnsearch"` or `"transformer"`.
        source_vocabulary_size, target_vocabulary_size: the two
            tokenizers' `vocabulary_size` (ids 0 padding, 1 start, 2 end).
        source_length, target_length: the longest source and target, end
            token included: training batches may be shorter, decoding and
            export use these.
        start_id, end_id: the target's start and end ids.
        mixed_precision: None (float32), `"mixed_float16"` (GPUs) or
            `"mixed_bfloat16"`: the layers compute in half precision and
            keep float32 weights; the attention softmax, the readout and
            the loss stay float32.
        **sizes: override `DEFAULT_SIZES[kind]` (e.g. `units=128`).

    Returns:
        An `RNNSeq2Seq` (seq2seq: `attention=False`; rnnsearch:
        `attention=True, bidirectional=True`) or a `TransformerSeq2Seq`.
    """
    _check_kind(kind)
    if mixed_precision not in (None, "mixed_float16", "mixed_bfloat16"):
        raise ValueError(
            "mixed_precision must be None, 'mixed_float16' or 'mixed_bfloat16', "
            f"received mixed_precision={mixed_precision!r}"
        )
    arguments = dict(
        source_vocabulary_size=source_vocabulary_size,
        target_vocabulary_size=target_vocabulary_size,
        source_length=source_length,
        target_length=target_length,
        start_id=start_id,
        end_id=end_id,
        **{**DEFAULT_SIZES[kind], **sizes},
    )
    # The model gives its layers the policy and saves it in its config, so
    # it reloads with it whatever the global policy is then.
    arguments["dtype"] = mixed_precision or "float32"
    if kind == "transformer":
        return TransformerSeq2Seq(**arguments, name="transformer")
    return RNNSeq2Seq(
        **arguments,
        attention=kind == "rnnsearch",
        bidirectional=kind == "rnnsearch",
        name=kind,
    )


def model_kind(model):
    """`"seq2seq"`, `"rnnsearch"` or `"transformer"` of a built model."""
    if isinstance(model, TransformerSeq2Seq):
        return "transformer"
    if isinstance(model, RNNSeq2Seq):
        return "rnnsearch" if model.attention else "seq2seq"
    raise ValueError(
        "model must be an RNNSeq2Seq or a TransformerSeq2Seq, received "
        f"{type(model).__name__}"
    )


@keras.saving.register_keras_serializable(package="keras_attention")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer targets with label smoothing, from logits.

    `(1 - e) * (-log p(y)) + e * mean_v(-log p(v))`: the target keeps
    `1 - e` of the probability mass and `e` is spread evenly over the
    vocabulary (Szegedy et al. 2016; Vaswani et al. use `e = 0.1`).
    Computed in float32 whatever the logits' dtype. With `e = 0` it is
    `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`.

    Pass the padding mask as sample weights (the translation datasets do);
    the default reduction averages over the real target tokens.

    Args:
        label_smoothing: `e`, in `[0, 1)`.
        reduction, name: as for any Keras loss.
    """

    def __init__(
        self, label_smoothing=0.0, reduction="mean_with_sample_weight",
        name="smoothed_sparse_crossentropy", dtype=None,
    ):
        super().__init__(reduction=reduction, name=name, dtype=dtype)
        check_rate("label_smoothing", label_smoothing)  # in [0, 1)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        log_probs = ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1)  # [B, T, V]
        y_true = ops.cast(y_true, "int32")
        target = ops.take_along_axis(log_probs, y_true[..., None], axis=-1)[..., 0]
        loss = -target  # [B, T]
        if self.label_smoothing:
            uniform = -ops.mean(log_probs, axis=-1)
            loss = (1.0 - self.label_smoothing) * loss + self.label_smoothing * uniform
        return loss

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="keras_attention")
class InverseSquareRootSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Vaswani et al.'s warm-up: `scale * d^-0.5 * min(s^-0.5, s * w^-1.5)`.

    The rate grows linearly for `warmup_steps` steps, peaks at
    `scale / sqrt(d * warmup_steps)`, then decays as the inverse square
    root of the step `s` (counted from 1).

    Args:
        model_dim: `d`, the Transformer's width.
        warmup_steps: `w`.
        scale: a factor on the whole schedule (1 in the paper).
    """

    def __init__(self, model_dim, warmup_steps=TRANSFORMER_WARMUP_STEPS, scale=1.0):
        check_positive_int("model_dim", model_dim)
        check_positive_int("warmup_steps", warmup_steps)
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0:
            raise ValueError(f"scale must be a positive number, received scale={scale!r}")
        self.model_dim = model_dim
        self.warmup_steps = warmup_steps
        self.scale = float(scale)

    def __call__(self, step):
        step = ops.cast(step, "float32") + 1.0
        rate = ops.minimum(ops.rsqrt(step), step * self.warmup_steps**-1.5)
        return self.scale * self.model_dim**-0.5 * rate

    def get_config(self):
        return {
            "model_dim": self.model_dim,
            "warmup_steps": self.warmup_steps,
            "scale": self.scale,
        }


def compile_translation_model(
    model,
    learning_rate=None,
    label_smoothing=None,
    warmup_steps=TRANSFORMER_WARMUP_STEPS,
    jit_compile=True,
):
    """Compile `model` with its kind's recipe for `model.fit`.

    - seq2seq and rnnsearch: Adam at `learning_rate` (1e-3), gradients
      clipped to global norm 1, no label smoothing;
    - transformer: Adam with betas (0.9, 0.98) and epsilon 1e-9 on
      `InverseSquareRootSchedule(hidden_dim, warmup_steps)` (a
      `learning_rate` given instead is used as a constant), label
      smoothing 0.1.

    The loss is `SmoothedSparseCrossentropy` averaged over real target
    tokens (sample weights: the padding mask); the metric is token
    accuracy over the same tokens.

    Args:
        jit_compile: XLA for the train step: True (the default), False or
            `"auto"` (Keras's rule: XLA unless TensorFlow sees only CPUs).
            XLA pays for all three kinds on a CPU too (`bench/xla_cpu.py`:
            1.07x to 1.31x the speed of a step without it) since every
            layer draws its dropout with a counter-based hash that XLA
            fuses (`HashDropout`). Keras's dropout masks, TensorFlow's
            stateless random ops, took about 350 times as long under XLA
            on a CPU, and made RNNsearch's step 0.59x and the
            Transformer's 0.80x the speed without XLA.

    Returns:
        `model`, compiled.
    """
    kind = model_kind(model)
    if kind == "transformer":
        rate = learning_rate
        if rate is None:
            rate = InverseSquareRootSchedule(model.hidden_dim, warmup_steps)
        optimizer = keras.optimizers.Adam(rate, beta_1=0.9, beta_2=0.98, epsilon=1e-9)
        smoothing = TRANSFORMER_LABEL_SMOOTHING if label_smoothing is None else label_smoothing
    else:
        optimizer = keras.optimizers.Adam(
            RNN_LEARNING_RATE if learning_rate is None else learning_rate,
            global_clipnorm=RNN_CLIPNORM,
        )
        smoothing = 0.0 if label_smoothing is None else label_smoothing
    model.compile(
        optimizer=optimizer,
        loss=SmoothedSparseCrossentropy(smoothing),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile,
    )
    return model


def train_translation_model(
    model,
    train_data,
    epochs,
    validation_data=None,
    checkpoint_dir=None,
    callbacks=None,
    verbose=2,
):
    """`model.fit` that resumes: returns the history.

    With `checkpoint_dir`, `keras.callbacks.BackupAndRestore` saves the
    model, the optimizer and the epoch there after every epoch; running the
    same call again after an interruption restores them and continues with
    the next epoch (the folder is emptied when training completes).
    A model that is not compiled yet is compiled with
    `compile_translation_model`'s defaults.
    """
    check_positive_int("epochs", epochs)
    if not getattr(model, "compiled", False):
        compile_translation_model(model)
    callbacks = list(callbacks or [])
    if checkpoint_dir is not None:
        # First, so that the epoch is saved before any other callback runs.
        callbacks.insert(0, keras.callbacks.BackupAndRestore(checkpoint_dir))
    return model.fit(
        train_data,
        epochs=epochs,
        validation_data=validation_data,
        callbacks=callbacks,
        verbose=verbose,
    )
