"""Plugins: built-ins and installed ones load the same way; a broken one never breaks the rest."""

from __future__ import annotations

import json
import sys

import pytest

from orchestrator_core import BaseScriptlet, hookimpl
from orchestrator_core.plugin.manager import BUILTIN_PLUGINS, create_plugin_manager
from orchestrator_core.plugin.registry import Registry
from orchestrator_core.plugin.hooks import Hooks

BROKEN = {"broken_pack/__init__.py": "import does_not_exist_anywhere\n"}
BAD_SIGNATURE = {"bad_sig/__init__.py": """
    from orchestrator_core import hookimpl

    @hookimpl
    def orch_before_step(run, step, colour):
        pass
"""}
MISSPELT = {"misspelt/__init__.py": """
    from orchestrator_core import hookimpl

    @hookimpl
    def orch_before_stpe(run, step):
        pass
"""}
DUPLICATE = {"dup_pack/__init__.py": """
    from orchestrator_core import BaseScriptlet, hookimpl

    class Noop(BaseScriptlet):
        name = "noop"

    @hookimpl
    def orch_register_scriptlets():
        return [Noop]
"""}


def test_builtins_are_plugins(orch_pm):
    names = {info.name for info in orch_pm.plugin_infos()}
    assert {name for name, _ in BUILTIN_PLUGINS} <= names
    assert all(info.source == "builtin" for info in orch_pm.plugin_infos())


def test_blocking_a_builtin_but_not_an_essential_one(monkeypatch):
    monkeypatch.setenv("ORCH_DISABLE_PLUGINS", "progress,reporter")
    pm = create_plugin_manager(load_entrypoints=False)
    assert not pm.has_plugin("progress")
    assert pm.has_plugin("reporter"), "without the reporter nothing honours the JSON-line contract"


def test_plugin_registered_in_process(sample_pm, register_plugin, run_orch_recipe, hook_recorder):
    seen = []

    class Watcher:
        @hookimpl
        def orch_after_step(self, step, result):
            seen.append((step.name, result.outputs))

    register_plugin(Watcher(), "watcher")
    outcome = run_orch_recipe("steps: [{name: a, uses: write_keys, params: {values: {t.a_v1: 1}}}]")
    assert outcome.error is None
    assert seen == [("a", ["t.a_v1"])]
    lifecycle = [n for n in hook_recorder.names() if n.endswith(("_start", "_step", "_finish"))]
    assert lifecycle == ["orch_run_start", "orch_before_step", "orch_after_step", "orch_run_finish"]
    assert hook_recorder.names()[0] == "orch_configure"
    assert hook_recorder.of("orch_run_finish")[0].kwargs["run"].status == "ok"


def test_plugin_can_preempt_the_merge_decision(sample_pm, register_plugin, run_orch_recipe):
    class Concatenate:
        @hookimpl
        def orch_merge_context(self, key, current, incoming, strategy):
            return f"{current}+{incoming}" if strategy == "concat" else None

    register_plugin(Concatenate(), "concat")
    outcome = run_orch_recipe("""
    merge: concat
    steps:
      - {name: a, uses: write_keys, params: {values: {t.shared_v1: a}}}
      - {name: b, uses: write_keys, params: {values: {t.shared_v1: b}}}
    """)
    assert outcome.context["t.shared_v1"] == "a+b"


def test_registration_checks(orch_pm, register_plugin):
    class NoName(BaseScriptlet):
        pass

    class NotAScriptlet:
        name = "nope"

    class Good(BaseScriptlet):
        name = "good"

    class Pack:
        @hookimpl
        def orch_register_scriptlets(self):
            return [Good(), NotAScriptlet, Good]

    register_plugin(Pack(), "pack")
    registry = Registry(Hooks(orch_pm))
    assert registry.names("scriptlet") == ["good"]
    assert any("did you forget to return the class rather than an instance?" in p for p in registry.problems)
    assert any("must subclass" in p and "NotAScriptlet" in p for p in registry.problems)


def load_with(monkeypatch, *folders):
    for folder in folders:
        monkeypatch.syspath_prepend(str(folder))
    import importlib

    importlib.invalidate_caches()
    return create_plugin_manager()


