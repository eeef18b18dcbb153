"""Filling a gap in a sentence with an `XLNetLM`, in Keras and on a device.

`GapFiller` joins a trained `XLNetLM` and the `SubwordTokenizer` of its
training text. `fill("A man in a ___ hat")` chooses the gap's pieces left to
right, each from the query stream at its position, which sees every piece
outside the gap, on both sides, and the gap's pieces already chosen.
`export_tflite` writes the model's `fill` signature with the tokenizer beside
it, for `python -m edge_demo model.tflite --text "A man in a ___ hat"`, which
does the same with numpy, SentencePiece and the LiteRT runtime
(`edge_demo.fill`).

Example:

>>> from keras_attention.data.subwords import SubwordTokenizer
>>> from keras_attention.models import XLNetLM
>>> captions = ["A man in a red hat.", "A dog in a blue car."] * 20
>>> tokenizer = SubwordTokenizer.train(captions, vocabulary_size=30)
>>> model = XLNetLM(tokenizer.vocabulary_size, hidden_dim=8, num_heads=2,
...                 intermediate_dim=16, num_blocks=1)
>>> filler = GapFiller(model, tokenizer, sequence_length=24)
>>> len(filler.fill("A man in a ___ hat.", gap_length=2)["pieces"])
2
"""

import hashlib
import os
import re

import numpy as np
from keras import ops

from keras_attention.data import subwords
from keras_attention.layers._validation import check_positive_int
from keras_attention.models.xlnet import XLNetLM

GAP = re.compile(r"_{3,}")


