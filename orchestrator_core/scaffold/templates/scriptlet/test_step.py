"""Unit tests of {{scriptlet}}: a missing param fails with a clear error; the success path."""

from orchestrator_core.scriptlet.standalone import run_scriptlet

from {{package}}.steps.{{module}} import {{class}}


def test_{{module}}_needs_who(tmp_path):
    result = run_scriptlet({{class}}, {}, workdir=tmp_path)
    assert result.status == "error"
    assert result.error["reason"] == "param 'who' is required"


def test_{{module}}_greets(tmp_path):
    result = run_scriptlet({{class}}, {"who": "orch"}, workdir=tmp_path)
    assert result.ok, result.error
    assert [(w.key, w.value) for w in result.delta] == [("{{key}}", "hello, orch")]
