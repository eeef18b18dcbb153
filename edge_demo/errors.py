"""The one error the device runtime raises for a file, a metadata or a call."""


class EdgeModelError(ValueError):
    """A model file, its metadata, or a call that does not match them.

    The message names the file or argument, what was expected and what came,
    on one line once whitespace is folded (the command line prints it so).
    A `ValueError`, so that a caller that reports bad values (the export
    command line, which measures its report through this runtime) reports
    these too.
    """
