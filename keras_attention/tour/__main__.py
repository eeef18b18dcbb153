"""`python -m keras_attention.tour [--quick] [--out DIR]`."""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="keras-attention tour",
        description="Train each family's reference models on built-in data, "
        "export them to LiteRT (float32 and int8), run the int8 models on the "
        "device runtime and write a report folder.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="about a minute: less data, fewer epochs"
    )
    parser.add_argument("--out", default="tour_report", help="report folder")
    args = parser.parse_args(argv)
    from keras_attention.tour import run_tour

    index, table = run_tour(args.out, quick=args.quick)
    print(f"\n{table}\n\nreport: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
