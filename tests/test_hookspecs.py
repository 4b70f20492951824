"""The hook specifications keep their promises: documented, typed, prefixed, and in docs/hooks.md."""

from __future__ import annotations

import inspect
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from orchestrator_core import hookimpl

from orchestrator_core.plugin import hookspecs
from orchestrator_core.cli import build_cli
from orchestrator_core.errors import RecipeError

SPECS = [getattr(hookspecs, name) for name in dir(hookspecs) if name.startswith("orch_")]
DOCS = (Path(__file__).parents[1] / "docs" / "hooks.md").read_text()


def test_there_are_hooks_of_each_kind():
    names = {spec.__name__ for spec in SPECS}
    assert {"orch_configure", "orch_register_scriptlets", "orch_run_start", "orch_merge_context"} <= names


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.__name__)
def test_spec_is_documented_and_typed(spec):
    doc = inspect.getdoc(spec)
    assert doc and len(doc.splitlines()) >= 3, "a summary, when it is called, and what it returns"
    signature = inspect.signature(spec)
    for name, parameter in signature.parameters.items():
        assert parameter.annotation is not inspect.Parameter.empty, f"{spec.__name__}({name}) has no type"
        assert f":param {name}:" in doc, f"{spec.__name__} does not document {name!r}"
    assert signature.return_annotation is not inspect.Signature.empty
    if spec.orchestrator_spec.get("firstresult"):
        assert "first non-None result" in doc.replace("\n", " ")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.__name__)
def test_spec_is_in_the_hook_reference_with_its_exact_signature(spec):
    signature = str(inspect.signature(spec)).replace("'", "")
    assert f"### `{spec.__name__}{signature}`" in DOCS


def test_hook_orch_addhooks_lets_a_plugin_define_hooks(orch_pm, register_plugin):
    class NewSpecs:
        @hookimpl
        def orch_addhooks(self, pluginmanager):
            import types

            module = types.SimpleNamespace()

            @hookspecs.hookspec
            def orch_custom_event(value):
                """A hook a plugin pack defines for its own plugins."""

            module.orch_custom_event = orch_custom_event
            pluginmanager.add_hookspecs(module)

    register_plugin(NewSpecs(), "new-specs")
    assert orch_pm.hook.orch_custom_event.spec is not None


def test_hook_orch_configure_and_add_commands(orch_pm, register_plugin):
    seen = {}

    class Extension:
        @hookimpl
        def orch_configure(self, config):
            seen["workers"] = config.workers

        @hookimpl
        def orch_add_commands(self, cli):
            @cli.command("hello")
            @click.argument("who")
            def hello(who):
                """Say hello."""
                click.echo(f"hello {who}")

    register_plugin(Extension(), "extension")
    cli = build_cli(orch_pm)
    result = CliRunner().invoke(cli, ["hello", "world"])
    assert result.exit_code == 0 and result.output == "hello world\n"
    result = CliRunner().invoke(cli, ["plugins", "list", "--json"])
    assert seen["workers"] >= 1 and '"extension"' in result.output


def test_hook_orch_validate_recipe_locates_step_problems(sample_pm, register_plugin, run_orch_recipe):
    class Policy:
        @hookimpl
        def orch_validate_recipe(self, recipe):
            return [f"{s.name}: keys must be versioned" for s in recipe.steps if s.name == "unversioned"]

    register_plugin(Policy(), "policy")
    with pytest.raises(RecipeError) as info:
        run_orch_recipe("steps:\n  - name: fine\n    uses: noop\n  - name: unversioned\n    uses: noop\n")
    [problem] = info.value.problems
    assert problem.line == 4 and problem.message == "step 'unversioned': keys must be versioned"


def test_hook_orch_on_step_error_gets_the_error_json(sample_pm, register_plugin, run_orch_recipe):
    errors = []

    class Alerts:
        @hookimpl
        def orch_on_step_error(self, step, error):
            errors.append((step.name, error["reason"], error["status"]))

    register_plugin(Alerts(), "alerts")
    run_orch_recipe("steps: [{name: f, uses: fail, params: {reason: disk full}}]")
    assert errors == [("f", "disk full", "error")]
