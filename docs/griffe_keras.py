"""A Griffe extension: our docstrings' Keras conventions, for the API reference.

The docstrings follow Keras's layout, which Griffe's Google-style parser
(used by mkdocstrings) does not know all of:

- `Call arguments:` (Keras's section for `call`) becomes a list under a
  bold title; Griffe knows only `Args:` and its synonyms.
- `a, b: text` in `Args:` (names that share one description) becomes one
  entry per name, so that each name is checked against the signature.
- `Example:` with doctest lines (`>>>`) becomes a bold title over a fenced
  `pycon` block; bare doctest lines elsewhere (module docstrings) are fenced
  too, so that `x[4]` is not read as a Markdown link.

The text in the source stays as it is (`help()` and the doctests read it);
only what Griffe parses is rewritten. mkdocs.yml loads this file.
"""

import re

import griffe

_TITLE = re.compile(r"^(?P<indent> *)(?P<title>[A-Z][A-Za-z ]*):\s*$")
_ITEM = re.compile(r"^(?P<names>\w+(?:,\s*\w+)+):(?P<text>.*)$")


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _section(lines, start):
    """The indented lines after the title at `start`, and where they end."""
    base = _indent(lines[start])
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > base):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return lines[start + 1 : end], end


def _call_arguments(body):
    """`name: text` items (continuation lines deeper) as a Markdown list."""
    if not body:
        return []
    item = min(_indent(line) for line in body if line.strip())
    out = []
    for line in body:
        if not line.strip():
            continue
        if _indent(line) == item and ":" in line:
            name, text = line.strip().split(":", 1)
            out.append(f"- `{name}`:{text}")
        else:
            out.append("  " + line.strip())
    return out


def _split_grouped_names(body):
    """Args items `a, b: text` as `a: text` and `b: text`."""
    if not body:
        return body
    item = min(_indent(line) for line in body if line.strip())
    out, i = [], 0
    while i < len(body):
        line = body[i]
        # A list of names may run over several lines, each ending in a comma.
        joined, j = line, i
        while joined.rstrip().endswith(",") and j + 1 < len(body):
            j += 1
            joined = joined.rstrip() + " " + body[j].strip()
        match = _ITEM.match(joined.strip()) if _indent(line) == item else None
        if not match:
            out.append(line)
            i += 1
            continue
        k = j + 1
        while k < len(body) and (not body[k].strip() or _indent(body[k]) > item):
            k += 1
        rest = body[j + 1 : k]
        for name in re.split(r",\s*", match["names"]):
            out.append(" " * item + f"{name}:{match['text']}")
            out.extend(rest)
        i = k
    return out


def _fence_doctests(lines):
    """Runs of doctest lines (and their output) in fenced `pycon` blocks."""
    out, i, fenced = [], 0, False
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if fenced or not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = " " * _indent(line)
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
    return out


def rewrite(text):
    """The docstring `text` in the form Griffe's Google parser reads."""
    lines = text.splitlines()
    out, i = [], 0
    while i < len(lines):
        match = _TITLE.match(lines[i])
        title = match["title"] if match else None
        if title == "Call arguments":
            body, i = _section(lines, i)
            indent = match["indent"]
            out += [f"{indent}**Call arguments**", ""]
            out += [indent + line for line in _call_arguments(body)]
            continue
        if title in ("Args", "Arguments"):
            body, end = _section(lines, i)
            out.append(lines[i])
            out += _split_grouped_names(body)
            i = end
            continue
        if title == "Example":
            out.append(f"{match['indent']}**Example**")
            i += 1
            continue
        out.append(lines[i])
        i += 1
    return "\n".join(_fence_doctests(out))


class KerasDocstrings(griffe.Extension):
    """Rewrites each object's docstring once it is loaded (see the module)."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