def test_broken_plugins_are_reported_and_the_rest_works(monkeypatch, make_pack, sample_pack_path):
    broken = make_pack("orch-broken", BROKEN, {"broken": "broken_pack"}, version="9.9")
    bad_sig = make_pack("orch-badsig", BAD_SIGNATURE, {"badsig": "bad_sig"})
    misspelt = make_pack("orch-misspelt", MISSPELT, {"misspelt": "misspelt"})
    pm = load_with(monkeypatch, broken, bad_sig, misspelt, sample_pack_path)
    errors = {info.name: info for info in pm.failures}
    assert errors["broken"].distribution == "orch-broken" and errors["broken"].version == "9.9"
    assert "ModuleNotFoundError" in errors["broken"].error and "does_not_exist_anywhere" in errors["broken"].error
    assert "colour" in errors["badsig"].error
    assert "unknown hook 'orch_before_stpe'" in errors["misspelt"].error
    assert not pm.has_plugin("misspelt") and not pm.has_plugin("badsig")
    registry = Registry(Hooks(pm))
    assert "write_keys" in registry.names("scriptlet"), "the healthy pack still works"


def test_two_packs_with_one_scriptlet_name(monkeypatch, make_pack, sample_pack_path):
    dup = make_pack("orch-dup", DUPLICATE, {"dup": "dup_pack"})
    registry = Registry(Hooks(load_with(monkeypatch, dup, sample_pack_path)))
    assert not registry.problems  # a clash is an error only where the bare name is used
    assert "noop" not in registry.names("scriptlet") and "write_keys" in registry.names("scriptlet")
    with pytest.raises(Exception) as raised:
        registry.get("scriptlet", "noop")
    message = str(raised.value)
    assert "scriptlet 'noop' is ambiguous: registered by" in message
    assert "orch-dup (plugin 'dup')" in message and "orch-sample (plugin 'sample')" in message
    assert "'dup:noop'" in message and "'sample:noop'" in message
    assert registry.get("scriptlet", "dup:noop").obj.__module__ == "dup_pack"
    assert registry.get("scriptlet", "sample:noop").obj.__module__.startswith("orch_sample")
    assert registry.get("scriptlet", "noop", home="dup").plugin == "dup"


def test_cli_lists_plugins_with_versions_and_failures(orch_cli, make_pack, sample_pack_path):
    broken = make_pack("orch-broken", BROKEN, {"broken": "broken_pack"}, version="9.9")
    outcome = orch_cli("plugins", "list", "--json", pythonpath=[broken, sample_pack_path]).assert_success()
    plugins = {p["name"]: p for p in json.loads(outcome.out)}
    assert plugins["sample"]["version"] == "1.2.3" and plugins["sample"]["distribution"] == "orch-sample"
    assert "orch_register_scriptlets" in plugins["sample"]["hooks"] and plugins["sample"]["source"] == "entrypoint"
    assert plugins["python"]["source"] == "builtin"
    assert plugins["broken"]["error"].startswith("ModuleNotFoundError")
    assert "plugin 'broken' from orch-broken 9.9 was not loaded: ModuleNotFoundError" in outcome.err


def test_every_form_of_hook_implementation_is_found_whatever_it_is_named():
    """Start-up skips the names pluggy need not look at; these forms must still register."""
    import types

    class Base:
        @hookimpl
        def orch_run_start(self, run):  # inherited from a base class
            pass

    class Plugin(Base):
        @hookimpl(specname="orch_run_finish")
        def _finish_under_another_name(self, run):  # a private name, given by specname
            pass

        @staticmethod
        @hookimpl
        def orch_before_step(run, step):
            pass

        @classmethod
        @hookimpl
        def orch_after_step(cls, run, step, result):
            pass

        @property
        def orch_configure(self):  # a property is never a hook implementation, and is not run
            raise AssertionError("a property was evaluated while registering")

    instance = Plugin()
    instance.orch_cache_get = hookimpl(lambda key: None)  # set on the instance itself

    module = types.ModuleType("a_plugin_module")

    @hookimpl(specname="orch_validate_recipe")
    def check(recipe):
        return []

    module.check = check
    pm = create_plugin_manager(load_entrypoints=False, plugins=[instance, module])
    assert sorted(c.name for c in pm.get_hookcallers(instance)) == [
        "orch_after_step", "orch_before_step", "orch_cache_get", "orch_run_finish", "orch_run_start"]
    assert [c.name for c in pm.get_hookcallers(module)] == ["orch_validate_recipe"]


