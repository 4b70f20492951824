"""{{title}}: a scriptlet pack for orch.

The two hooks below are the whole plugin: every scriptlet class in ``{{package}}.steps``
and every recipe in ``recipes/`` becomes available to ``orch``.
"""

from pathlib import Path

from orchestrator_core import discover_scriptlets, hookimpl


@hookimpl
def orch_register_scriptlets():
    return discover_scriptlets(f"{__name__}.steps")


@hookimpl
def orch_register_recipe_dirs():
    return [Path(__file__).parent / "recipes"]
