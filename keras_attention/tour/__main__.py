"""`python -m keras_attention.tour [--quick] [--out DIR]` (`keras-attention tour`)."""

import argparse
import sys

from edge_demo.quiet import quiet_logs

DESCRIPTION = """\
Train each family's reference models on built-in data (nothing is
downloaded), export them to LiteRT (float32, dynamic range and int8), run
them on the device runtime (edge_demo: numpy and LiteRT only) and write a
report folder: index.md with the table, training curves and attention
pictures, and every exported model with its metadata.

families:
  sequence  dates to ISO 8601: an RNN encoder-decoder, the same with
            Bahdanau attention, a Transformer
  graph     Zachary's karate club: GATv2 and GCN node classifiers
  ntm       a Neural Turing Machine learns to copy bit vectors
  xlnet     dates as sentences: an XLNet permutation LM fills the hidden
            month from both sides"""

EXAMPLES = """\
examples:
  keras-attention tour --quick                  # about three minutes
  keras-attention tour --out tour_report        # the full tour
  python -m edge_demo tour_report/karate_gatv2_int8.tflite \\
      --inputs tour_report/karate_club.npz      # a tour model on the device
  python -m edge_demo tour_report/xlnet_int8.tflite \\
      --text "saturday, ___ 15th 2070 = 2070-02-15"  # XLNet fills the gap

TensorFlow's, absl's and LiteRT's log lines are hidden unless --verbose."""


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-attention tour",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="about three minutes: less data, fewer epochs"
    )
    parser.add_argument("--out", default="tour_report", help="report folder")
    parser.add_argument(
        "--verbose", action="store_true",
        help="show TensorFlow's, absl's and LiteRT's log lines (hidden by default)",
    )
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    with quiet_logs(args.verbose):
        from keras_attention.tour import run_tour

        index, table = run_tour(args.out, quick=args.quick)
    print(f"\n{table}\n\nreport: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
