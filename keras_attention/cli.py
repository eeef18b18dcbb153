"""`keras-attention COMMAND`: the library's command line (`tour` for now)."""

import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"tour": "keras_attention.tour.__main__"}
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        print(
            "usage: keras-attention tour [--quick] [--out DIR]\n\n"
            "commands:\n  tour   train, export and run on device every "
            "family's reference models; write a report folder"
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    import importlib

    return importlib.import_module(commands[argv[0]]).main(argv[1:])
