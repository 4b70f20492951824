"""The pack authors' pytest plugin, as a pack's own test suite sees it: opt-in, ``orch_``
fixtures only, installed plugins loaded by default, and a clear error for an unknown scriptlet."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

SUITE = '''
import pytest

RECIPE = """
steps:
  - name: load
    uses: load_numbers
"""


def test_installed_packs_are_loaded(orch_run_recipe):
    outcome = orch_run_recipe(RECIPE)
    assert outcome.error is None and outcome.lines[0]["outputs"] == ["numbers.raw_v1"]


@pytest.mark.orch_builtins_only
def test_builtins_only(orch_run_recipe, orch_pm):
    assert "curriculum" not in orch_pm.infos
    orch_run_recipe(RECIPE)


def test_registered_plugin_and_hooks(orch_pm, orch_register_plugin, orch_hook_recorder, orch_run_recipe):
    from orchestrator_core import BaseScriptlet, hookimpl

    class Mine(BaseScriptlet):
        name = "mine"
        outputs = ("m.x_v1",)

        def run(self, ctx, params):
            ctx.set("m.x_v1", 1)

    class Pack:
        @hookimpl
        def orch_register_scriptlets(self):
            return [Mine]

    orch_register_plugin(Pack(), "minepack")
    assert orch_run_recipe("steps:\\n  - {name: a, uses: 'minepack:mine'}\\n").context["m.x_v1"] == 1
    assert "orch_run_start" in orch_hook_recorder.names()


def test_internal_helpers_are_not_fixtures(request):
    for name in ("procs", "marked_env", "orch_server", "make_pack", "register_plugin", "run_orch_recipe"):
        try:
            request.getfixturevalue(name)
        except pytest.FixtureLookupError:
            continue
        raise AssertionError(f"{name} is a fixture")
'''


def run_suite(tmp_path, conftest: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the repository's configuration
    (tmp_path / "test_pack.py").write_text(SUITE)
    if conftest is not None:
        (tmp_path / "conftest.py").write_text(textwrap.dedent(conftest))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCH_", "PYTEST_"))}
    env["ORCH_CACHE_DIR"] = str(tmp_path / "orch-cache")  # read recipes stay out of ~/.cache/orch
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "-p", "no:randomly", "-rA"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=env)


def test_the_plugin_is_opt_in(tmp_path):
    outcome = run_suite(tmp_path, None)
    assert outcome.returncode == 1
    assert "fixture 'orch_run_recipe' not found" in outcome.stdout
    assert "orch_" not in outcome.stdout.split("available fixtures:")[1].split("use 'pytest --fixtures")[0]


def test_a_pack_suite_with_the_plugin(tmp_path):
    outcome = run_suite(tmp_path, 'pytest_plugins = ["orchestrator_core.testing"]\n')
    report = outcome.stdout
    assert "PASSED test_pack.py::test_installed_packs_are_loaded" in report, report
    assert "PASSED test_pack.py::test_registered_plugin_and_hooks" in report, report
    assert "PASSED test_pack.py::test_internal_helpers_are_not_fixtures" in report, report
    assert "FAILED test_pack.py::test_builtins_only" in report
    assert "unknown scriptlet 'load_numbers'; known: none (packs loaded: none)" in report
    assert "register its plugin module with orch_register_plugin(module)" in report
