"""Running a command from a test, with everything it printed for the failure message."""

import os
import subprocess

# What tests/conftest.py adds to XLA_FLAGS for the suite: XLA without LLVM's
# optimisation passes, which compiles faster and runs slower, and with the
# CPU backend's older elemental emitters for fusions rather than the MLIR
# fusion emitters, which compile slower: tests/backend_checks.py on JAX, 186 s
# with the fusion emitters and 111 s without (the same 209 checks pass);
# XLA-compiled tests on TensorFlow about 5% faster.
FAST_COMPILE_FLAGS = (
    "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false"
)


def optimized_xla_environment():
    """`os.environ` without the suite's FAST_COMPILE_FLAGS: for a subprocess
    that trains for many steps, where run time outweighs compile time."""
    flags = os.environ.get("XLA_FLAGS", "").replace(FAST_COMPILE_FLAGS, "").strip()
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
