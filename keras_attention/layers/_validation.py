"""Constructor-argument checks shared by the layers (private).

Each raises a ValueError that names the argument, what was expected and what
was received: `num_heads must be a positive int, received num_heads=0`.
"""


def check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive int, received {name}={value!r}")


def check_rate(name, value):
    """A dropout rate: a number in [0, 1)."""
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or not 0.0 <= value < 1.0
    ):
        raise ValueError(f"{name} must be a float in [0, 1), received {name}={value!r}")
