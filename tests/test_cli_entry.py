"""How ``orch`` is started and sized: ``python -m orchestrator_core``, ``-p no:NAME`` checked
against the plugins there are (so are `$ORCH_DISABLE_PLUGINS` and `$ORCH_LOAD_PLUGINS`), and the default number of steps in flight."""

from __future__ import annotations

import json
import os
import subprocess
import sys

RENDEZVOUS = {"rendezvous_pack/__init__.py": '''
    import os
    import time
    from pathlib import Path

    from orchestrator_core import BaseScriptlet, ScriptletError, hookimpl


    class Arrive(BaseScriptlet):
        """Marks its arrival, then waits until ``expected`` steps have arrived: only steps that
        run at the same time can all finish."""

        name = "arrive"
        parallelizable = True

        def run(self, ctx, params):
            here = Path(params["dir"])
            (here / str(params["slot"])).touch()
            deadline = time.monotonic() + 20
            while len(list(here.iterdir())) < params["expected"]:
                if time.monotonic() > deadline:
                    raise ScriptletError("the other steps never ran at the same time")
                time.sleep(0.02)


    @hookimpl
    def orch_register_scriptlets():
        return [Arrive]
'''}


def test_python_dash_m_is_the_orch_command(tmp_path):
    (tmp_path / "r.yaml").write_text("steps:\n  - {name: a, uses: no_such_scriptlet}\n")
    env = {k: v for k, v in os.environ.items() if k != "ORCH_LOG_LEVEL"}
    version = subprocess.run([sys.executable, "-m", "orchestrator_core", "--version"], capture_output=True,
                             text=True, timeout=60, env=env)
    assert version.returncode == 0 and version.stdout.startswith("orch ")
    bad = subprocess.run([sys.executable, "-m", "orchestrator_core", "validate", "r.yaml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode == 2 and "r.yaml:2: unknown scriptlet 'no_such_scriptlet'" in bad.stderr
    helped = subprocess.run([sys.executable, "-m", "orchestrator_core", "--help"], capture_output=True, text=True,
                            timeout=60, env=env)
    assert helped.stdout.startswith("Usage: orch ")


def test_blocking_an_unknown_plugin_is_an_error_with_a_suggestion(orch_cli):
    typo = orch_cli("-p", "no:therad", "plugins", "list")
    assert typo.exit_code == 2 and typo.out == ""
    assert "-p no:therad: no plugin is named 'therad' (did you mean 'thread'?)" in typo.err
    glued = orch_cli("-pno:nothing_like_it", "plugins", "list")
    assert glued.exit_code == 2 and "no plugin is named 'nothing_like_it'; 'orch plugins list'" in glued.err
    blocked = orch_cli("-p", "no:thread", "plugins", "list", "--json").assert_success()
    assert '"thread"' not in blocked.out


def test_an_unknown_name_in_orch_disable_plugins_is_an_error_too(orch_cli):
    typo = orch_cli("plugins", "list", env={"ORCH_DISABLE_PLUGINS": "events,therad"})
    assert typo.exit_code == 2 and typo.out == ""
    assert "ORCH_DISABLE_PLUGINS=therad: no plugin is named 'therad' (did you mean 'thread'?)" in typo.err
    blocked = orch_cli("plugins", "list", "--json", env={"ORCH_DISABLE_PLUGINS": "thread, events"}).assert_success()
    assert '"thread"' not in blocked.out and '"events"' not in blocked.out


WEATHER = {"weather_pack/__init__.py": '''
    from orchestrator_core import BaseScriptlet, hookimpl


    class Hello(BaseScriptlet):
        name = "weather_hello"

        def run(self, ctx, params):
            pass


    @hookimpl
    def orch_register_scriptlets():
        return [Hello]
'''}


def test_an_unknown_name_in_orch_load_plugins_is_an_error_not_an_empty_allow_list(orch_cli, make_pack, tmp_path):
    pack = make_pack("orchestrator-weather", WEATHER, {"weather": "weather_pack"})
    (tmp_path / "r.yaml").write_text("steps:\n  - {name: a, uses: weather_hello}\n")
    for args in (("plugins", "list"), ("run", "r.yaml")):
        typo = orch_cli(*args, pythonpath=[pack], env={"ORCH_LOAD_PLUGINS": "weathr"})
        assert typo.exit_code == 2 and typo.out == "", args
        assert "ORCH_LOAD_PLUGINS=weathr: no plugin is named 'weathr' (did you mean 'weather'?)" in typo.err
        assert "Traceback" not in typo.err
    allowed = orch_cli("plugins", "list", "--json", pythonpath=[pack], env={"ORCH_LOAD_PLUGINS": " weather "})
    assert "weather" in {p["name"] for p in json.loads(allowed.assert_success().out)}
    orch_cli("run", "r.yaml", "--no-progress", pythonpath=[pack], env={"ORCH_LOAD_PLUGINS": "weather"}).assert_success()

def test_thread_steps_default_to_more_in_flight_than_cpus(orch_cli, make_pack, tmp_path):
    pack = make_pack("orch-rendezvous", RENDEZVOUS, {"rendezvous": "rendezvous_pack"})
    expected = (os.cpu_count() or 1) + 1  # one more than CPUs: the old default could never run them together
    (tmp_path / "met").mkdir()
    steps = "".join(f"  - {{name: s{i}, uses: arrive, depends_on: [], "
                    f"params: {{dir: met, slot: {i}, expected: {expected}}}}}\n" for i in range(expected))
    (tmp_path / "r.yaml").write_text("steps:\n" + steps)
    outcome = orch_cli("run", "r.yaml", "--no-progress", pythonpath=[pack])
    assert outcome.exit_code == 0, outcome.err
    assert len(outcome.lines) == expected and all(line["status"] == "ok" for line in outcome.lines)
    assert "min(32, CPU count + 4)" in orch_cli("run", "--help").out


def test_what_a_step_leaves_in_a_reference_cycle_is_still_finalized_when_orch_exits(tmp_path, orch_cli):
    """``orch`` freezes its start-up objects out of the garbage collector; what a step makes later
    is collected at exit as before: the ``__del__`` of an object it left in a reference cycle runs."""
    (tmp_path / "cycle_steps.py").write_text(
        "from orchestrator_core import BaseScriptlet\n\n\n"
        "class Leaky:\n"
        "    def __init__(self, marker):\n"
        "        self.me, self.marker = self, marker\n\n"
        "    def __del__(self):\n"
        "        with open(self.marker, 'w') as out:\n"
        "            out.write('finalized')\n\n\n"
        "class LeaveInACycle(BaseScriptlet):\n"
        "    name = 'leave_in_a_cycle'\n\n"
        "    def run(self, ctx, params):\n"
        "        Leaky(params['marker'])\n")
    (tmp_path / "r.yaml").write_text(
        "steps:\n  - {name: a, module: cycle_steps, function: LeaveInACycle, params: {marker: gone}}\n")
    orch_cli("run", "r.yaml", "--no-progress", env={"PYTHONPATH": str(tmp_path)}).assert_success()
    assert (tmp_path / "gone").read_text() == "finalized"
