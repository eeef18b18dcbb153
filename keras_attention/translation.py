"""Translating text with a trained model, scoring it, and the pictures.

`Translator` puts a translation model (`models.translation_model`) together
with its two `SubwordTokenizer`s: sentences in, sentences out, by beam
search (`models.decoding`), and saved to or loaded from one folder (the
Keras model, the two SentencePiece `.model` files and a small JSON file).

`evaluate` scores translations with sacrebleu (BLEU and chrF on detokenized
text, sacrebleu's default 13a tokenization), `bleu_by_length` splits BLEU by
source length as Bahdanau et al.'s figure 2 does, and `write_report` writes
a report folder: a table, the BLEU-by-length plot of every model on one
picture, and alignment heatmaps for chosen sentences (RNNsearch's
alignments as in Bahdanau et al.'s figure 3, and the Transformer's
cross-attention per head).
"""

import hashlib
import json
import os

import keras
import numpy as np

from edge_demo.files import write_atomically
from keras_attention.data import subwords, translation
from keras_attention.models import decoding, translation_models

TRANSLATOR_FILE = "translator.json"
LENGTH_BINS = (0, 10, 20, 30, 40, 50, 1000)


def _sacrebleu():
    import sacrebleu

    return sacrebleu


class Translator:
    """A translation model with its source and target tokenizers.

    Args:
        model: a `RNNSeq2Seq` or `TransformerSeq2Seq`.
        source_tokenizer, target_tokenizer: `SubwordTokenizer`s whose
            vocabulary sizes match the model's.
        source_language, target_language: labels, e.g. `"de"`, `"en"`.
    """

    def __init__(self, model, source_tokenizer, target_tokenizer,
                 source_language="de", target_language="en"):
        translation_models.model_kind(model)  # checks the model's type
        for side, tokenizer, size in (
            ("source", source_tokenizer, model.source_vocabulary_size),
            ("target", target_tokenizer, model.target_vocabulary_size),
        ):
            if not isinstance(tokenizer, subwords.SubwordTokenizer):
                raise ValueError(
                    f"{side}_tokenizer must be a SubwordTokenizer, received "
                    f"{type(tokenizer).__name__}"
                )
            if tokenizer.vocabulary_size != size:
                raise ValueError(
                    f"the {side} tokenizer has {tokenizer.vocabulary_size} pieces but "
                    f"the model's {side}_vocabulary_size is {size}"
                )
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.source_language = source_language
        self.target_language = target_language

    @property
    def kind(self):
        return translation_models.model_kind(self.model)

    def source_ids(self, sentences):
        """Sentences as padded ids `[N, S]`; longer ones are cut to fit.

        An empty sentence is just the end id; characters the vocabulary
        lacks are the unknown id.
        """
        ids = self.source_tokenizer.encode(list(sentences))
        return translation.pad_ids(ids, self.model.source_length, truncate=True)

    def translate(self, sentences, beam_size=4, length_penalty=0.6, batch_size=64):
        """Translations of `sentences` (a list of str), by beam search."""
        source = self.source_ids(sentences)
        ids, _ = decoding.beam_search(
            self.model, source, beam_size=beam_size, length_penalty=length_penalty,
            batch_size=batch_size,
        )
        return self.target_tokenizer.decode(ids) if len(ids) else []

    def alignment(self, sentence, beam_size=4, length_penalty=0.6):
        """The attention of one translation, for a heatmap.

        Returns `(weights, source_pieces, target_pieces)`: for RNNsearch the
        alignment `[T, S]`; for the Transformer the last decoder block's
        cross-attention per head `[H, T, S]`; cut to the pieces shown.
        """
        if self.kind == "seq2seq":
            raise ValueError("the seq2seq model has no attention to show")
        source = self.source_ids([sentence])
        ids, _ = decoding.beam_search(
            self.model, source, beam_size=beam_size, length_penalty=length_penalty
        )
        decoder_inputs = self.model._decoder_inputs_of(ids)
        weights = self.model.attention_weights(source, decoder_inputs)[0]
        if self.kind == "transformer":
            weights = weights[-1]  # [H, T, S], the last decoder block
        source_count = int((source[0] != 0).sum())
        target_count = int((ids[0] != 0).sum())
        pieces = self.source_tokenizer.id_to_piece
        return (
            weights[..., :target_count, :source_count],
            [pieces(i) for i in source[0, :source_count]],
            [self.target_tokenizer.id_to_piece(i) for i in ids[0, :target_count]],
        )

    # -- to a device -----------------------------------------------------------

    def export_tflite(self, path, mode=None, calibration_sentences=None,
                      num_calibration_sentences=64, range_quantile=None,
                      float_ops=None):
        """Export for `edge_demo`: the `.tflite`, its metadata and the tokenizers.

        Writes `path` with the model's `encode` and `decode_step`
        signatures (batch 1), the metadata JSON beside it with a
        `"translation"` task, and the two SentencePiece files as
        `<stem>.source.model` and `<stem>.target.model`, which the metadata
        names with their SHA-256. `edge_demo`'s `EdgeModel.translate` (and
        `python -m edge_demo PATH --text ...`) then translates with no
        TensorFlow.

        Args:
            path: the `.tflite` file.
            mode: an `export` mode; None is the model's default (dynamic
                range for these models).
            calibration_sentences: source sentences whose decoding calibrates
                the int8 and int16x8 modes (required for them).
            num_calibration_sentences: how many of them to use.
            range_quantile, float_ops: for `int8`, see `export.convert`.

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
                    f"mode={mode!r} needs calibration_sentences (real source "
                    "sentences), received none"
                )
            source = self.source_ids(list(calibration_sentences)[:num_calibration_sentences])
            calibration = self.model.representative_data(source)
        stem = os.path.splitext(path)[0]
        task = {
            "kind": "translation",
            "source_language": self.source_language,
            "target_language": self.target_language,
            "pad_id": subwords.PAD_ID,
            "start_id": self.model.start_id,
            "end_id": self.model.end_id,
            "max_target_length": self.model.target_length,
        }
        # The tokenizers wait in a staging folder until the model and its
        # metadata are written: a failed conversion leaves every old file.
        with StagedFiles() as tokenizers:
            for side, tokenizer in (("source", self.source_tokenizer),
                                    ("target", self.target_tokenizer)):
                file = f"{stem}.{side}.model"
                tokenizer.save(tokenizers.stage(file))
                task[f"{side}_tokenizer"] = {
                    "file": os.path.basename(file),
                    "sha256": hashlib.sha256(tokenizer.model_proto).hexdigest(),
                }
            metadata = export_tflite(
                self.model, path, mode=mode,
                signatures=self.model.export_signatures(),
                representative_data=calibration,
                num_calibration_samples=100_000,  # every recorded step
                task=task,
                range_quantile=range_quantile,
                float_ops=float_ops,
            )
            tokenizers.commit()
        return metadata

    # -- one folder ------------------------------------------------------------

    def save(self, folder):
        """Writes `model.keras`, `source.model`, `target.model` and `translator.json`.

        All four are written into a staging folder first and moved into
        `folder` together: a failed save leaves the files already there.
        """
        from keras_attention_export.outputs import StagedFiles

        def at(name):
            return files.stage(os.path.join(folder, name))

        with StagedFiles() as files:
            self.model.save(at("model.keras"))
            self.source_tokenizer.save(at("source.model"))
            self.target_tokenizer.save(at("target.model"))
            with open(at(TRANSLATOR_FILE), "w") as file:
                json.dump(
                    {"kind": self.kind, "source_language": self.source_language,
                     "target_language": self.target_language}, file, indent=2,
                )
            files.commit()
        return folder

    @classmethod
    def load(cls, folder):
        """Reads a folder that `save` wrote."""
        path = os.path.join(folder, TRANSLATOR_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{folder!r} holds no {TRANSLATOR_FILE}: pass a folder Translator.save wrote"
            )
        with open(path) as file:
            meta = json.load(file)
        model = keras.models.load_model(os.path.join(folder, "model.keras"))
        return cls(
            model,
            subwords.SubwordTokenizer.load(os.path.join(folder, "source.model")),
            subwords.SubwordTokenizer.load(os.path.join(folder, "target.model")),
            meta.get("source_language", "de"),
            meta.get("target_language", "en"),
        )


def evaluate(hypotheses, references):
    """Corpus BLEU and chrF (sacrebleu, detokenized text): a dict of floats."""
    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references):
        raise ValueError(
            "hypotheses and references must be aligned, received "
            f"{len(hypotheses)} and {len(references)}"
        )
    if not references:
        raise ValueError("references must hold at least one sentence, received none")
    sacrebleu = _sacrebleu()
    return {
        "bleu": float(sacrebleu.corpus_bleu(hypotheses, [references]).score),
        "chrf": float(sacrebleu.corpus_chrf(hypotheses, [references]).score),
    }


def bleu_by_length(sources, hypotheses, references, bins=LENGTH_BINS):
    """BLEU per bin of source length in words: `[(low, high, count, bleu)]`.

    A sentence of `n` words falls in the bin `low <= n < high`; empty bins
    are left out.
    """
    sacrebleu = _sacrebleu()
    lengths = np.array([len(s.split()) for s in sources])
    rows = []
    for low, high in zip(bins[:-1], bins[1:]):
        chosen = np.flatnonzero((lengths >= low) & (lengths < high))
        if len(chosen) == 0:
            continue
        bleu = sacrebleu.corpus_bleu(
            [hypotheses[i] for i in chosen], [[references[i] for i in chosen]]
        ).score
        rows.append((int(low), int(high), int(len(chosen)), float(bleu)))
    return rows


def plot_bleu_by_length(results, path):
    """One line per model: `results` maps a name to `bleu_by_length` rows."""
    from keras_attention import plotting

    figure, axis = plotting.subplots(figsize=(6, 4))
    for name, rows in results.items():
        centers = [(low + min(high, low + 10)) / 2 for low, high, _, _ in rows]
        axis.plot(centers, [bleu for *_, bleu in rows], "o-", label=name)
    axis.set_xlabel("source sentence length (words)")
    axis.set_ylabel("BLEU")
    axis.set_title("BLEU by source length")
    axis.legend()
    plotting.save(figure, path)


def write_report(translators, sources, references, out_dir, examples=(0,),
                 beam_size=4, length_penalty=0.6):
    """Translate, score and draw: the report folder of a set of models.

    Args:
        translators: `{name: Translator}`.
        sources, references: aligned sentences (a validation split).
        out_dir: written: `index.md`, `scores.json`, `bleu_by_length.png`,
            and `alignment_{name}_{i}.png` for each attention model and each
            index `i` of `examples` (per head for the Transformer).

    Returns:
        `{name: {"bleu", "chrf", "by_length"}}`.
    """
    from keras_attention.plotting import plot_heatmap

    bad = [i for i in examples if not 0 <= i < len(sources)]
    if bad:
        raise ValueError(
            f"examples must be indices into the {len(sources)} sources, received {bad}"
        )
    os.makedirs(out_dir, exist_ok=True)
    scores, lines = {}, []
    for name, translator in translators.items():
        hypotheses = translator.translate(
            sources, beam_size=beam_size, length_penalty=length_penalty
        )
        scores[name] = {
            **evaluate(hypotheses, references),
            "by_length": bleu_by_length(sources, hypotheses, references),
            "examples": [
                {"source": sources[i], "reference": references[i],
                 "translation": hypotheses[i]}
                for i in examples
            ],
        }
        if translator.kind == "seq2seq":
            continue
        for i in examples:
            weights, source_pieces, target_pieces = translator.alignment(
                sources[i], beam_size=beam_size, length_penalty=length_penalty
            )
            if weights.ndim == 2:
                weights = weights[None]
            for head, matrix in enumerate(weights):
                suffix = f"_head{head}" if len(weights) > 1 else ""
                file = f"alignment_{name}_{i}{suffix}.png"
                plot_heatmap(matrix, source_pieces, target_pieces,
                             f"{name}{suffix.replace('_', ' ')}: sentence {i}",
                             os.path.join(out_dir, file))
                lines.append(f"![{name} {i}{suffix}]({file})")
    plot_bleu_by_length(
        {name: s["by_length"] for name, s in scores.items()},
        os.path.join(out_dir, "bleu_by_length.png"),
    )
    write_atomically(os.path.join(out_dir, "scores.json"), json.dumps(scores, indent=2))
    table = ["| model | BLEU | chrF |", "| --- | --- | --- |"] + [
        f"| {name} | {s['bleu']:.2f} | {s['chrf']:.2f} |" for name, s in scores.items()
    ]
    page = [
        "# Translation report", "",
        f"{len(sources)} sentences, beam size {beam_size}, length penalty "
        f"{length_penalty}; sacrebleu BLEU and chrF on detokenized text.", "",
        *table, "", "![BLEU by source length](bleu_by_length.png)", "", *lines, "",
    ]
    write_atomically(os.path.join(out_dir, "index.md"), "\n".join(page))
    return scores
