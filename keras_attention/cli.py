"""`keras-attention COMMAND`: the library's command line (`tour`, `ask`)."""

import argparse
import importlib
import sys

# Each command and the module whose `main(argv)` runs it.
COMMANDS = {"tour": "keras_attention.tour.__main__", "ask": "keras_attention.ask"}

DESCRIPTION = """\
The command line of keras-attention. Each command takes its own --help.

commands:
  tour   train every family's reference models on built-in data, export them
         to LiteRT (float32, dynamic range, int8), run them on the device
         runtime (edge_demo) and write a report folder
  ask    ask a memory network questions about a story, and see the facts it
         attended to"""

EXAMPLES = """\
examples:
  keras-attention tour --quick --out tour_report   # about four minutes
  keras-attention tour --help
  keras-attention ask --task 2 --question "Where is the football?"

The other commands: keras-attention-export (a saved model to LiteRT) and
python -m edge_demo (run an exported model with LiteRT only)."""


def version():
    """The installed keras-attention's version (the source tree's otherwise)."""
    from importlib import metadata

    try:
        return metadata.version("keras-attention")
    except metadata.PackageNotFoundError:
        import keras_attention

        return keras_attention.__version__


def _parser():
    parser = argparse.ArgumentParser(
        prog="keras-attention",
        description=DESCRIPTION,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND",
                        help=f"one of: {', '.join(sorted(COMMANDS))}")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, metavar="...",
                        help="the command's own arguments (see COMMAND --help)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    return parser


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        _parser().print_usage(sys.stderr)
        print("keras-attention: give a COMMAND (--help lists them)", file=sys.stderr)
        return 2
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit:  # --help, --version, or a usage error (2)
        return exit.code
    return importlib.import_module(COMMANDS[args.command]).main(args.arguments)
