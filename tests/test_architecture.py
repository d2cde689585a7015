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


# ---------------------------------------------------------------- engine names
#
# Per-engine facts live in data_create/engines (one module per engine); code elsewhere
# asks a profile instead of comparing names.  The check reads the sources with ``ast``:
# a comparison with an engine name (``profile.name == "mysql"``, ``dialect in
# ("postgres", "tsql")``, ``"mariadb" in version``), a ``case "sqlite":`` and a dict
# keyed by engine names and a collection of engine names are what branching on an engine
# looks like.  Catalogue modules
# a profile points to (``catalog_module``) are per-engine code and are exempt.

PACKAGES = ("data_create", "nl2sql_fine_tuning", "nl2sql_agent")

# Modules not yet moved, each with the reason; the list only shrinks.
PENDING: dict[str, str] = {}


def _engine_names() -> frozenset[str]:
    from data_create import engines

    names = set()
    for profile in engines.ENGINES.values():
        names |= {profile.name, profile.sqlglot_dialect, *profile.schemes}
    return frozenset(names)


def _engine_literals(node, names) -> list[str]:
    """Engine names a comparison operand spells out (a string or a literal collection)."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value] if node.value.lower() in names else []
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [hit for item in node.elts for hit in _engine_literals(item, names)]
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("frozenset", "set"):
        return [hit for arg in node.args for hit in _engine_literals(arg, names)]
    return []


def engine_branches(source: str, names: frozenset[str]) -> list[tuple[int, str]]:
    """``(line, what)`` for every place ``source`` branches on an engine name."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                found += [(node.lineno, f"compares with {hit!r}") for hit in
                          _engine_literals(operand, names)]  # fmt: skip
        elif isinstance(node, ast.MatchValue):
            found += [(node.lineno, f"case {hit!r}") for hit in _engine_literals(node.value, names)]
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts:
            # A collection of engine names only (``_BACKSLASH_ENGINES = frozenset({"mysql"})``)
            # is a per-engine fact kept outside its profile.
            hits = _engine_literals(node, names)
            if len(hits) == len(node.elts):
                found.append((node.lineno, f"lists engines {', '.join(map(repr, hits))}"))
        elif isinstance(node, ast.Dict):
            keys = [hit for key in node.keys if key is not None
                    for hit in _engine_literals(key, names)]  # fmt: skip
            if keys:
                found.append((node.lineno, f"dict keyed by {', '.join(map(repr, keys))}"))
    return sorted(found)


def test_engine_branch_finder_finds_the_usual_shapes():
    names = _engine_names()
    source = (
        'if profile.name == "postgresql":\n    pass\n'
        'x = dialect in ("mysql", "tsql")\n'
        'y = "mariadb" in version.lower()\n'
        'z = {"sqlite": 1, "postgres": 2}\n'
        'match name:\n    case "mssql":\n        pass\n'
        'ok = engines.get("postgres").display_name\n'
        'fine = name == "orders" or lang in ("en", "zh")\n'
        'BACKSLASH = frozenset({"mysql"})\n'
    )
    assert [line for line, _ in engine_branches(source, names)] == [1, 3, 3, 3, 4, 5, 7, 11]


def test_nothing_outside_engines_branches_on_an_engine_name():
    from data_create import engines

    names = _engine_names()
    exempt = {
        (ROOT / (p.catalog_module.replace(".", "/") + ".py")).resolve()
        for p in engines.ENGINES.values()
    }
    problems = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("data_create/engines/") or path.resolve() in exempt:
                continue
            if rel in PENDING:
                continue
            for line, what in engine_branches(path.read_text(encoding="utf-8"), names):
                problems.append(f"{rel}:{line}: {what}")
    assert problems == [], (
        "per-engine facts belong in data_create/engines (ask the profile):\n  "
        + "\n  ".join(problems)
    )


def test_pending_modules_still_exist():
    """A pending exemption for a module that moved or was fixed must go."""
    names = _engine_names()
    for rel in PENDING:
        path = ROOT / rel
        assert path.is_file(), f"{rel} is gone: remove it from PENDING"
        assert engine_branches(path.read_text(encoding="utf-8"), names), (
            f"{rel} no longer branches on engine names: remove it from PENDING"
        )
