"""Image captioners: "Show, Attend and Tell" and a Transformer decoder, over
the same convolutional features.

Both are `_Seq2SeqModel`s whose source is an image: the functional model is
`{"source": images [B, H, W, C], "decoder_inputs": [B, T]} -> logits
[B, T, V]`, trained with teacher forcing, and decoding runs through the
`encode` / `decode_step` functions that are also exported, so that Keras
and the device decode alike (`greedy_decode`, `export_signatures`).

The encoder is a small CNN: for each entry of `filters`, two 3x3
convolutions with ReLU and a 2x2 max pooling. Its last feature map, `h x w`
cells of `C` channels, read row by row, is the `L = h w` annotation vectors
`a_i` that the decoder attends over (Xu et al. 2015, section 3.1.1): 64 x 64
scenes give an 8 x 8 grid with the default three stages, each cell 8 x 8
pixels.

Shapes: `B` batch, `H, W, C` the image, `L` feature cells, `Dv` their
channels, `T` caption steps, `V` vocabulary, `U` attention units.
"""

import keras
import numpy as np
from keras import ops

from keras_attention.layers import (
    BahdanauDecoder,
    BahdanauDecoderCell,
    LearnedPositionalEmbedding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)
from keras_attention.layers._random import HashDropout
from keras_attention.layers._validation import check_positive_int, check_rate
from keras_attention.models._seq2seq_model import PAD_ID, _Seq2SeqModel
from keras_attention.models.signature import TensorSpec
from keras_attention.models.vision_models import _check_image_shape


class _ImageCaptioner(_Seq2SeqModel):
    """What both captioners share: images as the source, the CNN encoder,
    the checks of their arguments and of the images (private)."""

    def _check_caption_arguments(self, vocabulary_size, caption_length, image_shape,
                                 filters, start_id, end_id):
        image_shape = _check_image_shape(image_shape)
        if not isinstance(filters, (tuple, list)) or not filters:
            raise ValueError(
                f"filters must be a non-empty list of positive ints, received filters={filters!r}")
        for value in filters:
            check_positive_int("filters", value)
        shrink = 2 ** len(filters)
        if image_shape[0] % shrink or image_shape[1] % shrink:
            raise ValueError(
                f"image_shape's height and width must be multiples of {shrink} "
                f"({len(filters)} stages of 2x2 pooling, filters={list(filters)}), "
                f"received image_shape={tuple(image_shape)}")
        grid = (image_shape[0] // shrink) * (image_shape[1] // shrink)
        # The base's checks, with the feature cells as the source length and
        # no source vocabulary (1 stands in: an image has none).
        self._check_task_arguments(1, vocabulary_size, grid, caption_length, start_id, end_id)
        return tuple(image_shape), tuple(filters), grid

    def _make_encoder(self, filters, policy):
        layers = []
        for stage, width in enumerate(filters):
            for j in range(2):
                layers.append(keras.layers.Conv2D(
                    width, 3, padding="same", activation="relu", dtype=policy,
                    name=f"conv_{stage}_{j}"))
            layers.append(keras.layers.MaxPooling2D(2, dtype=policy, name=f"pool_{stage}"))
        # Set once, whole: the attribute is held until the functional
        # construction (`_hold_attributes`), and appends to Keras's tracked
        # copy would not reach the list held.
        self.encoder_layers = layers

    def _features(self, images):
        """The annotation vectors `[B, L, Dv]`, the grid's cells row by row."""
        x = images  # the convolutions cast to their compute dtype
        for layer in self.encoder_layers:
            x = layer(x)  # [B, h, w, C]
        return ops.reshape(x, (-1, self.source_length, self.filters[-1]))  # [B, L, Dv]

    def _source_input(self):
        return keras.Input(self.image_shape, dtype="float32", name="source")

    def _source_spec(self, batch_size):
        return TensorSpec((batch_size, *self.image_shape), "float32", name="source")

    def _check_source(self, source_ids):
        """Images float32 `[N, H, W, C]` in `[0, 1]` (the name is the base's:
        the source here is images, not ids)."""
        images = np.asarray(source_ids)
        if images.ndim != 4 or images.shape[1:] != self.image_shape:
            raise ValueError(
                f"images must have shape [N, {', '.join(map(str, self.image_shape))}], "
                f"received shape {images.shape}")
        images = images.astype("float32")
        if not np.isfinite(images).all() or (images.size and (
                images.min() < 0 or images.max() > 1)):
            raise ValueError("images must be finite and in [0, 1] (bytes divided by 255)")
        return images

    @property
    def grid_shape(self):
        """`(h, w)` of the feature map, for drawing attention over the image."""
        shrink = 2 ** len(self.filters)
        return self.image_shape[0] // shrink, self.image_shape[1] // shrink

    def _caption_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.target_vocabulary_size,
            "caption_length": self.target_length,
            "image_shape": list(self.image_shape),
            "filters": list(self.filters),
            "start_id": self.start_id,
            "end_id": self.end_id,
        }


