"""Quiet command lines: TensorFlow, absl and LiteRT logs hidden unless --verbose.

TensorFlow and LiteRT write their C++ logs straight to file descriptor 2,
where Python's own settings cannot reach them, and some of them even with
`TF_CPP_MIN_LOG_LEVEL=3` (`cudart_stub.cc:31] Could not find cuda drivers`
at import, `INFO: Created TensorFlow Lite XNNPACK delegate for CPU.` at the
first inference, `fully_quantize: 0, inference_type: 6, ...` from the
quantizer). So `quiet_logs()` passes descriptor 2 through a small filter
process for the duration of a block: lines that look like those logs
(`LOG_LINE`) are held back, everything else is forwarded at once -- our own
messages, Python tracebacks, LiteRT's `ERROR:` lines and fatal (`F`) log
lines. If the block fails (an exception escapes it, or the process dies in
native code, as TF's converter can), the held lines are written out after
all, since the cause may be among them. The filter is a process rather than
a thread so that it outlives a crash of ours.

Python's side is quieted in the same block: `TF_CPP_MIN_LOG_LEVEL=2` (errors
are still logged, so that a failure can show them), the `absl` and
`tensorflow` loggers at ERROR, and warnings raised inside TensorFlow, the
converter and LiteRT ignored. All of it is restored when the block ends.

Every command of the project uses this one module: edge_demo may import
nothing of ours, and the others (`keras-attention`, `keras-attention-export`,
the benchmarks) import it rather than keep a copy. It needs the standard
library only, and must be entered before TensorFlow is first imported to
hide its import-time lines too.
"""

import atexit
import contextlib
import logging
import os
import re
import subprocess
import sys
import warnings

# One alternative per kind of line, anchored at the line's start.
LOG_LINE = "|".join(
    [
        # absl and TensorFlow's C++ logs: "I0000 00:00:1796.4 6348 file.cc:31] ..."
        # (fatal F lines are left visible).
        r"[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] ",
        r"WARNING: All log messages before absl::InitializeLog\(\) is called",
        # The second line of cpu_feature_guard's message.
        r"To enable the following instructions: .* rebuild TensorFlow",
        # LiteRT's (TFLite's) own logger; its ERROR lines stay visible.
        r"(?:INFO|WARNING|VERBOSE): ",
        # printed by TensorFlow's int8 quantizer, without a prefix.
        r"fully_quantize: \d+, inference_type: ",
        # Python's logging of absl and TensorFlow, if something configured it.
        r"(?:DEBUG|INFO|WARNING):(?:absl|tensorflow):",
    ]
)

# Modules whose Python warnings are not the user's business (deprecations
# inside the converter, tf.lite.Interpreter's own deprecation notice).
NOISY_MODULES = (
    r"(?:tensorflow|tf_keras|tf2onnx|onnx|onnxruntime|ai_edge_litert|absl"
    r"|google\.protobuf)(?:\.|$)"
)
NOISY_LOGGERS = ("absl", "tensorflow")

# The filter process: forwards what is not a log line, holds what is, and
# writes the held lines out unless the last line it read says all went well.
_FILTER = r"""
import collections, re, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
log_line, end = re.compile(sys.argv[1].encode()), b"\0" + sys.argv[2].encode()
held, failed = collections.deque(maxlen=5000), True  # no end line: the parent died
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if line.startswith(end):
        failed = line.rstrip().endswith(b"failed")
    elif log_line.match(line):
        held.append(line)
    else:
        out.write(line)
        out.flush()
if failed and held:
    out.writelines(held)
    out.flush()
"""


class _Filter:
    """Descriptor 2 redirected into a filter process, until `stop`."""

    def __init__(self):
        self._original = os.dup(2)
        token = "quiet-end-" + os.urandom(8).hex()
        self._end = b"\0" + token.encode()  # no line of text starts so
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _FILTER, LOG_LINE, token],
                stdin=subprocess.PIPE,
                stdout=self._original,
            )
        except OSError:
            os.close(self._original)
            raise
        _flush_stderr()
        os.dup2(self._process.stdin.fileno(), 2)

    def stop(self, failed):
        _flush_stderr()
        status = b" failed\n" if failed else b" ok\n"
        try:
            os.write(2, self._end + status)
        except OSError:
            pass  # the filter is gone; it wrote what it held
        os.dup2(self._original, 2)
        os.close(self._original)
        self._process.stdin.close()
        try:
            # A child process of ours that still holds descriptor 2 keeps the
            # filter reading; it ends with that process.
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


def _flush_stderr():
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()


def _start_filter():
    """A running `_Filter`, or None where descriptor 2 or a Python to run the
    filter is missing (an embedded interpreter): then logs stay visible."""
    if not sys.executable:
        return None
    try:
        os.fstat(2)
        return _Filter()
    except OSError:
        return None


@contextlib.contextmanager
def quiet_logs(verbose=False):
    """Hide TensorFlow, absl and LiteRT logs inside the block; see the module.

    With `verbose=True` it does nothing: every log line shows.
    """
    if verbose:
        yield
        return
    saved_level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    loggers = {name: logging.getLogger(name) for name in NOISY_LOGGERS}
    levels = {name: logger.level for name, logger in loggers.items()}
    for logger in loggers.values():
        logger.setLevel(logging.ERROR)
    failed = False
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=NOISY_MODULES)
            log_filter = _start_filter()
            try:
                yield
            except Exception:
                failed = True
                raise
            finally:
                if log_filter is not None:
                    log_filter.stop(failed)
    finally:
        for name, logger in loggers.items():
            logger.setLevel(levels[name])
        if saved_level is None:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        else:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = saved_level


def quiet_process(verbose=False):
    """`quiet_logs` from here to the end of the process.

    For a script that imports TensorFlow at its top (the benchmarks): call it
    before those imports. An uncaught exception counts as a failure.
    """
    block = quiet_logs(verbose)
    block.__enter__()
    failure = []
    previous_hook = sys.excepthook

    def excepthook(kind, value, traceback):
        failure.append((kind, value, traceback))
        previous_hook(kind, value, traceback)

    def stop():
        if failure:
            with contextlib.suppress(BaseException):
                block.__exit__(*failure[0])
        else:
            block.__exit__(None, None, None)

    sys.excepthook = excepthook
    atexit.register(stop)
