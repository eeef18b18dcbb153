"""The main job until the tour exists: small seq2seq models from our layers.

Each learns to reverse a sequence of digits (lengths 3 to 10, padded), a task
with a known answer, trained with `model.fit(jit_compile=True)` on generated
data, then scored on held-out sequences:

- a GRU encoder-decoder without attention, for comparison;
- the same with a `BahdanauDecoder` (attention inside the decoder's
  recurrence);
- a small Transformer: `TransformerEncoderBlock` and `TransformerDecoderBlock`
  over `MultiHeadSelfAttention`, with sinusoidal positions.

    python -m keras_attention.demo [--epochs 4] [--samples 12000]
"""

import argparse
import time

import keras
import numpy as np

from keras_attention import BahdanauDecoder
from keras_attention import BahdanauDecoderCell
from keras_attention import SinusoidalPositionalEmbedding
from keras_attention import TransformerDecoderBlock
from keras_attention import TransformerEncoderBlock

PAD, START, END = 0, 1, 2
FIRST_DIGIT = 3
VOCABULARY = FIRST_DIGIT + 10
MAX_LENGTH = 10


def reversal_data(samples, seed):
    """Source digits and their reversal, as padded token arrays.

    Returns `source` `[N, MAX_LENGTH]`, `decoder_inputs` (START then the
    reversed digits) and `targets` (the reversed digits then END), the last
    two `[N, MAX_LENGTH + 1]`; padding is 0.
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, MAX_LENGTH + 1, size=samples)
    source = np.zeros((samples, MAX_LENGTH), "int32")
    decoder_inputs = np.zeros((samples, MAX_LENGTH + 1), "int32")
    targets = np.zeros((samples, MAX_LENGTH + 1), "int32")
    for i, n in enumerate(lengths):
        digits = rng.integers(0, 10, size=n) + FIRST_DIGIT
        source[i, :n] = digits
        decoder_inputs[i, 0] = START
        decoder_inputs[i, 1 : n + 1] = digits[::-1]
        targets[i, :n] = digits[::-1]
        targets[i, n] = END
    return source, decoder_inputs, targets


def plain_model(units=64):
    """The encoder-decoder without attention: the final state is all it gets."""
    source = keras.Input((None,), dtype="int32", name="source")
    decoder_inputs = keras.Input((None,), dtype="int32", name="decoder_inputs")
    source_embedded = keras.layers.Embedding(VOCABULARY, units, mask_zero=True)(source)
    _, encoder_state = keras.layers.GRU(units, return_state=True)(source_embedded)
    target_embedded = keras.layers.Embedding(VOCABULARY, units, mask_zero=True)(
        decoder_inputs
    )
    outputs = keras.layers.GRU(units, return_sequences=True)(
        target_embedded, initial_state=encoder_state
    )
    logits = keras.layers.Dense(VOCABULARY)(outputs)
    return keras.Model([source, decoder_inputs], logits, name="plain_seq2seq")


def bahdanau_model(units=64):
    source = keras.Input((None,), dtype="int32", name="source")
    decoder_inputs = keras.Input((None,), dtype="int32", name="decoder_inputs")
    source_embedded = keras.layers.Embedding(VOCABULARY, units, mask_zero=True)(source)
    encoder_outputs, encoder_state = keras.layers.GRU(
        units, return_sequences=True, return_state=True
    )(source_embedded)
    target_embedded = keras.layers.Embedding(VOCABULARY, units, mask_zero=True)(
        decoder_inputs
    )
    # The source padding reaches the attention through the Keras mask that
    # the encoder's outputs carry.
    cell = BahdanauDecoderCell(keras.layers.GRUCell(units), attention_units=units)
    outputs = BahdanauDecoder(cell)(
        target_embedded, encoder_outputs, decoder_state=encoder_state
    )
    logits = keras.layers.Dense(VOCABULARY)(outputs)
    return keras.Model([source, decoder_inputs], logits, name="bahdanau_seq2seq")


def transformer_model(dim=64, heads=4):
    source = keras.Input((None,), dtype="int32", name="source")
    decoder_inputs = keras.Input((None,), dtype="int32", name="decoder_inputs")

    def embed(tokens):
        x = keras.layers.Embedding(VOCABULARY, dim, mask_zero=True)(tokens)
        # A merge layer, not `+`, so the padding mask reaches the blocks.
        return keras.layers.Add()([x, SinusoidalPositionalEmbedding()(x)])

    encoded = TransformerEncoderBlock(intermediate_dim=2 * dim, num_heads=heads)(
        embed(source)
    )
    decoded = TransformerDecoderBlock(intermediate_dim=2 * dim, num_heads=heads)(
        embed(decoder_inputs), encoder_sequence=encoded
    )
    logits = keras.layers.Dense(VOCABULARY)(decoded)
    return keras.Model([source, decoder_inputs], logits, name="transformer_seq2seq")


def greedy_decode(model, source):
    """Greedy decoding with the full model, one target step per call.

    Both models are causal on the decoder side, so feeding the tokens chosen
    so far (the rest padding) and reading the next position's argmax is
    exact greedy decoding; it is O(T^2), fine for sequences this short.
    """
    decoder_inputs = np.zeros((len(source), MAX_LENGTH + 1), "int32")
    decoder_inputs[:, 0] = START
    predicted = np.zeros_like(decoder_inputs)
    for step in range(MAX_LENGTH + 1):
        logits = model.predict((source, decoder_inputs), batch_size=500, verbose=0)
        predicted[:, step] = logits[:, step].argmax(-1)
        if step + 1 <= MAX_LENGTH:
            decoder_inputs[:, step + 1] = predicted[:, step]
    return predicted


def _sequences_equal(predicted, targets):
    """Per row: the tokens up to and including END agree."""
    length = (targets != PAD).sum(axis=1)  # digits + END
    positions = np.arange(targets.shape[1])[None, :]
    return np.all((predicted == targets) | (positions >= length[:, None]), axis=1)


def train_and_score(model, train, test, epochs, batch_size):
    (train_source, train_inputs, train_targets) = train
    (test_source, test_inputs, test_targets) = test
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=True,
    )
    weights = (train_targets != PAD).astype("float32")
    start = time.perf_counter()
    model.fit(
        (train_source, train_inputs),
        train_targets,
        sample_weight=weights,
        epochs=epochs,
        batch_size=batch_size,
        verbose=2,
    )
    seconds = time.perf_counter() - start
    logits = model.predict((test_source, test_inputs), batch_size=256, verbose=0)
    forced = logits.argmax(-1)
    real = test_targets != PAD
    greedy = greedy_decode(model, test_source)
    return dict(
        parameters=model.count_params(),
        train_seconds=seconds,
        token_accuracy=float((forced == test_targets)[real].mean()),
        greedy_sequence_accuracy=float(_sequences_equal(greedy, test_targets).mean()),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train small seq2seq models.")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples", type=int, default=12000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    train = reversal_data(args.samples, seed=1)
    test = reversal_data(1000, seed=2)
    results = {}
    for build in (plain_model, bahdanau_model, transformer_model):
        model = build()
        print(f"\n== {model.name}: reverse digit sequences (teacher forced) ==")
        results[model.name] = train_and_score(
            model, train, test, args.epochs, args.batch_size
        )
    print(
        f"\n{len(test[0])} held-out sequences: token accuracy under teacher "
        "forcing, and whole sequences right under greedy decoding"
    )
    print(f"{'model':<22}{'params':>9}{'train s':>9}{'token acc':>11}{'greedy seq acc':>16}")
    for name, r in results.items():
        print(
            f"{name:<22}{r['parameters']:>9}{r['train_seconds']:>9.1f}"
            f"{r['token_accuracy']:>11.3f}{r['greedy_sequence_accuracy']:>16.3f}"
        )
    return results


if __name__ == "__main__":
    main()