class _CoveragePenalty(keras.layers.Layer):
    """Adds Xu et al.'s doubly stochastic regularization to the loss:
    `penalty * sum_i (1 - sum_t alpha_ti)^2`, averaged over the batch, with
    only the caption's real steps counted, and passes the decoder's outputs
    through (private)."""

    def __init__(self, penalty, **kwargs):
        super().__init__(**kwargs)
        self.penalty = penalty

    def call(self, outputs, weights, decoder_inputs):
        real = ops.cast(ops.not_equal(decoder_inputs, PAD_ID), "float32")  # [B, T]
        weights = ops.cast(weights, "float32")  # [B, T, L]
        coverage = ops.sum(weights * real[..., None], axis=1)  # [B, L]
        self.add_loss(self.penalty * ops.mean(ops.sum(ops.square(1.0 - coverage), axis=-1)))
        # The decoder's outputs, passed through: a functional model runs only
        # the layers on the way to its outputs, and this one must run.
        return outputs


@keras.saving.register_keras_serializable(package="keras_attention")
class AttentiveCaptioner(_ImageCaptioner):
    """Show, Attend and Tell (Xu et al. 2015) with soft attention.

    The CNN's `L` annotation vectors, each with a learned position vector
    added (so that the context can say where it looked: the convolutions
    say what is in a cell, not where the cell is), are the values of
    Bahdanau's additive attention (`BahdanauDecoderCell` over an LSTM cell): at every word the
    decoder attends over the image from its previous state, and the word
    comes from its new state and the context, `readout([h_t; z_t])` (the
    paper's deep output, section 3.1.2, with one layer). The LSTM's first
    state is `tanh` of a projection of the mean annotation (`f_init,h` and
    `f_init,c`, section 3.1.2). With `attention_penalty` `lambda > 0`,
    training adds the doubly stochastic regularization of section 4.2.1,
    `lambda sum_i (1 - sum_t alpha_ti)^2`, which asks the decoder to give
    every part of the image about equal attention over the whole caption.
    It is off by default: the paper used `lambda = 1` on 196 cells of
    photographs, but on the digit scenes (64 cells, about 20 words, most
    cells background) `lambda = 1` spread the attention over the background
    and cost 5 points of exact captions (docs/benchmarks.md, Images).

    With `hard_attention=True`, the paper's other model (sec. 4.1): at
    every word the context is one cell, sampled from the attention while
    training and the most attended one otherwise, trained with the soft
    attention's gradient (the straight-through estimator) in place of the
    paper's REINFORCE (`BahdanauAttention`'s `hard`). One cell has to show the
    whole digit, so the attention lands on it: on the digit scenes the
    soft model reads each digit from cells beside its ink, whose wide view
    shows it too (docs/benchmarks.md, Images).

    Decoding carries `state_h` and `state_c` `[B, units]`; `encode` also
    gives the memory every step reads: `values` `[B, L, Dv]` and `keys`
    `[B, L, U]` (their projection, made once).

    Args:
        vocabulary_size: `V`; id 0 is padding.
        caption_length: `T`, decoder inputs and targets, end token included.
        image_shape: `(H, W, C)`, height and width multiples of
            `2 ** len(filters)`.
        filters: the CNN's channels per stage.
        units: the LSTM's units.
        embedding_dim: the word embeddings' size.
        attention_units: `U`.
        dropout: on the word embeddings and before the readout.
        attention_penalty: `lambda`; 0 (the default) for none.
        hard_attention: attend to one cell at each word (see above).
        start_id, end_id: the caption's start and end tokens.

    Keyword arguments:
        dtype: the dtype policy of every layer but the readout (float32
            logits).

    Example:

    >>> model = AttentiveCaptioner(vocabulary_size=12, caption_length=6,
    ...                            image_shape=(32, 32, 1), filters=(4, 8), units=16)
    >>> images = np.zeros((2, 32, 32, 1), "float32")
    >>> tuple(model.greedy_decode(images).shape), tuple(model.attention_weights(images).shape)
    ((2, 6), (2, 6, 64))
    """

    def __init__(self, vocabulary_size, caption_length, image_shape=(64, 64, 1),
                 filters=(16, 32, 64), units=128, embedding_dim=64, attention_units=64,
                 dropout=0.1, attention_penalty=0.0, hard_attention=False, start_id=1, end_id=2,
                 **kwargs):
        image_shape, filters, grid = self._check_caption_arguments(
            vocabulary_size, caption_length, image_shape, filters, start_id, end_id)
        check_positive_int("units", units)
        check_positive_int("embedding_dim", embedding_dim)
        check_positive_int("attention_units", attention_units)
        check_rate("dropout", dropout)
        if (not isinstance(attention_penalty, (int, float)) or isinstance(attention_penalty, bool)
                or not attention_penalty >= 0):
            raise ValueError(
                "attention_penalty must be a number >= 0, received "
                f"attention_penalty={attention_penalty!r}")

        # === Layers ===
        self._hold_attributes()
        policy = self._layer_policy(kwargs)
        self.image_shape, self.filters, self.source_length = image_shape, filters, grid
        self._make_encoder(filters, policy)
        # Where each cell is: the convolutions' features say what is there,
        # not where, and a word like "top left" needs the context to say it.
        self.cell_positions = LearnedPositionalEmbedding(grid, dtype=policy,
                                                         name="cell_positions")
        self.init_h = keras.layers.Dense(units, activation="tanh", dtype=policy, name="init_h")
        self.init_c = keras.layers.Dense(units, activation="tanh", dtype=policy, name="init_c")
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, dtype=policy,
                                                name="embedding")
        cell = BahdanauDecoderCell(
            keras.layers.LSTMCell(units, dtype=policy, name="decoder_lstm_cell"),
            attention_units=attention_units, hard_attention=hard_attention,
            name="decoder_cell")
        self.decoder = BahdanauDecoder(cell, name="decoder")
        # Only with a penalty: a layer the graph never calls stays unbuilt.
        self.coverage = (_CoveragePenalty(attention_penalty, name="coverage_penalty")
                         if attention_penalty > 0 else None)
        self.embedding_dropout = HashDropout(dropout, dtype=policy,
                                                      name="embedding_dropout")
        self.output_dropout = HashDropout(dropout, dtype=policy,
                                                   name="output_dropout")
        self.readout = keras.layers.Dense(vocabulary_size, dtype="float32", name="readout")

        # === Config ===
        self.target_vocabulary_size = vocabulary_size
        self.source_vocabulary_size = 1
        self.target_length = caption_length
        self.start_id, self.end_id = start_id, end_id
        self.units, self.embedding_dim = units, embedding_dim
        self.attention_units, self.dropout = attention_units, dropout
        self.attention_penalty = attention_penalty
        self.hard_attention = hard_attention

        kwargs.setdefault("name", "attentive_captioner")
        self._functional_init(policy, **kwargs)

    def _annotations(self, source):
        """The cells' features with their learned positions added, `[B, L, Dv]`."""
        values = self._features(source)
        return ops.add(values, self.cell_positions(values))

    def _initial_state(self, values):
        mean = ops.mean(values, axis=1)  # [B, Dv]
        return self.init_h(mean), self.init_c(mean)  # [B, units] each

    def _teacher_forced(self, source, decoder_inputs, return_attention_scores=False):
        values = self._annotations(source)  # [B, L, Dv]
        state = list(self._initial_state(values))
        embedded = self.embedding_dropout(self.embedding(decoder_inputs))  # [B, T, E]
        outputs, weights = self.decoder(
            embedded, values, decoder_state=state, return_attention_scores=True,
        )  # [B, T, units + Dv], [B, T, L]
        if self.attention_penalty > 0:
            outputs = self.coverage(outputs, weights, decoder_inputs)
        logits = self.readout(self.output_dropout(outputs))  # [B, T, V]
        return (logits, weights) if return_attention_scores else logits

    def _encode(self, source):
        values = self._annotations(source)
        state_h, state_c = self._initial_state(values)
        return {"state_h": state_h, "state_c": state_c, "values": values,
                "keys": self.decoder.cell.precompute_keys(values)}

    def _decode_step(self, token, step, inputs):
        del step  # the recurrence carries the position
        embedded = self.embedding(token)[:, 0]  # [B, E]
        output, (state_h, state_c) = self.decoder.cell(
            embedded, [inputs["state_h"], inputs["state_c"]], inputs["values"],
            keys=inputs["keys"],
        )  # [B, units + Dv]
        return {"logits": self.readout(output)[:, None, :], "state_h": state_h,
                "state_c": state_c}

    def _state_specs(self, batch_size):
        return [TensorSpec((batch_size, self.units), "float32", name=name)
                for name in ("state_h", "state_c")]

    def _memory_specs(self, batch_size):
        return [
            TensorSpec((batch_size, self.source_length, self.filters[-1]), "float32",
                       name="values"),
            TensorSpec((batch_size, self.source_length, self.attention_units), "float32",
                       name="keys"),
        ]

    def attention_weights(self, images, decoder_inputs=None):
        """The attention `[N, T, L]` of every caption step over the feature
        cells (reshape `L` to `grid_shape` to draw it): of `decoder_inputs`
        under teacher forcing, or of the model's own greedy captions."""
        images = self._check_source(images)
        if decoder_inputs is None:
            decoder_inputs = self._decoder_inputs_of(self.greedy_decode(images))
        _, weights = self._teacher_forced(
            ops.convert_to_tensor(images),
            ops.convert_to_tensor(np.asarray(decoder_inputs, "int32")),
            return_attention_scores=True)
        return ops.convert_to_numpy(weights)

    def get_config(self):
        return {**self._caption_config(), "units": self.units,
                "embedding_dim": self.embedding_dim,
                "attention_units": self.attention_units, "dropout": self.dropout,
                "attention_penalty": self.attention_penalty,
                "hard_attention": self.hard_attention}


