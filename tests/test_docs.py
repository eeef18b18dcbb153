"""The documentation (docs/, mkdocs.yml): it builds strictly, and its code runs.

Every ```python block of a page (and of README.md) runs, in order, in one namespace per page
(Sybil), from a fresh working folder. A block that trains for long or reads
data that is not here runs at quick size: an HTML comment just above it,
invisible on the page,

    <!-- quick-size
    epochs=20 => epochs=1
    -->

replaces each left-hand text by the right-hand one before the block runs;
each must occur in the block, so the page and its quick size cannot drift
apart. `<!-- invisible-code-block: python ... -->` runs code the reader
does not see (making a small file in a format a page reads, say), and
`<!-- skip: next "why" -->` skips a block, with its reason on the page.
"""

import os
import pathlib
import re
import subprocess
import sys
import unittest

import pytest
from sybil import Sybil
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser
from sybil.region import Lexeme

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
# The API reference is generated from the docstrings, whose examples run in
# tests/test_docstring_examples.py.
PAGES = ["README.md"] + sorted(
    path.relative_to(REPO).as_posix()
    for path in DOCS.rglob("*.md")
    if path.relative_to(DOCS).parts[0] != "api"
)
QUICK_SIZE = "<!-- quick-size"


class QuickSizeCodeBlockParser(PythonCodeBlockParser):
    """Python code blocks, with the substitutions of a `quick-size` comment
    right above a block applied to it (see the module docstring)."""

    def __call__(self, document):
        for region in super().__call__(document):
            rules = _rules_above(document.text, region.start)
            if rules is not None:
                region.parsed = _quick_size(region.parsed, rules, document.path)
            yield region


def _rules_above(text, start):
    """The rules of the quick-size comment that ends right above `start`."""
    opened = text.rfind(QUICK_SIZE, 0, start)
    if opened < 0:
        return None
    closed = text.find("-->", opened)
    if closed < 0 or text[closed + 3 : start].strip():
        return None
    return text[opened + len(QUICK_SIZE) : closed]


def _quick_size(source, rules, path):
    text = str(source)
    for rule in filter(None, (line.strip() for line in rules.splitlines())):
        if " => " not in rule:
            raise ValueError(f"{path}: quick-size rule {rule!r} has no ' => '")
        old, new = rule.split(" => ", 1)
        if old not in text:
            raise ValueError(f"{path}: quick-size text {old!r} is not in the block below it")
        text = text.replace(old, new)
    if text.count("\n") != str(source).count("\n"):
        raise ValueError(f"{path}: a quick-size rule changed the block's line count")
    return Lexeme(text, source.offset, source.line_offset)


GUIDES = ["README.md", "docs/getting-started.md", "docs/guides/encoder-decoder.md",
          "docs/guides/transformer.md", "docs/guides/graphs.md",
          "docs/guides/memory.md", "docs/export.md"]
SYBIL = Sybil(parsers=[QuickSizeCodeBlockParser(), SkipParser()])


@pytest.mark.parametrize("page", PAGES)
def test_the_code_on_the_page_runs(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A skipped block (`<!-- skip: next "why" -->`) skips itself, not the
    # rest of the page.
    ran = 0
    for example in SYBIL.parse(REPO / page):
        try:
            example.evaluate()
        except unittest.SkipTest:
            continue
        ran += 1
    assert ran or page not in GUIDES, f"no code ran on {page}"


def test_every_guide_has_code_that_runs():
    for page in GUIDES:
        assert list(SYBIL.parse(REPO / page)), f"{page} has no code block that runs"


def test_quick_size_rules_must_match_their_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- quick-size\nepochs=20 => epochs=1\n-->\n```python\nx = 1\n```\n")
    with pytest.raises(ValueError, match="'epochs=20' is not in the block below it"):
        list(SYBIL.parse(page))
    page.write_text("<!-- quick-size\nepochs=20 => epochs=1\n-->\n```python\n"
                    "epochs = 0\nfit(epochs=20)\n```\n")
    (example,) = list(SYBIL.parse(page))
    example.namespace["fit"] = lambda epochs: example.namespace.update(got=epochs)
    example.evaluate()
    assert example.namespace["got"] == 1


def test_the_docs_build_in_strict_mode(tmp_path):
    # A broken link, an unknown reference or any warning fails the build
    # (mkdocs.yml: strict, and every validation check a warning).
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-6000:]
    assert (tmp_path / "index.html").exists()
    assert (tmp_path / "api" / "layers" / "index.html").exists()


