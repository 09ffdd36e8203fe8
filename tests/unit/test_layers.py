"""Layers point one way and nothing imports in circles: the import-linter contracts of
pyproject.toml hold, no module of the package is in an import cycle (function-level
imports included), imports sit at the top of modules, and no DAG file shadows a package."""
from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "cityhub"

LAZY = {("pipelines/landing/quality.py", "great_expectations"),
        ("pipelines/landing/quality.py", "great_expectations.data_context.types.base"),
        ("pipelines/landing/quality.py", "great_expectations.execution_engine")}
"""Imports deliberately inside a function: Great Expectations takes seconds to import, and
only a process that lands data should pay for it (not an API worker, not the CLI)."""


def test_the_import_contracts_hold():
    r = subprocess.run([str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=REPO,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "2 kept, 0 broken" in r.stdout


def test_no_module_is_in_an_import_cycle():
    graph = grimp.build_graph("cityhub")
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v):
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
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for m in sorted(graph.modules):
        if m not in index:
            visit(m)
    assert not cycles, cycles


def test_imports_sit_at_the_top_of_modules():
    inside = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import):
                        names = [a.name for a in inner.names]
                    elif isinstance(inner, ast.ImportFrom):
                        names = [inner.module or ""]
                    else:
                        continue
                    inside += [(rel, n) for n in names if (rel, n) not in LAZY]
    assert not inside, inside


def test_no_dag_file_shadows_an_importable_module(monkeypatch):
    """Looked up without the DAGs folder itself, which Airflow puts on ``sys.path`` (and
    its modules in ``sys.modules``) once a test in this worker has loaded the DAGs."""
    dags = (REPO / "dags").resolve()
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != dags])
    for dag_file in dags.glob("*.py"):
        name = dag_file.stem
        monkeypatch.delitem(sys.modules, name, raising=False)
        assert importlib.util.find_spec(name) is None, f"dags/{dag_file.name} would shadow the module {name}"
