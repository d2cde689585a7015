"""Facts about the shape of the code, checked from the sources (nothing imported).

- No import cycles among data_create and nl2sql_fine_tuning modules (bench/import_graph.py
  prints them; run it to see what a failure means).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", ROOT / "bench/import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_import_cycles():
    graph = _import_graph()
    found = graph.cycles(graph.graph(("data_create", "nl2sql_fine_tuning")))
    assert found == [], "import cycles (see `python bench/import_graph.py`): " + "; ".join(
        " <-> ".join(component) for component in found
    )


def test_cycle_finder_finds_a_planted_cycle(tmp_path):
    """The checker is not vacuous: a two-module cycle and a lazy import are both found."""
    graph = _import_graph()
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from . import b\n")
    (package / "b.py").write_text("def f():\n    from .a import thing\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n"
    )
    (package / "d.py").write_text("from pkg import c\n")
    assert graph.cycles(graph.graph(("pkg",), tmp_path)) == [["pkg.a", "pkg.b"]]
