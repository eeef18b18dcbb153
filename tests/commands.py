"""Running a command from a test, with everything it printed for the failure message."""

import os
import subprocess

# What tests/conftest.py adds to XLA_FLAGS for the suite: XLA without LLVM's
# optimisation passes, which compiles faster and runs slower.
FAST_COMPILE_FLAG = "--xla_backend_optimization_level=0"


def optimized_xla_environment():
    """`os.environ` without the suite's FAST_COMPILE_FLAG: for a subprocess
    that trains for many steps, where run time outweighs compile time."""
    flags = os.environ.get("XLA_FLAGS", "").replace(FAST_COMPILE_FLAG, "").strip()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    return {**env, "XLA_FLAGS": flags} if flags else env


def run(command, timeout, **kwargs):
    """`(CompletedProcess, transcript)`: the command, its stdout and stderr."""
    done = subprocess.run(
        [str(c) for c in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )
    return done, f"$ {' '.join(map(str, command))}\n{done.stdout}\n{done.stderr}"