class GapFiller:
    """An `XLNetLM` and its tokenizer, filling gaps written `___`.

    Args:
        model: a trained `XLNetLM`.
        tokenizer: the `SubwordTokenizer` of its training text.
        sequence_length: `T`, the rows' length (the exported signature's).
    """

    def __init__(self, model, tokenizer, sequence_length):
        if not isinstance(model, XLNetLM):
            raise ValueError(f"model must be an XLNetLM, received {type(model).__name__}")
        if tokenizer.vocabulary_size != model.vocabulary_size:
            raise ValueError(
                f"the tokenizer has {tokenizer.vocabulary_size} pieces, the model "
                f"{model.vocabulary_size}: they must be trained together"
            )
        if not isinstance(sequence_length, int) or sequence_length < 3:
            raise ValueError(
                f"sequence_length must be an int >= 3, received {sequence_length!r}"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length

    def gap_inputs(self, text, gap_length=1):
        """`(token_ids [T], gap positions, left ids, right ids)` of a text
        with one gap, as `edge_demo.fill` builds them."""
        if not isinstance(text, str):
            raise ValueError(f"text must be a str, received {type(text).__name__}")
        check_positive_int("gap_length", gap_length)
        parts = GAP.split(text)
        if len(parts) != 2:
            raise ValueError(
                "text must hold exactly one gap written as three or more underscores "
                f"('A man in a ___ hat'), received {len(parts) - 1}: {text!r}"
            )
        left, right = (self.tokenizer.encode(p.strip(), add_end=False) if p.strip() else []
                       for p in parts)
        ids = [subwords.START_ID, *left, *[subwords.START_ID] * gap_length, *right,
               subwords.END_ID]
        if len(ids) > self.sequence_length:
            raise ValueError(
                f"text with its gap is {len(ids)} pieces (start and end included), "
                f"more than sequence_length={self.sequence_length}"
            )
        start = 1 + len(left)
        token_ids = np.zeros(self.sequence_length, "int32")
        token_ids[: len(ids)] = ids
        return token_ids, list(range(start, start + gap_length)), left, right

    def fill(self, text, gap_length=1):
        """`{"text", "pieces", "probabilities"}`: the text with its gap
        filled by `gap_length` pieces, chosen left to right (never a special
        piece), and each one's probability."""
        token_ids, positions, left, right = self.gap_inputs(text, gap_length)
        padding = (token_ids != subwords.PAD_ID).astype("int32")
        gap = np.zeros_like(padding)
        gap[positions] = 1
        special = [subwords.PAD_ID, subwords.START_ID, subwords.END_ID, subwords.UNKNOWN_ID]
        chosen, probabilities = [], []
        for position in positions:
            out = ops.convert_to_numpy(
                self.model.fill(token_ids[None], padding[None], gap[None]))[0, position]
            out = out.astype("float64")
            masked = out.copy()
            masked[special] = -np.inf
            token = int(np.argmax(masked))
            token_ids[position] = token
            chosen.append(token)
            probabilities.append(float(out[token]))
        return {"text": self.tokenizer.decode(left + chosen + right),
                "pieces": [self.tokenizer.id_to_piece(i) for i in chosen],
                "probabilities": probabilities}

    def calibration_arrays(self, sentences, seed=0):
        """`[token_ids, padding_mask, gap_mask]` int32 `[N, T]`: the
        sentences that fit, each with a gap of 1 to 3 pieces in its middle
        (as the device fills them), for the integer export modes."""
        packed = self.tokenizer.pack(list(sentences), self.sequence_length)
        token_ids = packed["token_ids"]
        if not len(token_ids):
            raise ValueError(
                f"no calibration sentence fits sequence_length={self.sequence_length}")
        lengths = packed["padding_mask"].sum(1)
        rng = np.random.default_rng(seed)
        spans = np.minimum(rng.integers(1, 4, len(lengths)), np.maximum(lengths - 2, 1))
        starts = np.maximum((lengths - spans) // 2, 1)
        index = np.arange(self.sequence_length)[None]
        gap = (index >= starts[:, None]) & (index < (starts + spans)[:, None])
        return [token_ids.astype("int32"), packed["padding_mask"].astype("int32"),
                gap.astype("int32")]

    def export_tflite(self, path, mode=None, calibration_sentences=None,
                      num_calibration_sentences=64):
        """Export for `edge_demo`: the `fill` signature (batch 1), its
        metadata with a `"fill"` task, and the tokenizer as
        `<stem>.tokenizer.model`, which the metadata names with its SHA-256.

        Args:
            path: the `.tflite` file.
            mode: an `export` mode; None is the model's default.
            calibration_sentences: real sentences, required for `int8` and
                `int16x8` (`calibration_arrays`).
            num_calibration_sentences: how many of them to use.

        Returns:
            The metadata's path.
        """
        from keras_attention_export import default_mode, export_tflite
        from keras_attention_export.outputs import StagedFiles

        mode = default_mode(self.model) if mode is None else mode
        calibration = None
        if mode in ("int8", "int16x8"):
            if not calibration_sentences:
                raise ValueError(
                    f"mode={mode!r} needs calibration_sentences (real sentences), "
                    "received none")
            arrays = self.calibration_arrays(
                list(calibration_sentences)[:num_calibration_sentences])
            calibration = {"fill": arrays}
        file = f"{os.path.splitext(path)[0]}.tokenizer.model"
        task = {
            "kind": "fill",
            "pad_id": subwords.PAD_ID,
            "start_id": subwords.START_ID,
            "end_id": subwords.END_ID,
            "tokenizer": {"file": os.path.basename(file),
                          "sha256": hashlib.sha256(self.tokenizer.model_proto).hexdigest()},
        }
        # The tokenizer waits in a staging folder until the model and its
        # metadata are written: a failed conversion leaves every old file.
        with StagedFiles() as staged:
            self.tokenizer.save(staged.stage(file))
            metadata = export_tflite(
                self.model, path, mode=mode,
                signatures=self.model.export_signatures(self.sequence_length),
                representative_data=calibration,
                num_calibration_samples=len(calibration["fill"][0]) if calibration else 100,
                task=task,
            )
            staged.commit()
        return metadata
