"""The package's shape: no import cycle, and no import from a lower layer into a higher one.

Layers, from the bottom: io -> btyd -> features, segments -> models -> engines -> reports ->
commands (ARCHITECTURE.md). Imports inside functions count (they are how cycles hide); imports
under ``if TYPE_CHECKING:`` do not (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "toolkit"
LAYERS = {
    "io": 0,
    "btyd": 1,
    "features": 2,
    "segments": 2,
    "models": 3,
    "engines": 4,
    "reports": 5,
    "commands": 6,
}


def module_names() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for n in ast.walk(node))
    return skip


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([node.module] if node.module else []))
    return [base] + [f"{base}.{a.name}" for a in node.names]


def import_graph() -> dict[str, set[str]]:
    """module -> the toolkit modules it imports at run time (anywhere in its body)."""
    mods = module_names()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if id(node) in skip or not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for target in _targets(module, path, node):
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target.startswith("toolkit") and target != module:
                    graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_no_import_from_a_lower_layer_into_a_higher_one() -> None:
    upward = [
        f"{m} -> {d}"
        for m, deps in import_graph().items()
        for d in sorted(deps)
        if layer(m) is not None and layer(d) is not None and layer(d) > layer(m)  # type: ignore[operator]
    ]
    assert upward == []


@pytest.mark.parametrize("package", ["features", "io", "segments", "btyd"])
def test_lower_layers_import_nothing_from_models(package: str) -> None:
    graph = import_graph()
    assert not {
        d
        for m, deps in graph.items()
        if m.startswith(f"toolkit.{package}")
        for d in deps
        if d.startswith("toolkit.models")
    }


def test_the_checks_can_fail() -> None:
    """The detectors find a planted cycle and a planted upward import."""
    graph = {"toolkit.io.a": {"toolkit.models.b"}, "toolkit.models.b": {"toolkit.io.a"}}
    assert cycles(graph) == [["toolkit.io.a", "toolkit.models.b"]]
    assert layer("toolkit.models.b") > layer("toolkit.io.a")  # type: ignore[operator]


def private_names_across_packages(sources: dict[str, str]) -> list[str]:
    """``from toolkit.<other package>... import _name``: a private name used outside its package
    (dunders such as ``__version__`` are public)."""
    found = []
    for module, text in sources.items():
        package = module.split(".")[1] if "." in module else ""
        for node in ast.walk(ast.parse(text)):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            parts = node.module.split(".")
            if parts[0] != "toolkit" or len(parts) < 2 or parts[1] == package:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{module}: from {node.module} import {alias.name}")
    return found


def test_no_private_name_is_used_outside_its_package() -> None:
    sources = {m: p.read_text() for m, p in module_names().items()}
    assert private_names_across_packages(sources) == []
    # and the check finds one
    planted = {"toolkit.features._build": "from toolkit.io._table import _id_text\n"}
    assert private_names_across_packages(planted) == [
        "toolkit.features._build: from toolkit.io._table import _id_text"
    ]
