"""`python -m keras_attention.tour [--quick] [--out DIR]` (`keras-attention tour`)."""

import argparse
import os
import sys

from edge_demo.quiet import quiet_logs

DESCRIPTION = """\
Train each family's reference models on built-in data (and MNIST for the
images family: --mnist), export them to LiteRT (float32, dynamic range and
int8), run them on the device runtime (edge_demo: numpy and LiteRT only)
and write a report folder: index.md with the table, training curves and
attention pictures, and every exported model with its metadata.

families:
  sequence  dates to ISO 8601: an RNN encoder-decoder, the same with
            Bahdanau attention, a Transformer
  graph     Zachary's karate club: GATv2 and GCN node classifiers
  ntm       a Neural Turing Machine learns to copy bit vectors
  xlnet     dates as sentences: an XLNet permutation LM fills the hidden
            month from both sides
  images    MNIST digits: a Vision Transformer beside a CNN, a captioner
            attending over scenes of digits, a GAT over superpixel graphs"""

EXAMPLES = """\
examples:
  keras-attention tour --quick                  # about four minutes
  keras-attention tour --out tour_report        # the full tour
  python -m edge_demo tour_report/karate_gatv2_int8.tflite \\
      --inputs tour_report/karate_club.npz      # a tour model on the device
  python -m edge_demo tour_report/xlnet_int8.tflite \\
      --text "saturday, ___ 15th 2070 = 2070-02-15"  # XLNet fills the gap
  keras-attention tour --families images --mnist ~/data/mnist
  python -m edge_demo tour_report/mnist_cnn_int8.tflite \\
      --image tour_report/mnist_digit.png       # a digit classified
  python -m edge_demo tour_report/scene_captioner_dynamic.tflite \\
      --image tour_report/scene.png             # a scene captioned

TensorFlow's, absl's and LiteRT's log lines are hidden unless --verbose."""


# The families' short names (keras_attention.tour.FAMILIES), here without
# importing the tour (which imports TensorFlow) before --help.
_FAMILY_NAMES = ("sequence", "graph", "ntm", "xlnet", "qa", "images")


def _families(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in _FAMILY_NAMES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"must name some of {', '.join(_FAMILY_NAMES)}, comma-separated; "
            f"received {text!r}")
    return names


def _folder(text):
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"must be a folder; {text!r} is not one")
    return text


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-attention tour",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="about four minutes: less data, fewer epochs"
    )
    parser.add_argument("--out", default="tour_report", help="report folder")
    parser.add_argument(
        "--families", type=_families, default=None, metavar="NAMES",
        help="the families to run, comma-separated (default: all of "
             f"{','.join(_FAMILY_NAMES)})",
    )
    parser.add_argument(
        "--mnist", metavar="DIR", type=_folder, default=None,
        help="the folder of MNIST's IDX files (t10k-images-idx3-ubyte[.gz], "
             "t10k-labels-idx1-ubyte[.gz]) for the images family; by default "
             "the checkout's ../shared/data/mnist, else the download cache, "
             "else downloaded once",
    )
    parser.add_argument(
        "--verbose", action="store_true",
        help="show TensorFlow's, absl's and LiteRT's log lines (hidden by default)",
    )
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    with quiet_logs(args.verbose):
        from keras_attention.tour import FamilySkipped, run_tour

        try:
            index, table = run_tour(args.out, quick=args.quick, families=args.families,
                                    data={"mnist": args.mnist})
        except FamilySkipped as reason:
            print(f"keras-attention tour: error: nothing ran. {reason}", file=sys.stderr)
            return 2
    print(f"\n{table}\n\nreport: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
