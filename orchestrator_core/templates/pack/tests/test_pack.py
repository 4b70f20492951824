"""{{dist}} is installed as an orch plugin and its example recipe runs."""

from orchestrator_core.pluginmanager import create_plugin_manager
from orchestrator_core.registry import Registry
from orchestrator_core.hooks import Hooks


def test_plugin_is_installed():
    pm = create_plugin_manager()
    info = {i.name: i for i in pm.plugin_infos()}["{{name}}"]
    assert info.error is None and info.distribution == "{{dist}}"
    assert "orch_register_scriptlets" in info.hooks


def test_scriptlets_are_registered():
    registry = Registry(Hooks(create_plugin_manager()))
    assert "{{name}}_hello" in registry.names("scriptlet")


def test_example_recipe_runs(tmp_path):
    import io
    import json

    from orchestrator_core import run_recipe

    lines = io.StringIO()
    result = run_recipe("{{name}}_hello", workdir=tmp_path, stdout=lines)
    assert result.ok
    assert json.loads(lines.getvalue().splitlines()[0])["outputs"] == ["{{name}}.greeting_v1"]
    assert result.context["{{name}}.greeting_v1"] == "hello, world"
