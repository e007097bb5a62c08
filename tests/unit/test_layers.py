"""The architecture's rules, checked on the source (docs/ARCHITECTURE.md draws the map).

- Each room of the engine imports only the rooms below it (ALLOWED).
- Ray is imported only by engine/ray/ and serve_app/deployment.py.
- Nothing imports upward: the engine never imports serve_app or benchmarks;
  the loaders use only the engine's contract, and the engine uses only the
  loaders' own seam (`from loaders import ...`).
- No two modules import each other at load time.
Every import counts, at module level or inside a function.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("engine", "serve_app", "loaders")
CONTRACT = {"engine.errors", "engine.models", "engine.responses", "engine.config", "engine.pricing", "engine.limits",
            "engine.target", "engine.outcome"}
ROOMS = ("provider", "prompt", "batch", "store", "sdk", "sim", "ray")
RAY_ALLOWED = {"engine.ray", "serve_app.deployment"}

# unit -> the units it may import (a unit is a contract module, a room of the engine, or a top-level package)
ALLOWED = {
    "contract": {"contract"},
    "loaders": {"contract", "loaders"},
    "engine.prompt": {"contract"},
    "engine.provider": {"contract", "engine.prompt"},
    "engine.store": {"contract", "loaders"},
    "engine.sim": {"contract", "engine.prompt", "engine.provider"},
    "engine.batch": {"contract", "loaders", "engine.prompt", "engine.provider", "engine.store"},
    "engine.sdk": {"contract", "loaders", "engine.prompt", "engine.batch"},
    "engine.ray": {"contract", "loaders", "engine.prompt", "engine.provider", "engine.store", "engine.batch",
                   "engine.sdk", "engine.sim"},
    "engine": {"engine.ray", "engine.sdk", "contract"},  # the package's lazy entry points
    "serve_app": {"contract", "loaders", "serve_app", "engine", "engine.batch", "engine.store", "engine.sdk",
                  "engine.ray", "engine.sim", "engine.prompt"},
}


def source_modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            yield name, path


def imports_of(path: Path, module_level_only: bool = False) -> list[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else ast.walk(tree)
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in ("engine", "serve_app") and not module_level_only:
                found += [f"{node.module}.{alias.name}" for alias in node.names]  # `from engine import models`
            else:
                found.append(node.module)
    return found


def unit_of(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "engine":
        return parts[0]
    if len(parts) == 1:
        return "engine"
    if ".".join(parts[:2]) in CONTRACT:
        return "contract"
    return "engine." + parts[1] if parts[1] in ROOMS else module


def is_ours(module: str) -> bool:
    return module.split(".")[0] in (*PACKAGES, "benchmarks")


def test_every_subpackage_imports():
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, f"{package}."):
            if info.name != "serve_app.deployment":  # it binds the Serve app at import (tested through the service)
                importlib.import_module(info.name)


def test_ray_is_imported_only_by_its_shells():
    wrong = [f"{name} imports {target}" for name, path in source_modules() for target in imports_of(path)
             if target.split(".")[0] == "ray" and not any(name == allowed or name.startswith(allowed + ".")
                                                           for allowed in RAY_ALLOWED)]
    assert wrong == []


def test_no_import_runs_upward():
    wrong = []
    for name, path in source_modules():
        unit = unit_of(name)
        for target in filter(is_ours, imports_of(path)):
            target_unit = unit_of(target)
            if target_unit != unit and target_unit not in ALLOWED[unit]:
                wrong.append(f"{name} ({unit}) imports {target} ({target_unit})")
    assert wrong == []


COORDINATOR_PARTS = {f"engine.batch.{part}" for part in ("coordinator", "dispatch", "reuse", "stops", "progress",
                                                         "window", "calls")}


def test_the_coordinator_does_not_lean_on_the_sync_calls():
    # What both need is in engine.batch.calls (pool, planning) and engine.batch.reuse.
    wrong = [f"{name} imports {target}" for name, path in source_modules() if name in COORDINATOR_PARTS
             for target in imports_of(path) if target == "engine.batch.sync"]
    assert wrong == []


def test_the_engine_uses_the_loaders_only_through_their_seam():
    wrong = [f"{name} imports {target}" for name, path in source_modules() if not name.startswith("loaders")
             for target in imports_of(path) if target.startswith("loaders.")]
    assert wrong == []


def test_no_import_cycle_at_load_time():
    graph = {name: {target for target in imports_of(path, module_level_only=True) if is_ours(target)}
             for name, path in source_modules()}
    assert find_cycle(graph) is None


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path, or None (a depth-first search keeping the current path)."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node):] + [node]
        if node in done or node not in graph:
            return None
        for target in sorted(graph[node]):
            if cycle := visit(target, path + [node]):
                return cycle
        done.add(node)
        return None

    return next((cycle for node in sorted(graph) if (cycle := visit(node, []))), None)


def test_find_cycle_sees_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("bad, unit", [("engine.batch.coordinator", "engine.batch"),
                                       ("engine.errors", "contract"), ("loaders.read", "loaders")])
def test_units_are_named_as_the_map_says(bad, unit):
    assert unit_of(bad) == unit
