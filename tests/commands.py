"""Running a command from a test, with everything it printed for the failure message."""

import subprocess


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
