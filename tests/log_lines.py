"""What a log line of TensorFlow, absl or LiteRT looks like, for the tests
that our commands print none by default.

Written apart from `edge_demo.quiet.LOG_LINE` on purpose, so that a mistake
in that pattern cannot hide itself here.
"""

import re

PATTERNS = [
    r"^[IWEF]\d{4} ",  # absl / TensorFlow C++: "I0000 00:00:17.5 6348 file.cc:31] ..."
    r"cuInit",
    r"oneDNN",
    r"TF-TRT",
    r"absl::",
    r"WARNING: All log messages before absl",
    r"tensorflow/",  # a path inside TensorFlow: a C++ log or a Python warning
    r"rebuild TensorFlow",
    r"^(INFO|WARNING|VERBOSE): ",  # LiteRT's own logger
    r"XNNPACK",
    r"fully_quantize",
    r"Warning: ",  # Python warnings: "...: UserWarning: ...", "DeprecationWarning: "
    r"^(INFO|WARNING):(absl|tensorflow):",
]


def log_lines(text):
    """The lines of `text` that look like TensorFlow, absl or LiteRT logs."""
    return [
        line
        for line in text.splitlines()
        if any(re.search(pattern, line) for pattern in PATTERNS)
    ]
