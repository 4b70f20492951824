"""The core's import graph: no cycles, no import of a plugin, and plugins use only the public surface.

Imports are read from the source (``ast``), including those inside functions and under
``TYPE_CHECKING``: a cycle that only shows at type-checking time or on first use is
still a cycle of responsibilities.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import orchestrator_core
from orchestrator_core.plugin.surface import PUBLIC_MODULES

ROOT = Path(__file__).parents[1]
CORE = ROOT / "orchestrator_core"
PLUGIN_PACKAGES = sorted(p for p in (ROOT / "plugins").glob("*/orchestrator_*") if p.is_dir())


def _module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> list[tuple[str, list[str], int]]:
    """(imported module, names imported from it, line) for every import in ``path``."""
    found = []
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            found.append((target, [alias.name for alias in node.names], node.lineno))
    return found


def _core_modules() -> dict[str, Path]:
    return {_module_name(p, ROOT): p for p in CORE.rglob("*.py") if "templates" not in p.parts}


@functools.lru_cache(maxsize=1)
def _core_graph() -> dict[str, set[str]]:
    modules = _core_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, names, _ in _imports(path, name):
            candidates = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules] or [target]
            for candidate in candidates:
                while candidate not in modules and "." in candidate:
                    candidate = candidate.rpartition(".")[0]
                if candidate in modules and candidate != name:
                    graph[name].add(candidate)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_correctly():
    graph = _core_graph()
    assert "orchestrator_core.run.engine" in graph["orchestrator_core.run.session"]
    assert "orchestrator_core.scriptlet.handler" in graph["orchestrator_core.scriptlet.standalone"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_core_has_no_import_cycle():
    assert _cycles(dict(_core_graph())) == []


def test_the_core_imports_no_plugin():
    offending = [
        f"{path.relative_to(ROOT)}:{line}: {target}"
        for name, path in _core_modules().items()
        for target, _, line in _imports(path, name)
        if target.startswith("orchestrator_") and not target.startswith("orchestrator_core")
    ]
    assert offending == []


def test_bundled_plugins_import_only_the_public_surface():
    offending = []
    for package in PLUGIN_PACKAGES:
        for path in package.rglob("*.py"):
            if "templates" in path.parts:
                continue
            for target, names, line in _imports(path, _module_name(path, package.parent)):
                where = f"{path.relative_to(ROOT)}:{line}"
                if not target.startswith("orchestrator_core"):
                    continue
                if target not in PUBLIC_MODULES:
                    offending.append(f"{where}: {target} is not public")
                elif target == "orchestrator_core":
                    offending += [f"{where}: orchestrator_core.{n} is not exported" for n in names
                                  if n not in orchestrator_core.__all__]
    assert offending == []
    assert len(PLUGIN_PACKAGES) >= 5  # the test looked at the bundled plugins


def test_every_public_module_imports_and_the_top_level_exports_resolve():
    import importlib

    for module in PUBLIC_MODULES:
        importlib.import_module(module)
    for name in orchestrator_core.__all__:
        assert getattr(orchestrator_core, name) is not None
