"""Import cycles and long modules in the project's packages, from the sources alone.

Builds the module import graph with ``ast`` (no module is imported, so it runs without
the optional dependencies) and prints every import cycle (strongly connected component
of two or more modules, or a module importing itself) and every module longer than the
line limit.  Imports inside functions count too (a lazy import still ties two modules); imports
under ``if TYPE_CHECKING:`` do not (they never run).

    python bench/import_graph.py                      # data_create and nl2sql_fine_tuning
    python bench/import_graph.py --long 500 data_create

Exit status 1 when a cycle is found, so CI or a test can use it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("data_create", "nl2sql_fine_tuning")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(packages: tuple[str, ...] = PACKAGES, root: Path = ROOT) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The longest known module that ``name`` (a module or ``module.attribute``) names."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(name: str, path: Path, known: dict[str, Path], typing: bool = False) -> set[str]:
    """The project modules ``name`` imports (``from . import x`` counts as module ``x``)."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    # Imports only a type checker sees run never, so they tie nothing at run time.
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body
        for inner in ast.walk(stmt)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only and not typing:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")
                # A package's own module is its __init__: level 1 means the package itself.
                drop = node.level - 1 if is_package else node.level
                anchor = anchor[: len(anchor) - drop] if drop else anchor
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            resolved = _resolve(target, known)
            if resolved and resolved != name:
                found.add(resolved)
    return found


def graph(
    packages: tuple[str, ...] = PACKAGES, root: Path = ROOT, typing: bool = False
) -> dict[str, set[str]]:
    known = modules(packages, root)
    return {name: imports(name, path, known, typing) for name, path in known.items()}


def _is_ancestor(package: str, module: str) -> bool:
    return module.startswith(package + ".")


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative).

    An edge from a module to a package that contains it (``data_create.llm.client`` ->
    ``data_create``) is Python's normal package initialisation, not a design cycle: the
    package's ``__init__`` runs first either way, so such edges are left out.
    """
    edges = {
        src: {dst for dst in dsts if not _is_ancestor(dst, src)} for src, dsts in edges.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def long_modules(limit: int, packages: tuple[str, ...] = PACKAGES) -> list[tuple[int, str]]:
    rows = []
    for path in modules(packages).values():
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > limit:
            rows.append((count, str(path.relative_to(ROOT))))
    return sorted(rows, reverse=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packages", nargs="*", default=list(PACKAGES), help="packages to scan")
    parser.add_argument("--long", type=int, default=500, help="report modules over N lines")
    parser.add_argument(
        "--typing", action="store_true", help="count imports under `if TYPE_CHECKING:` too"
    )
    args = parser.parse_args(argv)
    packages = tuple(args.packages)
    found = cycles(graph(packages, typing=args.typing))
    kind = "import cycles (type-checking imports included)" if args.typing else "import cycles"
    print(f"{kind}: {len(found)}")
    for component in found:
        print("  " + " <-> ".join(component))
    rows = long_modules(args.long, packages)
    print(f"modules over {args.long} lines: {len(rows)}")
    for count, path in rows:
        print(f"  {count:5d} {path}")
    return 1 if found else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # piped into head: the reader has all it wanted
        sys.exit(0)