# A pack as `orch new pack` writes one: every module of steps/ registered by discover_scriptlets.
HALF_BROKEN = {
    "badstep_pack/__init__.py": """
        from orchestrator_core import discover_scriptlets, hookimpl

        @hookimpl
        def orch_register_scriptlets():
            return discover_scriptlets(f"{__name__}.steps")
    """,
    "badstep_pack/steps/__init__.py": "",
    "badstep_pack/steps/bad.py": '''
        """Needs a library that is not installed."""
        from orchestrator_core import BaseScriptlet
        import zzz_missing

        class Lost(BaseScriptlet):
            name = "lost_one"
    ''',
    "badstep_pack/steps/good.py": """
        from orchestrator_core import BaseScriptlet

        class GoodOne(BaseScriptlet):
            name = "good_one"
            outputs = ("good.done_v1",)

            def run(self, ctx, params):
                ctx.set("good.done_v1", True)
    """,
    "badstep_pack/steps/typo.py": """
        from orchestrator_core import BaseScriptlet

        class Typo(BaseScriptlet)
            name = "typo_one"
    """,
}


def test_one_module_of_a_pack_that_does_not_import_costs_that_module_only(orch_cli, make_pack, tmp_path):
    pack = make_pack("orchestrator-badstep", HALF_BROKEN, {"badstep": "badstep_pack"}, version="0.3")
    steps_dir = pack / "badstep_pack" / "steps"
    bad = f"scriptlet module {steps_dir / 'bad.py'}:4 of orchestrator-badstep cannot be imported, so its " \
          f"scriptlets are left out: ModuleNotFoundError: No module named 'zzz_missing'"
    typo = f"scriptlet module {steps_dir / 'typo.py'}:4 of orchestrator-badstep cannot be imported, so its " \
           f"scriptlets are left out: SyntaxError: expected ':'"

    steps = orch_cli("steps", "list", "--json", pythonpath=[pack]).assert_success()
    names = {s["name"] for s in json.loads(steps.out)}
    assert "good_one" in names and not {"lost_one", "typo_one"} & names
    assert f"orch: warning: plugin 'badstep': {bad}\n" in steps.err
    assert f"plugin 'badstep': {typo}" in steps.err and "Traceback" not in steps.err
    assert "orch_register_scriptlets failed" not in steps.err

    listed = orch_cli("plugins", "list", "--json", pythonpath=[pack]).assert_success()
    (row,) = [p for p in json.loads(listed.out) if p["name"] == "badstep"]
    assert row["error"] is None and row["hooks"] == ["orch_register_scriptlets"]
    assert [p.split(" (")[0] for p in row["problems"]] == [bad, typo.split(" (")[0]]
    assert all(not p["problems"] for p in json.loads(listed.out) if p["name"] != "badstep")
    table = orch_cli("plugins", "list", pythonpath=[pack]).assert_success().out
    (line,) = [line for line in table.splitlines() if line.startswith("badstep ")]
    assert line.endswith(f"register_scriptlets; PROBLEM: {bad}; PROBLEM: {row['problems'][1]}")

    (tmp_path / "r.yaml").write_text("steps:\n  - {name: a, uses: good_one}\n")
    ran = orch_cli("run", "r.yaml", "--no-progress", pythonpath=[pack]).assert_success()
    assert ran.lines[0]["outputs"] == ["good.done_v1"] and bad in ran.err


def test_discover_scriptlets_puts_what_it_could_not_import_in_the_modules_place(monkeypatch, make_pack):
    from orchestrator_core.scriptlet.base import UnimportableModule, discover_scriptlets

    pack = make_pack("orchestrator-badstep", HALF_BROKEN, {"badstep": "badstep_pack"})
    monkeypatch.syspath_prepend(str(pack))
    try:
        found = discover_scriptlets("badstep_pack.steps")
    finally:
        for name in [n for n in sys.modules if n.split(".")[0] == "badstep_pack"]:
            del sys.modules[name]
    lost, good, typo = found
    assert isinstance(lost, UnimportableModule) and isinstance(typo, UnimportableModule)
    assert good.name == "good_one"
    assert (lost.module, lost.path) == ("badstep_pack.steps.bad", str(pack / "badstep_pack/steps/bad.py") + ":4")
    assert lost.error == "ModuleNotFoundError: No module named 'zzz_missing'"
    assert typo.path.endswith("typo.py:4") and typo.error.startswith("SyntaxError: expected ':'")