@keras.saving.register_keras_serializable(package="keras_attention")
class TransformerCaptioner(_ImageCaptioner):
    """A Transformer decoder that cross-attends to the CNN's feature cells.

    The same CNN as `AttentiveCaptioner`; its cells are projected to
    `hidden_dim`, given learned positions (one per cell) and, with
    `num_encoder_blocks > 0`, mixed by self-attention blocks. The caption
    runs through `TransformerDecoderBlock`s, each with causal self-attention
    over the words so far and cross-attention over the cells, and a readout.
    Decoding carries each block's self-attention cache; `encode` gives the
    cross-attention caches, which every step reads.

    Args:
        vocabulary_size, caption_length, image_shape, filters, start_id,
            end_id: as for `AttentiveCaptioner`.
        hidden_dim, num_heads, intermediate_dim: the blocks' sizes.
        num_encoder_blocks: self-attention blocks over the cells (0: none).
        num_decoder_blocks: decoder blocks.
        dropout: of the blocks and the embeddings.

    Example:

    >>> model = TransformerCaptioner(vocabulary_size=12, caption_length=6,
    ...                              image_shape=(32, 32, 1), filters=(4, 8),
    ...                              hidden_dim=16, num_heads=2, intermediate_dim=32)
    >>> images = np.zeros((2, 32, 32, 1), "float32")
    >>> tuple(model.greedy_decode(images).shape), tuple(model.attention_weights(images).shape)
    ((2, 6), (2, 2, 2, 6, 64))
    """

    def __init__(self, vocabulary_size, caption_length, image_shape=(64, 64, 1),
                 filters=(16, 32, 64), hidden_dim=64, num_heads=4, intermediate_dim=128,
                 num_encoder_blocks=1, num_decoder_blocks=2, dropout=0.1, start_id=1,
                 end_id=2, **kwargs):
        image_shape, filters, grid = self._check_caption_arguments(
            vocabulary_size, caption_length, image_shape, filters, start_id, end_id)
        for name, value in (("hidden_dim", hidden_dim), ("num_heads", num_heads),
                            ("intermediate_dim", intermediate_dim),
                            ("num_decoder_blocks", num_decoder_blocks)):
            check_positive_int(name, value)
        if not isinstance(num_encoder_blocks, int) or num_encoder_blocks < 0:
            raise ValueError("num_encoder_blocks must be an int >= 0, received "
                             f"num_encoder_blocks={num_encoder_blocks!r}")
        check_rate("dropout", dropout)
        if hidden_dim % num_heads:
            raise ValueError("hidden_dim must be divisible by num_heads, received "
                             f"hidden_dim={hidden_dim} and num_heads={num_heads}")

        # === Layers ===
        self._hold_attributes()
        policy = self._layer_policy(kwargs)
        self.image_shape, self.filters, self.source_length = image_shape, filters, grid
        self._make_encoder(filters, policy)
        self.cell_projection = keras.layers.Dense(hidden_dim, dtype=policy,
                                                  name="cell_projection")
        self.cell_positions = LearnedPositionalEmbedding(grid, dtype=policy,
                                                         name="cell_positions")
        self.embedding = keras.layers.Embedding(vocabulary_size, hidden_dim, dtype=policy,
                                                name="embedding")
        self.word_positions = LearnedPositionalEmbedding(caption_length, dtype=policy,
                                                         name="word_positions")
        block_args = dict(num_heads=num_heads, intermediate_dim=intermediate_dim,
                          dropout=dropout, dtype=policy)
        self.encoder_blocks = [TransformerEncoderBlock(**block_args, name=f"encoder_block_{i}")
                               for i in range(num_encoder_blocks)]
        self.decoder_blocks = [TransformerDecoderBlock(**block_args, name=f"decoder_block_{i}")
                               for i in range(num_decoder_blocks)]
        self.embedding_dropout = HashDropout(dropout, dtype=policy,
                                                      name="embedding_dropout")
        self.readout = keras.layers.Dense(vocabulary_size, dtype="float32", name="readout")

        # === Config ===
        self.target_vocabulary_size = vocabulary_size
        self.source_vocabulary_size = 1
        self.target_length = caption_length
        self.start_id, self.end_id = start_id, end_id
        self.hidden_dim, self.num_heads = hidden_dim, num_heads
        self.intermediate_dim, self.dropout = intermediate_dim, dropout
        self.num_encoder_blocks, self.num_decoder_blocks = num_encoder_blocks, num_decoder_blocks

        kwargs.setdefault("name", "transformer_captioner")
        self._functional_init(policy, **kwargs)

    def _encoded(self, source):
        x = self.cell_projection(self._features(source))  # [B, L, D]
        x = self.embedding_dropout(ops.add(x, self.cell_positions(x)))
        for block in self.encoder_blocks:
            x = block(x)  # [B, L, D]
        return x

    def _embedded_words(self, tokens, start_index=0):
        x = self.embedding(tokens)  # [B, T, D]
        x = ops.multiply(x, ops.cast(self.hidden_dim ** 0.5, x.dtype))  # Vaswani, 3.4
        return self.embedding_dropout(
            ops.add(x, self.word_positions(x, start_index=start_index)))

    def _teacher_forced(self, source, decoder_inputs):
        encoded = self._encoded(source)
        x = self._embedded_words(decoder_inputs)  # [B, T, D]
        for block in self.decoder_blocks:
            x = block(x, encoder_sequence=encoded)  # [B, T, D]
        return self.readout(x)  # [B, T, V]

    def _encode(self, source):
        encoded = self._encoded(source)
        batch = ops.shape(source)[0]
        states = {}
        for i, block in enumerate(self.decoder_blocks):
            states[f"cross_attention_cache_{i}"] = block.cross_attention_cache(encoded)
            states[f"self_attention_cache_{i}"] = block.init_cache(batch, self.target_length)
        return states

    def _decode_step(self, token, step, states):
        index = step[0]
        x = self._embedded_words(token, start_index=index)  # [B, 1, D]
        caches = {}
        for i, block in enumerate(self.decoder_blocks):
            x, cache, _ = block(
                x,
                self_attention_cache=states[f"self_attention_cache_{i}"],
                self_attention_cache_update_index=index,
                cross_attention_cache=states[f"cross_attention_cache_{i}"],
            )  # [B, 1, D], [B, H, T, 2K]
            caches[f"self_attention_cache_{i}"] = cache
        return {"logits": self.readout(x), **caches}

    @property
    def _cache_width(self):
        return 2 * (self.hidden_dim // self.num_heads)  # keys and values, 2K

    def _state_specs(self, batch_size):
        return [TensorSpec((batch_size, self.num_heads, self.target_length, self._cache_width),
                           "float32", name=f"self_attention_cache_{i}")
                for i in range(self.num_decoder_blocks)]

    def _memory_specs(self, batch_size):
        return [TensorSpec((batch_size, self.num_heads, self.source_length, self._cache_width),
                           "float32", name=f"cross_attention_cache_{i}")
                for i in range(self.num_decoder_blocks)]

    def attention_weights(self, images, decoder_inputs=None):
        """Cross-attention `[N, blocks, H, T, L]` of every decoder block and
        head over the feature cells: of `decoder_inputs` under teacher
        forcing, or of the model's own greedy captions."""
        images = self._check_source(images)
        if decoder_inputs is None:
            decoder_inputs = self._decoder_inputs_of(self.greedy_decode(images))
        encoded = self._encoded(ops.convert_to_tensor(images))
        x = self._embedded_words(ops.convert_to_tensor(np.asarray(decoder_inputs, "int32")))
        weights = []
        for block in self.decoder_blocks:
            x, block_weights = block(x, encoder_sequence=encoded,
                                     return_attention_scores=True)  # [B, H, T, L]
            weights.append(ops.convert_to_numpy(block_weights))
        return np.stack(weights, axis=1)

    def get_config(self):
        return {**self._caption_config(), "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads, "intermediate_dim": self.intermediate_dim,
                "num_encoder_blocks": self.num_encoder_blocks,
                "num_decoder_blocks": self.num_decoder_blocks, "dropout": self.dropout}


def caption_task_metadata(model, vocabulary):
    """The `task` a captioner's export carries to the device.

    `edge_demo` reads it (`python -m edge_demo captioner.tflite --image
    scene.png`): kind `"captioning"`, the words of the vocabulary by id, the
    start and end ids, the most steps, and the scale from an 8-bit image's
    bytes to the model's `[0, 1]`.

    Args:
        model: an `AttentiveCaptioner` or `TransformerCaptioner`.
        vocabulary: its words by id (`keras_attention.data.scenes.WORDS`).
    """
    vocabulary = [str(word) for word in vocabulary]
    if len(vocabulary) != model.target_vocabulary_size:
        raise ValueError(
            f"vocabulary must have the model's {model.target_vocabulary_size} words, "
            f"received {len(vocabulary)}")
    return {"kind": "captioning", "vocabulary": vocabulary, "start_id": model.start_id,
            "end_id": model.end_id, "max_target_length": model.target_length,
            "pixel_scale": 1 / 255}
