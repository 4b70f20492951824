"""Scriptlets registered lazily (``LazyScriptlet``): known by name at once, imported when used.

A pack registers a name and ``module:Class``; nothing of the module is imported until a
recipe uses the scriptlet or a listing needs its class, and a registration that does not
hold (a wrong import path, a class whose name differs) is an error naming the plugin,
where the scriptlet is used and in ``orch steps check``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator_core import BaseScriptlet, LazyScriptlet, UsageError, hookimpl
from orchestrator_core.plugin.hooks import Hooks
from orchestrator_core.plugin.registry import Registry

# The pack records which of its modules were imported when a run finishes.
GOOD = {
    "lazy_pack/__init__.py": """
        import json
        import os
        import sys

        from orchestrator_core import BaseScriptlet, LazyScriptlet, hookimpl

        class Eager(BaseScriptlet):
            name = "lazy_eager"
            outputs = ("lazy.eager_v1",)

            def run(self, ctx, params):
                ctx.set("lazy.eager_v1", True)

        @hookimpl
        def orch_register_scriptlets():
            return [LazyScriptlet("lazy_hello", "lazy_pack.steps.hello:Hello"), Eager]

        @hookimpl
        def orch_run_finish(run):
            target = os.environ.get("LAZY_PACK_MODULES")
            if target:
                with open(target, "w") as out:
                    json.dump(sorted(m for m in sys.modules if m.startswith("lazy_pack")), out)
    """,
    "lazy_pack/steps/__init__.py": "",
    "lazy_pack/steps/hello.py": """
        from orchestrator_core import BaseScriptlet

        class Hello(BaseScriptlet):
            \"\"\"Say hello, lazily.\"\"\"

            name = "lazy_hello"
            outputs = ("lazy.hello_v1",)
            params_schema = {"type": "object", "properties": {"who": {"type": "string"}}}

            def run(self, ctx, params):
                ctx.set("lazy.hello_v1", "hello " + params.get("who", "world"))
    """,
}

BROKEN = {
    "lazybad_pack/__init__.py": """
        from orchestrator_core import LazyScriptlet, hookimpl

        @hookimpl
        def orch_register_scriptlets():
            return [LazyScriptlet("lazybad_missing", "lazybad_pack.steps.missing:Missing"),
                    LazyScriptlet("lazybad_misnamed", "lazybad_pack.steps.misnamed:Misnamed"),
                    LazyScriptlet("lazybad_noclass", "lazybad_pack.steps.misnamed:NoSuchClass")]
    """,
    "lazybad_pack/steps/__init__.py": "",
    "lazybad_pack/steps/misnamed.py": """
        from orchestrator_core import BaseScriptlet

        class Misnamed(BaseScriptlet):
            name = "something_else"

            def run(self, ctx, params):
                pass
    """,
}


@pytest.fixture
def packs(make_pack):
    return make_pack("orch-lazy", GOOD, {"lazy": "lazy_pack"}), make_pack("orch-lazybad", BROKEN,
                                                                           {"lazybad": "lazybad_pack"})


def write_recipe(folder: Path, uses: str) -> Path:
    recipe = folder / "recipe.yaml"
    recipe.write_text(f"name: lazy\nsteps:\n  - name: only\n    uses: {uses}\n")
    return recipe


def test_a_lazy_scriptlet_is_imported_only_by_a_run_that_uses_it(orch_cli, packs, tmp_path):
    good, _ = packs
    modules = tmp_path / "modules.json"
    write_recipe(tmp_path, "lazy_eager")
    done = orch_cli("run", "recipe.yaml", "--no-progress", pythonpath=[good], env={"LAZY_PACK_MODULES": str(modules)})
    done.assert_success()
    assert json.loads(modules.read_text()) == ["lazy_pack"], "the lazy scriptlet's module was imported unused"

    write_recipe(tmp_path, "lazy_hello")
    done = orch_cli("run", "recipe.yaml", "--no-progress", pythonpath=[good], env={"LAZY_PACK_MODULES": str(modules)})
    done.assert_success()
    assert done.lines[0]["status"] == "ok" and done.lines[0]["outputs"] == ["lazy.hello_v1"]
    assert "lazy_pack.steps.hello" in json.loads(modules.read_text())


def test_a_lazy_scriptlet_by_its_qualified_name_and_its_params_are_checked(orch_cli, packs, tmp_path):
    good, _ = packs
    (tmp_path / "recipe.yaml").write_text(
        "name: lazy\nsteps:\n  - name: only\n    uses: lazy:lazy_hello\n    params: {who: 3}\n")
    done = orch_cli("validate", "recipe.yaml", pythonpath=[good])
    assert done.exit_code == 2
    assert "recipe.yaml:5" in done.err and "who" in done.err  # the schema of the imported class was applied


def test_listings_show_lazy_scriptlets_and_warn_about_broken_ones(orch_cli, packs, tmp_path):
    good, broken = packs
    listed = orch_cli("steps", "list", "--json", pythonpath=[good, broken])
    assert listed.exit_code == 0, listed.err
    rows = {row["name"]: row for row in json.loads(listed.out)}
    assert rows["lazy_hello"]["class"] == "lazy_pack.steps.hello.Hello"
    assert rows["lazy_hello"]["params"] == ["who"] and rows["lazy_hello"]["outputs"] == ["lazy.hello_v1"]
    assert "lazy_eager" in rows and "compute_mean" in rows  # the bundled lazy registrations too
    assert not any(name.startswith("lazybad_") for name in rows)
    assert "plugin 'lazybad': scriptlet 'lazybad_missing'" in listed.err

    shown = orch_cli("steps", "show", "lazy_hello", pythonpath=[good])
    assert shown.exit_code == 0 and "Say hello, lazily." in shown.out

    plugins = orch_cli("plugins", "list", pythonpath=[good, broken])
    assert plugins.exit_code == 0 and "lazybad" in plugins.out
    assert "plugin 'lazybad': scriptlet 'lazybad_misnamed'" in plugins.err


def test_a_wrong_import_path_is_an_error_naming_the_plugin_where_it_is_used(orch_cli, packs, tmp_path):
    _, broken = packs
    write_recipe(tmp_path, "lazybad_missing")
    done = orch_cli("run", "recipe.yaml", "--no-progress", pythonpath=[broken])
    assert done.exit_code == 2 and done.out == ""  # refused before anything ran: no step line
    assert "recipe.yaml:4" in done.err
    assert ("plugin 'lazybad': scriptlet 'lazybad_missing' is registered as 'lazybad_pack.steps.missing:Missing', "
            "which cannot be imported: ModuleNotFoundError") in done.err

    shown = orch_cli("steps", "show", "lazybad_noclass", pythonpath=[broken])
    assert shown.exit_code == 2
    assert "plugin 'lazybad'" in shown.err and "has no 'NoSuchClass'" in shown.err


def test_a_name_mismatch_is_an_error_naming_the_plugin_and_both_names(orch_cli, packs, tmp_path):
    _, broken = packs
    write_recipe(tmp_path, "lazybad_misnamed")
    done = orch_cli("validate", "recipe.yaml", pythonpath=[broken])
    assert done.exit_code == 2
    assert "recipe.yaml:4" in done.err
    assert "plugin 'lazybad': scriptlet 'lazybad_misnamed'" in done.err
    assert "that class's name is 'something_else'" in done.err


def test_steps_check_fails_on_a_broken_registration(orch_cli, packs, tmp_path):
    good, broken = packs
    healthy = orch_cli("steps", "check", pythonpath=[good])
    assert healthy.exit_code == 0, healthy.err
    checked = orch_cli("steps", "check", pythonpath=[good, broken])
    assert checked.exit_code == 1
    errors = [line for line in checked.err.splitlines() if line.startswith("orch: error:")]
    assert len(errors) == 3, checked.err
    assert all("plugin 'lazybad'" in line for line in errors)
    assert any("lazybad_missing" in line and "cannot be imported" in line for line in errors)
    assert any("lazybad_misnamed" in line and "'something_else'" in line for line in errors)


def test_registration_checks_of_lazy_entries(orch_pm, register_plugin):
    class Pack:
        @hookimpl
        def orch_register_scriptlets(self):
            return [LazyScriptlet("", "mod:Cls"), LazyScriptlet("bad_target", "not a target"),
                    LazyScriptlet("not_a_scriptlet", "json:JSONDecoder")]

    class StepTypes:
        @hookimpl
        def orch_register_step_types(self):
            return [LazyScriptlet("lazy_type", "json:JSONDecoder")]  # lazy entries are for scriptlets only

    register_plugin(Pack(), "pack")
    register_plugin(StepTypes(), "types")
    registry = Registry(Hooks(orch_pm))
    assert "not_a_scriptlet" in registry.names("scriptlet"), "a lazy entry is known before it is imported"
    assert "lazy_type" not in registry.names("step type")
    assert any("plugin 'pack'" in p and "has no name" in p for p in registry.problems)
    assert any("plugin 'pack'" in p and "'package.module:ClassName'" in p for p in registry.problems)
    assert any("plugin 'types'" in p and "is not a class" in p for p in registry.problems)
    with pytest.raises(UsageError, match="plugin 'pack': scriptlet 'not_a_scriptlet'.*must subclass"):
        registry.get("scriptlet", "not_a_scriptlet")
    assert registry.load_all("scriptlet")[0].startswith("plugin 'pack': scriptlet 'not_a_scriptlet'")
    assert "not_a_scriptlet" not in {entry.name for entry in registry.all_entries("scriptlet")}


def test_a_lazy_entry_is_imported_once_and_equals_its_eager_registration(orch_pm, register_plugin):
    class Pack:
        @hookimpl
        def orch_register_scriptlets(self):
            return [LazyScriptlet("resource_audit", "orchestrator_curriculum.steps.resource_audit:ResourceAudit")]

    register_plugin(Pack(), "pack")
    registry = Registry(Hooks(orch_pm))
    entry = registry.get("scriptlet", "pack:resource_audit")
    assert entry.loaded and issubclass(entry.obj, BaseScriptlet)
    assert entry.obj.__module__ == "orchestrator_curriculum.steps.resource_audit"
    assert registry.get("scriptlet", "pack:resource_audit").obj is entry.obj


CURRICULUM_FREE_RUN = """
import atexit, json, sys
out = sys.argv[1]
atexit.register(lambda: json.dump(sorted(sys.modules), open(out, "w")))
sys.argv = ["orch", *sys.argv[2:]]
from orchestrator_core.cli import main
main()
"""


def test_a_run_using_no_curriculum_scriptlet_imports_none_of_their_modules(tmp_path):
    (tmp_path / "tasks.py").write_text(
        "from orchestrator_core import BaseScriptlet\n\n"
        "class Noop(BaseScriptlet):\n    name = 'noop'\n    outputs = ()\n\n    def run(self, ctx, params):\n        pass\n")
    (tmp_path / "one.yaml").write_text(
        "name: one\nsteps:\n  - {name: t0, type: python, module: tasks, function: Noop}\n")
    modules = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", CURRICULUM_FREE_RUN, str(modules), "run", "one.yaml", "--no-progress"],
                          cwd=tmp_path, env={**_env(), "PYTHONPATH": str(tmp_path)}, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "ok"
    loaded = json.loads(modules.read_text())
    assert "orchestrator_curriculum.plugin" in loaded, "the curriculum pack is installed and was loaded"
    assert [m for m in loaded if m.startswith("orchestrator_curriculum.steps")] == []


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("ORCH_LOG_LEVEL", None)
    return env
