"""The orch plugin of orchestrator-curriculum: its scriptlets, its recipes and its shell scripts.

Registered through the entry point ``curriculum = "orchestrator_curriculum.plugin"``.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator_core import discover_scriptlets, hookimpl

PACKAGE_DIR = Path(__file__).resolve().parent


def recipes_dir() -> Path:
    """The recipes folder: inside the package when installed from a wheel, else the source tree's.

    The wheel carries a copy of the repository's ``recipes/`` folder; an editable install
    runs from the source tree, where the one copy is ``recipes/`` at the repository root.
    """
    packaged = PACKAGE_DIR / "recipes"
    if packaged.is_dir():
        return packaged
    return PACKAGE_DIR.parents[2] / "recipes"


@hookimpl
def orch_register_scriptlets():
    return discover_scriptlets("orchestrator_curriculum.steps")


def scripts_dir() -> Path:
    """The shell scriptlets (``sanitize_csv.sh``, ``enrich_csv.sh``), run by ``type: shell`` steps by name."""
    return PACKAGE_DIR / "scripts"


@hookimpl
def orch_register_recipe_dirs():
    return [recipes_dir(), scripts_dir()]
