"""The package's imports point down its layers and never form a cycle.

Imports are read from the source with ``ast``, including those inside functions and under
``TYPE_CHECKING``: a late import hides a cycle from Python, not from this test. ``cli`` may
import anything, lazily or not; nothing imports ``cli``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "headstart"

# Lowest first: a module may import its own package and any package listed before it.
LAYERS = [
    "errors",
    "core",
    "config",
    "data",
    "tasks",
    "runs",
    "models",
    "strategies",
    "engine",
    "pipeline",
    "inference",
    "pretraining",
    "shift",
    "comparison",
    "serving",
    "api",
    "cli",
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / PACKAGE).rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    """The package's modules that ``module`` imports (a name imported from a package that is
    itself a module counts as that module)."""
    path = MODULES[module]
    found: set[str | None] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {_resolve(a.name) for a in node.names if a.name.startswith(PACKAGE)}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if path.name != "__init__.py":
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                full = f"{name}.{alias.name}"
                found.add(full if full in MODULES else _resolve(name))
    found.discard(None)
    found.discard(module)
    return found  # type: ignore[return-value]


GRAPH = {module: imports_of(module) for module in MODULES}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""  # "": the package's __init__, the public API


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_the_import_reader_sees_late_and_relative_imports() -> None:
    assert "headstart.api" in GRAPH[PACKAGE]
    assert "headstart.pipeline.fit" in GRAPH["headstart.api"]
    assert len(GRAPH) > 50


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_every_package_has_a_layer() -> None:
    layers = {_layer(m) for m in MODULES} - {""}
    assert layers <= set(LAYERS), f"give these a place in LAYERS: {layers - set(LAYERS)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    layer = _layer(module)
    if layer in ("", "cli"):
        return
    rank = LAYERS.index(layer)
    upward = sorted(
        dep for dep in GRAPH[module] if _layer(dep) == "" or LAYERS.index(_layer(dep)) > rank
    )
    assert upward == [], f"{module} ({layer}) imports a higher layer: {upward}"


def test_top_level_stays_a_short_map() -> None:
    entries = [p for p in (SRC / PACKAGE).iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 18, sorted(p.name for p in entries)


def test_config_names_match_the_registries() -> None:
    from headstart.config.names import STRATEGY_NAMES
    from headstart.strategies import STRATEGIES

    assert tuple(STRATEGIES) == STRATEGY_NAMES


MAX_BODY_LINES = 80


def _body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function's body, its docstring left out."""
    body = node.body
    if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return (node.end_lineno or body[-1].lineno) - body[0].lineno + 1


def test_no_function_body_is_longer_than_a_screen() -> None:
    long = [
        f"{MODULES[m].relative_to(SRC)}:{node.lineno} {node.name} ({_body_lines(node)} lines)"
        for m in MODULES
        for node in ast.walk(ast.parse(MODULES[m].read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and _body_lines(node) > MAX_BODY_LINES
    ]
    assert long == [], "split these into named steps: " + "; ".join(long)
