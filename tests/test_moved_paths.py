"""The core's 0.1 import paths keep working through 0.2, each with a warning naming the new one."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from orchestrator_core._moved import MOVED


@pytest.mark.parametrize("old", sorted(MOVED))
def test_an_old_path_gives_the_module_at_its_new_place_with_a_deprecation_warning(old):
    code = (
        "import importlib, warnings\n"
        "warnings.simplefilter('always')\n"
        "with warnings.catch_warnings(record=True) as seen:\n"
        f"    old = importlib.import_module({old!r})\n"
        f"new = importlib.import_module({MOVED[old]!r})\n"
        "assert old is new, (old, new)\n"
        "messages = [str(w.message) for w in seen if w.category is DeprecationWarning]\n"
        f"assert any({MOVED[old]!r} in m and 'moved' in m for m in messages), messages\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_name_that_never_existed_is_still_an_import_error():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("orchestrator_core.no_such_module")


def test_the_old_modules_that_became_packages_still_export_their_public_names():
    from orchestrator_core.recipe import read_recipe
    from orchestrator_core.run import Run
    from orchestrator_core.scriptlet import BaseScriptlet

    assert read_recipe.__module__ == "orchestrator_core.recipe.read"
    assert Run.__module__ == "orchestrator_core.run.state"
    assert BaseScriptlet.__module__ == "orchestrator_core.scriptlet.base"
