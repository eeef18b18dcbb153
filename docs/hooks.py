"""MkDocs hooks (mkdocs.yml `hooks:`): benchmark figures from their JSON.

A page asks for a benchmark's figures with an HTML comment,

    <!-- figures: attention multi_head.rows columns=implementation,backend,ms -->

and the build puts there a table made from `bench/results/attention.json`
(what `python bench/attention.py --json bench/results/attention.json`
wrote): the rows of the list at `multi_head.rows` (or one row per entry
of a dict of dicts, named in a column "name"), with the columns named
(all of them if none are), then a line naming the file, the machine and
its matmul peak when the JSON records them (those of the run that wrote
the section where a JSON keeps its parts' runs apart, as
bench/xlnet.py's `runs` do). The figures live in the JSON
alone, so a page cannot drift from its benchmark; a missing file, path or
column stops the build and says which.
"""

import json
import pathlib
import re

from mkdocs.exceptions import PluginError

RESULTS = pathlib.Path(__file__).resolve().parents[1] / "bench" / "results"
MARKER = re.compile(
    r"<!--\s*figures:\s*(?P<name>[\w-]+)\s+(?P<path>[\w.]+)"
    r"(?:\s+columns=(?P<columns>[\w,]+))?\s*-->"
)


def _cell(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        # One decimal from 10 on (BLEU 38.01 is "38.0", not "38"); three
        # significant digits below (an accuracy of 0.969).
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"
    if value is None:
        return "-"
    return str(value).replace("|", "\\|")


def _select(report, path, where):
    found = report
    for key in path.split("."):
        if isinstance(found, dict) and key in found:
            found = found[key]
        elif isinstance(found, list) and key.isdigit() and int(key) < len(found):
            found = found[int(key)]
        else:
            raise PluginError(f"{where}: {path!r} has no {key!r}")
    if isinstance(found, dict):
        # A dict of dicts ({"gat": {...}, "gcn": {...}}): a row per entry,
        # its key in the column "name"; other values are left out.
        found = [{"name": key, **value} for key, value in found.items()
                 if isinstance(value, dict)]
    if not (isinstance(found, list) and found and all(isinstance(r, dict) for r in found)):
        raise PluginError(f"{where}: {path!r} is not a list of rows")
    return found


def figures_table(report, path, columns=None, where="figures"):
    """The Markdown table of the rows at `path` in `report`."""
    rows = _select(report, path, where)
    columns = columns or list(dict.fromkeys(key for row in rows for key in row))
    missing = [c for c in columns if not any(c in row for row in rows)]
    if missing:
        raise PluginError(f"{where}: no row of {path!r} has the columns {missing}")
    lines = [
        "| " + " | ".join(c.replace("_", " ") for c in columns) + " |",
        "|" + " --- |" * len(columns),
    ]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
    return "\n".join(lines)


def _run_of(report, path):
    """The run that wrote the section `path` where the report keeps one per
    part (`runs`: {part: {"sections": [...], "date", "machine",
    "matmul_peak_gflops", ...}}), else its `last_run`, else the report
    itself (bench/ntm.py's, with its own `date`)."""
    section = path.split(".")[0]
    for run in (report.get("runs") or {}).values():
        if isinstance(run, dict) and section in run.get("sections", ()):
            return run
    # A report that keeps rows from several runs names its latest one
    # (bench/memory_qa.py's `last_run`; each row keeps its own).
    if isinstance(report.get("last_run"), dict):
        return report["last_run"]
    return report


def _source_line(name, report, path=""):
    parts = [f"From `bench/results/{name}.json`"]
    run = _run_of(report, path)
    if run.get("date"):
        parts[0] += f" (run of {run['date']})"
    report = run
    machine = report.get("machine")
    if isinstance(machine, dict):
        described = ", ".join(
            f"{value} {key}" if key == "cores" else f"{key} {value}"
            for key, value in machine.items()
            if value
        )
        parts.append(described)
    if "matmul_peak_gflops" in report:
        parts.append(f"float32 matmul peak {report['matmul_peak_gflops']:.1f} GFLOP/s")
    return "; ".join(parts) + "."


def render(match, where):
    name, path = match["name"], match["path"]
    file = RESULTS / f"{name}.json"
    if not file.is_file():
        raise PluginError(
            f"{where}: {file.relative_to(RESULTS.parents[1])} is missing; "
            f"run `python bench/{name}.py --json bench/results/{name}.json`"
        )
    report = json.loads(file.read_text(encoding="utf-8"))
    columns = match["columns"].split(",") if match["columns"] else None
    table = figures_table(report, path, columns, where=f"{where} ({file.name})")
    return f"{table}\n\n{_source_line(name, report, path)}"


def on_page_markdown(markdown, page, config, files):
    where = f"docs/{page.file.src_path}"
    return MARKER.sub(lambda match: render(match, where), markdown)
