"""Refusing the names other libraries give our arguments (private).

Where Keras, KerasHub or PyTorch Geometric has a layer that does the same
job, ours takes its argument names. A name we do not take (an old name of
ours, or another library's name for an argument we call differently) is
refused with a `TypeError` that names ours, so no argument is silently
taken for another. The table of names in docs/migration.md lists every mapping.
"""


def named(ours, source):
    """The usual refusal: the argument is called `ours`, as in `source`."""
    return f"the argument is named {ours} (as in {source})"


def refuse_renamed(owner, arguments, refused):
    """Raise a `TypeError` if `arguments` (a dict) holds a refused name.

    Args:
        owner: the class name, for the message.
        arguments: the keyword arguments received.
        refused: maps each refused name to what to say about it, e.g.
            `named("encoder_sequence", "KerasHub's TransformerDecoder")`.
    """
    for name, reason in refused.items():
        if name in arguments:
            raise TypeError(f"{owner} got {name}=; {reason}")
