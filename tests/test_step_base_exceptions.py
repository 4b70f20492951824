"""A step that raises what is not an ``Exception``, through the real ``orch`` on each executor.

A ``BaseException`` of the scriptlet's own, or a ``GeneratorExit``, is the step's error like
any other: its error line, the step recorded as failed, the run's exit status 1. Two keep
their meaning: ``KeyboardInterrupt`` is Ctrl-C and interrupts the run, and ``sys.exit(code)``
(how a guide-style scriptlet ends) makes the step fail with that code, or succeed with 0.
Raised by the scriptlet's ``files()`` or ``on_cache_hit``, it is what any exception there
is: the step runs uncached, or runs instead of being a hit.
"""

from __future__ import annotations

import json
import textwrap

import pytest

STEPS = textwrap.dedent('''
    import sys

    from orchestrator_core import BaseScriptlet


    class MyStop(BaseException):
        """A scriptlet's own exception class that is not an Exception."""


    class Raise(BaseScriptlet):
        """Raise the exception named by param ``kind``; exit with param ``code`` for ``exit``."""

        outputs = ()

        def run(self, ctx, params):
            kind = params["kind"]
            if kind == "exit":
                sys.exit(params["code"])
            raise {"MyStop": MyStop, "GeneratorExit": GeneratorExit,
                   "KeyboardInterrupt": KeyboardInterrupt}[kind](f"raised by {ctx.step}")


    class BadHooks(BaseScriptlet):
        """A cacheable scriptlet whose files() or on_cache_hit raises MyStop."""

        outputs = ("t.marked_v1",)

        @classmethod
        def files(cls, params, workdir, data_dir):
            if params["in"] == "files":
                raise MyStop("files() stopped")
            return []

        def on_cache_hit(self, ctx, params):
            raise MyStop("on_cache_hit stopped")

        def run(self, ctx, params):
            ctx.set("t.marked_v1", ctx.step)


    class Mark(BaseScriptlet):
        outputs = ("t.marked_v1",)

        def run(self, ctx, params):
            ctx.set("t.marked_v1", ctx.step)
''')


@pytest.fixture
def orch(tmp_path, monkeypatch, orch_cli):
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    (tmp_path / "bx_steps.py").write_text(STEPS)

    def run(recipe: str, *args: str):
        (tmp_path / "r.yaml").write_text(textwrap.dedent(recipe))
        return orch_cli("run", "r.yaml", "--no-progress", *args, pythonpath=[tmp_path])

    def recorded() -> dict[str, str]:
        shown = json.loads(orch_cli("runs", "show", "latest", "--json").assert_success().out)
        return {step["step"]: step["status"] for step in shown["steps"]}

    run.recorded = recorded
    return run


RAISE_THEN_MARK = """
    steps:
      - {name: boom, module: bx_steps, function: Raise, params: {kind: %s}}
      - {name: after, module: bx_steps, function: Mark, depends_on: [boom]}
"""


@pytest.mark.parametrize("executor", ["inline", "thread", "process"])
@pytest.mark.parametrize("kind", ["MyStop", "GeneratorExit"])
def test_a_base_exception_is_the_steps_error_on_every_executor(orch, kind, executor):
    outcome = orch(RAISE_THEN_MARK % kind, "--executor", executor)
    assert outcome.exit_code == 1 and "Traceback" not in outcome.err
    [line] = outcome.lines  # ``after`` never starts
    assert (line["step"], line["status"], line["reason"]) == ("boom", "error", "raised by boom")
    assert line["details"]["type"] == kind and "bx_steps.py" in line["details"]["where"]
    assert orch.recorded() == {"boom": "error"}


@pytest.mark.parametrize("executor", ["inline", "thread"])
def test_a_keyboard_interrupt_raised_by_a_step_still_interrupts_the_run(orch, executor):
    outcome = orch(RAISE_THEN_MARK % "KeyboardInterrupt", "--executor", executor)
    assert outcome.exit_code == 130 and "interrupted" in outcome.err and outcome.lines == []


@pytest.mark.parametrize("executor", ["inline", "thread"])
def test_sys_exit_in_a_step_is_its_exit_code(orch, executor):
    outcome = orch("""
        steps:
          - {name: three, module: bx_steps, function: Raise, params: {kind: exit, code: 3}}
          - {name: zero, module: bx_steps, function: Raise, params: {kind: exit, code: 0}, depends_on: []}
          - {name: bare, module: bx_steps, function: Raise, params: {kind: exit, code: null}, depends_on: []}
          - {name: said, module: bx_steps, function: Raise, params: {kind: exit, code: no input}, depends_on: []}
    """, "--executor", executor, "--keep-going")
    assert outcome.exit_code == 1 and "Traceback" not in outcome.err
    lines = {line["step"]: line for line in outcome.lines}
    assert (lines["three"]["reason"], lines["three"]["exit_code"]) == ("scriptlet exited with code 3", 3)
    assert lines["zero"]["status"] == "ok"
    assert lines["bare"]["status"] == "ok"  # sys.exit() is exit status 0, as Python reads it
    assert (lines["said"]["reason"], lines["said"]["exit_code"]) == ("scriptlet exited: no input", 1)
    assert orch.recorded() == {"three": "error", "zero": "ok", "bare": "ok", "said": "error"}


@pytest.mark.parametrize("failing", ["files", "on_cache_hit"])
def test_a_base_exception_from_files_or_on_cache_hit_makes_the_step_run(orch, failing):
    recipe = f"""
        steps:
          - {{name: cached, module: bx_steps, function: BadHooks, params: {{in: {failing}}}, cache: true}}
    """
    for expected in ("miss", "miss"):  # files(): never stored; on_cache_hit: the hit runs instead
        outcome = orch(recipe)
        assert outcome.exit_code == 0 and "Traceback" not in outcome.err
        assert [(line["step"], line["cache"]) for line in outcome.lines] == [("cached", expected)]
    assert f"{failing}() stopped" in outcome.err or f"{failing} stopped" in outcome.err
    assert orch.recorded() == {"cached": "ok"}
