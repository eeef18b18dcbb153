"""Reference models built from the library's layers.

What it holds: the sequence models (`RNNSeq2Seq`, `TransformerSeq2Seq`, the
translation recipes, greedy and beam search), `TransformerXL`, `XLNetLM` and its `MaskedLM` baseline (and `gap_filling`, the three filling a gap), the NTM and
LSTM task models, the question-answering readers (MemN2N, an LSTM, an NTM), the graph models, the image classifiers (a ViT and a CNN) and captioners, and `signature`, the small spec with
which a model describes its device entry points.

What it may import: `keras_attention.layers` and `keras_attention.data`,
Keras and numpy; TensorFlow only inside functions that need it (through
`keras_attention._tensorflow`, which names what to install). Never the
exporter (`keras_attention_export`), `edge_demo` or plotting.
"""

from keras_attention.models.graph_models import (
    gat_graph_classifier,
    gat_link_predictor,
    gat_node_classifier,
    gcn_graph_classifier,
    gcn_node_classifier,
    graph_batches,
    node_dataset,
    train_graph_classifier,
    train_link_predictor,
    train_node_classifier,
)
from keras_attention.models.ntm_models import (
    compile_task_model,
    lstm_model,
    ntm_copy_metadata,
    ntm_initial_state,
    ntm_model,
    ntm_representative_data,
    ntm_step_signatures,
    ntm_weightings,
    task_dataset,
    task_widths,
    train_task_model,
)
from keras_attention.models.decoding import beam_search, greedy_search
from keras_attention.models.rnn_seq2seq import RNNSeq2Seq
from keras_attention.models.transformer_seq2seq import TransformerSeq2Seq
from keras_attention.models.transformer_xl import TransformerXL
from keras_attention.models.masked_lm import MaskedLM, MaskedLMDataset
from keras_attention.models.xlnet import PermutationLMDataset, XLNetLM
from keras_attention.models.captioning import (
    AttentiveCaptioner,
    TransformerCaptioner,
    caption_task_metadata,
)
from keras_attention.models.vision_models import (
    ImageBatches,
    as_model_images,
    cnn_classifier,
    compile_image_classifier,
    image_task_metadata,
    vit_attention,
    vit_classifier,
)
from keras_attention.models.memory_qa import (
    LinearStart,
    attention_model,
    compile_qa_model,
    lstm_reader_model,
    memn2n_model,
    memn2n_signatures,
    ntm_reader_model,
    qa_model,
    qa_task_metadata,
    support_recall,
)
from keras_attention.models.translation_models import (
    InverseSquareRootSchedule,
    SmoothedSparseCrossentropy,
    compile_translation_model,
    train_translation_model,
    translation_model,
)

__all__ = [
    "LinearStart",
    "attention_model",
    "compile_qa_model",
    "lstm_reader_model",
    "memn2n_model",
    "memn2n_signatures",
    "qa_task_metadata",
    "support_recall",
    "ntm_reader_model",
    "qa_model",
    "AttentiveCaptioner",
    "TransformerCaptioner",
    "caption_task_metadata",
    "ImageBatches",
    "as_model_images",
    "cnn_classifier",
    "compile_image_classifier",
    "image_task_metadata",
    "vit_attention",
    "vit_classifier",
    "InverseSquareRootSchedule",
    "MaskedLM",
    "MaskedLMDataset",
    "PermutationLMDataset",
    "RNNSeq2Seq",
    "SmoothedSparseCrossentropy",
    "TransformerSeq2Seq",
    "TransformerXL",
    "beam_search",
    "compile_translation_model",
    "greedy_search",
    "train_translation_model",
    "translation_model",
    "XLNetLM",
    "gat_graph_classifier",
    "gat_link_predictor",
    "gat_node_classifier",
    "gcn_graph_classifier",
    "gcn_node_classifier",
    "compile_task_model",
    "lstm_model",
    "ntm_copy_metadata",
    "ntm_initial_state",
    "ntm_model",
    "ntm_representative_data",
    "ntm_step_signatures",
    "ntm_weightings",
    "task_dataset",
    "task_widths",
    "train_task_model",
    "graph_batches",
    "node_dataset",
    "train_graph_classifier",
    "train_link_predictor",
    "train_node_classifier",
]
