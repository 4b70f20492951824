"""Old import paths of the core's modules, from before the core was grouped by concern (0.2).

A plugin written against 0.1 imports ``orchestrator_core.session`` or
``orchestrator_core.pluginmanager``; those paths keep working through 0.2, with a
``DeprecationWarning`` naming the new one, and go away in 0.3. The finder sits at the end
of ``sys.meta_path``, so it is asked only about names nothing else could import.

The finder is duck-typed (``find_spec``, ``create_module``, ``exec_module``) rather than
derived from ``importlib.abc``: that module imports ``importlib.resources`` and with it
``tempfile``, ``shutil`` and ``random``, ~10 ms at every start of ``orch`` for nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from types import ModuleType

MOVED: dict[str, str] = {
    "orchestrator_core.adopted_line": "orchestrator_core.scriptlet.adopted_line",
    "orchestrator_core.caching": "orchestrator_core.run.caching",
    "orchestrator_core.context": "orchestrator_core.run.context",
    "orchestrator_core.contracts": "orchestrator_core.testing.contracts",
    "orchestrator_core.dag_drawing": "orchestrator_core.display.dag",
    "orchestrator_core.dag_text": "orchestrator_core.display.dag_text",
    "orchestrator_core.durations": "orchestrator_core.display.durations",
    "orchestrator_core.engine": "orchestrator_core.run.engine",
    "orchestrator_core.entrypoints": "orchestrator_core.plugin.entrypoints",
    "orchestrator_core.execution": "orchestrator_core.run.execution",
    "orchestrator_core.file_digests": "orchestrator_core.run.file_digests",
    "orchestrator_core.fingerprint": "orchestrator_core.run.fingerprint",
    "orchestrator_core.gc_pause": "orchestrator_core.recipe.gc_pause",
    "orchestrator_core.hooks": "orchestrator_core.plugin.hooks",
    "orchestrator_core.hookspecs": "orchestrator_core.plugin.hookspecs",
    "orchestrator_core.interfaces": "orchestrator_core.plugin.interfaces",
    "orchestrator_core.interrupts": "orchestrator_core.run.interrupts",
    "orchestrator_core.known_plugins": "orchestrator_core.plugin.known",
    "orchestrator_core.lookup": "orchestrator_core.recipe.lookup",
    "orchestrator_core.merging": "orchestrator_core.run.merging",
    "orchestrator_core.params_check": "orchestrator_core.recipe.params",
    "orchestrator_core.planner": "orchestrator_core.recipe.plan",
    "orchestrator_core.pluginmanager": "orchestrator_core.plugin.manager",
    "orchestrator_core.recipe_values": "orchestrator_core.recipe.values",
    "orchestrator_core.recipe_yaml": "orchestrator_core.recipe.yaml_lines",
    "orchestrator_core.recorded": "orchestrator_core.run.recorded",
    "orchestrator_core.registry": "orchestrator_core.plugin.registry",
    "orchestrator_core.resources": "orchestrator_core.run.resources",
    "orchestrator_core.scriptlet_handler": "orchestrator_core.scriptlet.handler",
    "orchestrator_core.server.runs": "orchestrator_core.builtin.server",
    "orchestrator_core.session": "orchestrator_core.run.session",
    "orchestrator_core.shapes": "orchestrator_core.state.shapes",
    "orchestrator_core.standalone": "orchestrator_core.scriptlet.standalone",
    "orchestrator_core.state.explain": "orchestrator_core.run.explain",
    "orchestrator_core.state.recorder": "orchestrator_core.builtin.state",
    "orchestrator_core.streams": "orchestrator_core.display.streams",
    "orchestrator_core.surface": "orchestrator_core.plugin.surface",
    "orchestrator_core.timeline_drawing": "orchestrator_core.display.timeline",
    "orchestrator_core.validation": "orchestrator_core.recipe.prepare",
    "orchestrator_core.write_ops": "orchestrator_core.run.write_ops",
}
"""Old dotted module name -> where it lives now."""


class MovedModuleFinder:
    """Answers an old module name with the module at its new place (the same object).

    Both the meta-path finder and the loader of what it finds (the import protocol asks
    for the methods, not for the ``importlib.abc`` base classes).
    """

    def find_spec(self, fullname: str, path: object = None, target: object = None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        new = MOVED[module.__name__]
        warnings.warn(f"{module.__name__} has moved to {new}; the old path goes away in 0.3",
                      DeprecationWarning, stacklevel=2)
        # The import system returns whatever sys.modules holds under the name once this returns.
        sys.modules[module.__name__] = importlib.import_module(new)


def install() -> None:
    """Answer the old paths from now on (once per process)."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
