"""The layout's promises, checked on the source: imports go one way down the layers, no module
imports itself back through others, services stay free of Gradio and SQL, and every module is
small enough to read in one sitting. Read from the files' syntax trees, so nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parent.parent
# Top to bottom; a module may import its own layer's package or any layer below it.
LAYERS = [("app", "cli"), ("ui",), ("services",), ("training",), ("lifecycle",), ("storage",), ("core",)]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
MAX_LINES = 450


def _sources() -> dict[str, Path]:
    found = {}
    for package in RANK:
        paths = [ROOT / f"{package}.py"] if (ROOT / f"{package}.py").exists() else (ROOT / package).rglob("*.py")
        for path in paths:
            if "migrations" in path.parts:  # Alembic's generated scripts, run by Alembic only
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, module: str) -> set[str]:
    """Every project module ``path`` imports, at the top or inside a function (a lazy import
    is still a dependency), relative imports resolved."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level] if path.name != "__init__.py" else module.split(".")
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] in RANK}


SOURCES = _sources()
GRAPH = nx.DiGraph()
for _module, _path in SOURCES.items():
    GRAPH.add_node(_module)
    for _name in _imports(_path, _module):
        # "from storage import models" names the module storage.models; "from core.types import Box" names core.types
        target = _name if _name in SOURCES else _name.rpartition(".")[0]
        if target in SOURCES and target != _module:
            GRAPH.add_edge(_module, target)


def test_the_layout_is_found() -> None:
    assert {"app", "core.pipeline", "storage.db", "services.review", "lifecycle.server"} <= set(SOURCES)
    assert GRAPH.number_of_edges() > 100


def test_imports_go_down_the_layers_only() -> None:
    upward = [
        f"{a} -> {b}"
        for a, b in GRAPH.edges
        if RANK[b.split(".")[0]] < RANK[a.split(".")[0]]
        or (RANK[b.split(".")[0]] == RANK[a.split(".")[0]] and a.split(".")[0] != b.split(".")[0])
    ]
    assert upward == []


def test_no_import_circles() -> None:
    circles = [sorted(c) for c in nx.strongly_connected_components(GRAPH) if len(c) > 1]
    assert circles == []


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if m.startswith("services")))
def test_services_use_no_gradio_and_no_sql(module: str) -> None:
    tree = ast.parse(SOURCES[module].read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert {name.split(".")[0] for name in names} & {"gradio", "sqlalchemy"} == set()
    assert "storage.models" not in _imports(SOURCES[module], module)  # the ORM rows are storage's
    # nor open a session of their own: a transaction is storage's to shape
    sessions = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in ("read", "write") and getattr(node.value, "id", "") == "db"
    ]
    assert sessions == []


def test_every_module_reads_in_one_sitting() -> None:
    long = {m: n for m, p in SOURCES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
