"""Build hook: the curriculum's recipes go into the package, in the sdist and in the wheel.

The recipes have one copy in the source tree, the repository's ``recipes/`` folder. A build
from the tree copies it to ``orchestrator_curriculum/recipes``; a build from the sdist finds
that copy already in the package and adds nothing (the tree is not there); an editable install
runs from the tree, where the plugin finds ``recipes/`` by itself.
"""

from __future__ import annotations

from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGED = "orchestrator_curriculum/recipes"


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        if version == "editable" or (root / PACKAGED).is_dir():  # an editable install reads the tree
            return
        tree = root.parents[1] / "recipes"
        if not tree.is_dir():
            raise FileNotFoundError(f"the curriculum's recipes are neither in {root / PACKAGED} nor in {tree}")
        build_data["force_include"][str(tree)] = PACKAGED
