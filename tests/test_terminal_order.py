"""The screen follows what happened: a step's ``[n/N]`` line and JSON line come before what a later step prints.

Finished steps are reported a group at a time, and a chain of quick steps shares one
group: the runner does not commit before each of them. The real ``orch`` runs under a
pseudo-terminal (``pexpect``), with the live bar and with ``--no-progress``, and what
it wrote is replayed into the screen model of ``orch_test_helpers.screen_of``.
"""

from __future__ import annotations

import io
import json
import os
import re

import pexpect
import pytest

from orchestrator_core.testing import orch_executable
from orch_test_helpers import screen_when_done

STEPS = 40  # the handler is known quick after its first run or two: most of the chain shares groups

SAY_STEPS = '''
from orchestrator_core import BaseScriptlet

class Say(BaseScriptlet):
    name = "say"
    def run(self, ctx, params):
        print(f"{params['who']} says hello")
'''


def run_at_a_terminal(tmp_path, *args: str) -> list[str]:
    """``orch run say.yaml ARGS`` under a 140-column pty: the non-empty lines of the screen."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(tmp_path), os.environ.get("PYTHONPATH"))))}
    seen = io.StringIO()
    child = pexpect.spawn(orch_executable(), ["run", "say.yaml", *args], cwd=str(tmp_path), env=env,
                          dimensions=(50, 140), encoding="utf-8", timeout=120)
    child.logfile_read = seen
    return screen_when_done(child, seen)


def what_happened(screen: list[str]) -> list[tuple[str, str]]:
    """The step lines of the screen, in screen order: (print|ok|json, step)."""
    events = []
    for line in screen:
        if said := re.fullmatch(r"(s\d+) says hello", line):
            events.append(("print", said.group(1)))
        elif ok := re.match(r"orch: \[ *\d+/\d+\] ok +(s\d+) ", line):
            events.append(("ok", ok.group(1)))
        elif line.startswith("{"):
            events.append(("json", json.loads(line)["step"]))
    return events


@pytest.mark.parametrize("executor", ["inline", "thread"])
@pytest.mark.parametrize("progress", ["bar", "--no-progress"])
def test_a_chain_of_quick_steps_that_print_shows_each_steps_lines_before_the_next_ones_print(
        tmp_path, executor, progress):
    (tmp_path / "say_steps.py").write_text(SAY_STEPS)
    (tmp_path / "say.yaml").write_text("name: say\nsteps:\n" + "".join(
        f"  - {{name: s{i}, module: say_steps, function: Say, params: {{who: s{i}}}}}\n" for i in range(STEPS)))
    screen = run_at_a_terminal(tmp_path, "--executor", executor, *([] if progress == "bar" else [progress]))
    kinds = ("print", "ok", "json") if progress == "bar" else ("print", "json")
    expected = [(kind, f"s{i}") for i in range(STEPS) for kind in kinds]
    assert what_happened(screen) == expected, "\n".join(screen)


SHRUG_STEPS = '''
from orchestrator_core import BaseScriptlet

class SayAndShrug(BaseScriptlet):
    """Prints, and swallows whatever its print raises."""
    name = "say_and_shrug"
    def run(self, ctx, params):
        try:
            print(f"{ctx.step} says hello")
        except Exception:
            pass

class Quiet(BaseScriptlet):
    name = "quiet"
    def run(self, ctx, params):
        pass
'''


@pytest.mark.parametrize("function", ["SayAndShrug", "Quiet"])
def test_a_store_failing_in_a_flush_a_print_started_stops_the_run_as_without_the_print(
        register_plugin, run_orch_recipe, tmp_path, monkeypatch, function):
    """The step whose print reported the steps before it cannot swallow the store's failure."""
    from orchestrator_core import hookimpl

    (tmp_path / "shrug_steps.py").write_text(SHRUG_STEPS)
    monkeypatch.syspath_prepend(str(tmp_path))

    class FullDisk:
        @hookimpl
        def orch_record_steps(self, finished):
            if any(step.name == "s10" for step, _, _ in finished):
                raise OSError(28, "No space left on device")

    register_plugin(FullDisk(), "full_disk")
    recipe = "steps:\n" + "".join(f"  - {{name: s{i}, module: shrug_steps, function: {function}}}\n" for i in range(30))
    with pytest.raises(OSError, match="No space left on device"):
        run_orch_recipe(recipe)