def test_each_quick_size_comment_applies_to_its_own_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- quick-size\na = 20 => a = 1\n-->\n```python\na = 20\n```\n\ntext\n\n"
        "```python\nb = 20\n```\n\n<!-- quick-size\nc = 20 => c = 2\n-->\n"
        "```python\nc = 20\n```\n"
    )
    examples = list(SYBIL.parse(page))
    for example in examples:
        example.evaluate()
    namespace = examples[0].namespace
    assert (namespace["a"], namespace["b"], namespace["c"]) == (1, 20, 2)


def _hooks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("docs_hooks", DOCS / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_source_line_names_the_run_that_wrote_the_section():
    # bench/xlnet.py keeps each part's run: its section's line names that
    # run's date and matmul peak, not the file's last one.
    hooks = _hooks()
    report = {"machine": {"cores": 2}, "matmul_peak_gflops": 87.7, "runs": {
        "1": {"sections": ["both_sides"], "date": "2026-12-06 06:49 UTC",
              "machine": {"cores": 2}, "matmul_peak_gflops": 150.6},
        "3": {"sections": ["multi30k", "multi30k_curve"], "date": "2026-12-06 07:13 UTC",
              "machine": {"cores": 2}, "matmul_peak_gflops": 87.7}}}
    line = hooks._source_line("xlnet", report, "both_sides")
    assert line == ("From `bench/results/xlnet.json` (run of 2026-12-06 06:49 UTC); "
                    "2 cores; float32 matmul peak 150.6 GFLOP/s.")
    assert "07:13 UTC" in hooks._source_line("xlnet", report, "multi30k_curve")
    # A section no run names, and a report without runs: the file's own.
    assert hooks._source_line("xlnet", report, "speed").endswith("peak 87.7 GFLOP/s.")
    assert "run of" not in hooks._source_line("xlnet", {"matmul_peak_gflops": 1.0}, "x")
    # A report of one run that records its date (bench/ntm.py's) names it.
    assert hooks._source_line("ntm", {"date": "2026-12-06 20:13 UTC", "machine": {"cores": 2}},
                              "copy_table") == (
        "From `bench/results/ntm.json` (run of 2026-12-06 20:13 UTC); 2 cores.")


def test_figures_come_from_the_benchmarks_json():
    from mkdocs.exceptions import PluginError

    hooks = _hooks()
    report = {"machine": {"cores": 2}, "matmul_peak_gflops": 128.06,
              "multi_head": {"rows": [
                  {"implementation": "ours", "ms": 128.94, "jit_compile": True},
                  {"implementation": "keras", "ms": 195.43, "jit_compile": False},
              ]}}
    table = hooks.figures_table(report, "multi_head.rows", ["implementation", "ms"])
    assert table.splitlines() == [
        "| implementation | ms |", "| --- | --- |", "| ours | 128.9 |", "| keras | 195.4 |",
    ]
    assert "| yes |" in hooks.figures_table(report, "multi_head.rows")
    by_name = {"cora": {"jit_compile": False, "gat": {"mean": 83.44}, "gcn": {"mean": 38.01},
                        "gin": {"mean": 0.9687}}}
    assert hooks.figures_table(by_name, "cora").splitlines()[2:] == [
        "| gat | 83.4 |", "| gcn | 38.0 |", "| gin | 0.969 |",
    ]
    with pytest.raises(PluginError, match="'multi_head.cols' has no 'cols'"):
        hooks.figures_table(report, "multi_head.cols")
    with pytest.raises(PluginError, match=r"the columns \['gflops'\]"):
        hooks.figures_table(report, "multi_head.rows", ["gflops"])
    match = hooks.MARKER.search("<!-- figures: no_such_bench rows -->")
    with pytest.raises(PluginError, match="bench/results/no_such_bench.json is missing"):
        hooks.render(match, "docs/page.md")
