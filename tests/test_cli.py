"""The real ``orch`` command: exit codes, the stdout contract, listings and options."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from orchestrator_core.testing import orch_executable

CHAIN = """
name: chain
steps:
  - {name: one, uses: write_keys, params: {values: {t.a_v1: 1}}}
  - {name: two, uses: write_keys, params: {values: {t.b_v1: 2}}}
  - {name: three, uses: sum_keys, params: {keys: [t.a_v1, t.b_v1]}}
"""


@pytest.fixture
def orch(orch_cli, sample_pack_path):
    """``orch(*args)`` with the sample pack installed."""
    return lambda *args, **kw: orch_cli(*args, pythonpath=[sample_pack_path], **kw)


def test_run_by_name_from_any_directory(orch):
    outcome = orch("run", "sample_chain").assert_success()
    assert [line["outputs"] for line in outcome.lines] == [["t.a_v1"], ["t.b_v1"], ["t.sum_v1"]]
    assert "orch: run" in outcome.err and "3 ok, 0 failed" in outcome.err


def test_a_folder_or_a_device_given_as_the_recipe_is_named_as_such(orch, tmp_path):
    (tmp_path / "steps.yaml").mkdir()
    for reference, kind in (("steps.yaml", "a directory"), (".", "a directory"), ("/dev/null", "not a regular file")):
        outcome = orch("run", reference)
        assert outcome.exit_code == 2
        assert f"recipe {reference} is {kind}; give the recipe's YAML file" in outcome.err
    assert "recipe file not found: nothere.yaml\n" in orch("run", "nothere.yaml").err
    # The file is not there, but a pack's recipe is named so: say how to run it.
    assert ("recipe file not found: sample_chain.yaml; an installed pack ships a recipe named 'sample_chain': "
            "`orch run sample_chain`") in orch("run", "sample_chain.yaml").err
    (tmp_path / "sample_chain").mkdir()  # a folder named as a pack's recipe does not hide the recipe
    orch("run", "sample_chain").assert_success()


def test_run_by_path_and_recipe_option(orch, tmp_path):
    (tmp_path / "chain.yaml").write_text(CHAIN)
    assert len(orch("run", "chain.yaml").assert_success().lines) == 3
    assert len(orch("run", "--recipe", "chain.yaml").assert_success().lines) == 3


@pytest.mark.parametrize("args", [
    ["--only", "one", "three"],
    ["--only", "one", "--only", "three"],
    ["--only", "one,three"],
])
def test_only_accepts_every_spelling(orch, tmp_path, args):
    (tmp_path / "chain.yaml").write_text(CHAIN)
    orch("run", "chain.yaml").assert_success()  # --only runs on the context this run records
    for order in ([*args, "chain.yaml"], ["chain.yaml", *args], ["--recipe", "chain.yaml", *args]):
        outcome = orch("run", *order).assert_success()
        assert [line["step"] for line in outcome.lines] == ["one", "three"], order


def test_exit_codes(orch, tmp_path):
    (tmp_path / "fails.yaml").write_text("steps: [{name: a, uses: fail, params: {reason: nope}}]")
    (tmp_path / "broken.yaml").write_text("steps:\n  - name: a\n    uses: noop\n    retries: many\n")
    failed = orch("run", "fails.yaml")
    assert failed.exit_code == 1 and failed.lines[0]["reason"] == "nope"
    wrong = orch("run", "broken.yaml")
    assert wrong.exit_code == 2 and wrong.out == ""
    assert "broken.yaml:4: 'retries' must be an integer, got str 'many'" in wrong.err
    assert "Traceback" not in wrong.err
    assert orch("run", "no_such_recipe").exit_code == 2
    assert orch("run", "fails.yaml", "--skip", "nope").exit_code == 2
    assert orch("run").exit_code == 2
    assert orch("run", "fails.yaml", "--executor", "warp").exit_code == 2


def test_misspelt_recipe_name_gets_a_suggestion(orch):
    outcome = orch("run", "sample_chian")
    assert outcome.exit_code == 2 and "did you mean 'sample_chain'?" in outcome.err


def test_stdout_carries_only_json_lines(orch, tmp_path):
    (tmp_path / "chatty.yaml").write_text("steps: [{name: c, uses: chatty}]")
    outcome = orch("run", "chatty.yaml").assert_success()
    assert outcome.lines[0]["outputs"] == ["t.a_v1"]
    assert "hello from a step" in outcome.err and "hello from a child process" in outcome.err


def test_set_initial_context_and_data_dir(orch, tmp_path):
    (tmp_path / "sum.yaml").write_text("steps: [{name: s, uses: sum_keys, params: {keys: [x, y]}}]")
    outcome = orch("run", "sum.yaml", "--set", "x=2", "--set", "y=40", "--events", "ev.jsonl").assert_success()
    assert outcome.lines[0]["outputs"] == ["t.sum_v1"]
    events = [json.loads(line) for line in (tmp_path / "ev.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["run_start", "step_start", "step_finish", "run_finish"]
    assert all(e["schema"] == "orch.event/1" and e["run"] == events[0]["run"] for e in events)
    assert events[2]["line"]["outputs"] == ["t.sum_v1"] and events[3]["status"] == "ok"


def test_validate(orch, tmp_path):
    (tmp_path / "good.yaml").write_text(CHAIN)
    (tmp_path / "bad.yaml").write_text("steps:\n  - name: a\n    uses: write_key\n")
    good = orch("validate", "good.yaml").assert_success()
    assert "ok:" in good.out and "(3 steps)" in good.out
    bad = orch("validate", "good.yaml", "bad.yaml", "--json")
    assert bad.exit_code == 2
    report = json.loads(bad.out)
    assert report[0]["ok"] is True and report[1]["ok"] is False
    assert report[1]["problems"][0]["line"] == 3 and "did you mean 'write_keys'" in report[1]["problems"][0]["message"]


def test_listings_as_json_and_tables(orch):
    steps = json.loads(orch("steps", "list", "--json").assert_success().out)
    by_name = {s["name"]: s for s in steps}
    assert by_name["sum_keys"]["pack"] == "orch-sample" and by_name["sum_keys"]["outputs"] == ["t.sum_v1"]
    recipes = json.loads(orch("recipes", "list", "--json").assert_success().out)
    sample = next(r for r in recipes if r["name"] == "sample_chain")
    assert sample["pack"] == "sample" and sample["description"] == "Three steps in a chain, then a sum."
    table = orch("steps", "list").assert_success().out
    assert table.splitlines()[0].split() == ["NAME", "PACK", "PARAMS", "OUTPUTS", "DESCRIPTION"]
    shown = json.loads(orch("steps", "show", "sum_keys", "--json").assert_success().out)
    assert shown["doc"].startswith("Sum the numeric context keys") and shown["outputs"] == ["t.sum_v1"]
    assert "Sum the numeric context keys" in orch("steps", "show", "sum_keys").assert_success().out
    assert orch("steps", "show", "sum_key").exit_code == 2
    assert "plugins" in orch("--help").assert_success().out


def test_step_run_and_python_module(orch, sample_pack_path, tmp_path):
    ok = orch("step", "run", "add_numbers", "--params", '{"numbers": [1, 2, 3]}')
    assert ok.exit_code == 2 and "unknown scriptlet 'add_numbers'" in ok.err  # not registered by the pack
    ran = orch("step", "run", "sum_keys", "--params", '{"keys": ["a"]}', "--context", '{"a": 5}').assert_success()
    assert ran.lines == [{"status": "ok", "outputs": ["t.sum_v1"], "step": "sum_keys",
                          "metrics": ran.lines[0]["metrics"]}]
    assert "t.sum_v1 = 5" in ran.err
    missing = orch("step", "run", "sum_keys")
    assert missing.exit_code == 1 and missing.lines[0]["reason"] == "keys required"
    assert orch("step", "run", "sum_keys", "--params", "{oops").exit_code == 2

    env = dict(os.environ, PYTHONPATH=str(sample_pack_path))
    module = [sys.executable, "-m", "orch_sample.standalone_sum"]
    done = subprocess.run([*module, "--params", '{"numbers": [1, 2, 3]}'], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["outputs"] == ["t.total_v1"]
    failed = subprocess.run([*module, "--params", "{}"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["reason"] == "numbers required"


def test_every_command_has_help(orch):
    for args in (["run"], ["validate"], ["plugins", "list"], ["recipes", "list"], ["steps", "list"],
                 ["step", "run"], ["plugins"], ["step"]):
        outcome = orch(*args, "--help").assert_success()
        assert "Usage: orch" in outcome.out, args


def test_ctrl_c_stops_the_run_and_exits_130(sample_pack_path, tmp_path):
    (tmp_path / "slow.yaml").write_text("""
steps:
  - {name: first, uses: write_keys, params: {values: {t.a_v1: 1}}}
  - {name: nap, uses: sleepy, params: {seconds: 60}}
  - {name: after, uses: noop}
""")
    env = dict(os.environ, PYTHONPATH=str(sample_pack_path))
    proc = subprocess.Popen([orch_executable(), "run", "slow.yaml", "--events", "ev.jsonl"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            events = (tmp_path / "ev.jsonl").read_text() if (tmp_path / "ev.jsonl").exists() else ""
            if '"step":"nap"' in events:
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert [json.loads(line)["step"] for line in out.splitlines()] == ["first"]
    finish = json.loads((tmp_path / "ev.jsonl").read_text().splitlines()[-1])
    assert finish["event"] == "run_finish" and finish["status"] == "interrupted"


def test_ctrl_c_while_orch_loads_its_plugins_is_a_clean_abort(orch_make_pack, tmp_path):
    """A pack whose import takes a while: Ctrl-C then comes before any command catches it."""
    marker = tmp_path / "loading"
    pack = orch_make_pack("slow-pack", {"slow_pack/__init__.py": f"""
        import pathlib
        import time

        pathlib.Path({str(marker)!r}).write_text("loading")
        time.sleep(30)
    """})
    env = dict(os.environ, PYTHONPATH=str(pack))
    proc = subprocess.Popen([orch_executable(), "steps", "list"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert err.strip() == "orch: aborted" and out == ""


def test_validate_warns_about_unversioned_output_keys(orch_cli, sample_pack_path, tmp_path):
    (tmp_path / "loose_steps.py").write_text(
        "from orchestrator_core import BaseScriptlet\n\n"
        "class Loose(BaseScriptlet):\n"
        "    outputs = ('metrics.summary', 'metrics.total_v1')\n\n"
        "    def run(self, ctx, params):\n"
        "        ctx.set('metrics.summary', 1)\n")
    (tmp_path / "loose.yaml").write_text(
        "steps:\n  - {name: first, uses: noop}\n  - {name: loose, type: python, module: loose_steps, function: Loose}\n")
    orch = lambda *args: orch_cli(*args, pythonpath=[sample_pack_path, tmp_path])  # noqa: E731
    checked = orch("validate", "loose.yaml")
    assert checked.exit_code == 0, checked.err
    assert "loose.yaml:3: warning: step 'loose': output key 'metrics.summary' has no version suffix" in checked.err
    assert "metrics.total_v1" not in checked.err
    report = json.loads(orch("validate", "loose.yaml", "--json").out)
    assert [w["line"] for w in report[0]["warnings"]] == [3]


def test_steps_check_reports_keys_that_changed_shape(orch, tmp_path):
    def recipe(values):
        (tmp_path / "shape.yaml").write_text(
            f"name: shape\nsteps:\n  - {{name: w, uses: write_keys, params: {{values: {json.dumps(values)}}}}}\n")

    assert "no run recorded yet" in orch("steps", "check").assert_success().err
    # Data-keyed objects (numbers as keys, names of like values) and empty lists at any depth are not shape.
    recipe({"t.a_v1": {"mean": 1, "n": 3}, "t.b_v1": [], "t.c_v1": 1,
            "t.shared_v1": {"rows": [], "by_column": {"a": [1], "b": [2]}, "by_id": {"1": 2, "2": "x"}}})
    orch("run", "shape.yaml").assert_success()
    recipe({"t.a_v1": {"mean": 2.5, "n": 4}, "t.b_v1": [1.5], "t.c_v1": 2.5,
            "t.shared_v1": {"rows": [{"line": 3}], "by_column": {"c": [1.5]}, "by_id": {"7": 3}}})
    orch("run", "shape.yaml").assert_success()
    assert "every recorded key kept its shape" in orch("steps", "check").assert_success().err
    recipe({"t.a_v1": [2.5, 4], "t.b_v1": ["a"], "t.c_v1": 3})
    orch("run", "shape.yaml").assert_success()
    checked = orch("steps", "check")
    assert checked.exit_code == 0
    assert "key 't.a_v1' changed shape" in checked.err and "{mean:number,n:number}" in checked.err
    assert "-> [number]; a new shape must be a new key, such as 't.a_v2'" in checked.err
    changes = json.loads(orch("steps", "check", "--json").out)
    assert {(c["key"], c["before"], c["after"], c["step"]) for c in changes} == {
        ("t.a_v1", "{mean:number,n:number}", "[number]", "w"), ("t.b_v1", "[number]", "[string]", "w")}
    assert orch("steps", "check", "--strict").exit_code == 1
    assert orch("steps", "check", "--recipe", "other").assert_success().exit_code == 0


GATED_STEPS = """
import os
import time

from orchestrator_core import BaseScriptlet


class GatedWrite(BaseScriptlet):
    '''Waits until the file ``gate`` exists (at most a minute), then writes ``t.b_v1``.'''

    outputs = ("t.b_v1",)

    def run(self, ctx, params):
        end = time.monotonic() + 60
        while not os.path.exists(params["gate"]) and time.monotonic() < end:
            time.sleep(0.01)
        ctx.set("t.b_v1", 2)
"""


def test_a_reader_closing_stdout_does_not_cut_the_run_short(orch, tmp_path, sample_pack_path):
    gate = tmp_path / "closed"  # step two waits for it: its line comes once the reader is gone, however slow
    (tmp_path / "gated_steps.py").write_text(GATED_STEPS)
    (tmp_path / "slow.yaml").write_text(
        "name: slow\nsteps:\n"
        "  - {name: one, uses: write_keys, params: {values: {t.a_v1: 1}}}\n"
        f"  - {{name: two, module: gated_steps, function: GatedWrite, params: {{gate: '{gate}'}}}}\n"
        "  - {name: three, uses: sum_keys, params: {keys: [t.a_v1, t.b_v1]}}\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(sample_pack_path), str(tmp_path)]))
    proc = subprocess.Popen([orch_executable(), "run", "slow.yaml"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        proc.stdout.close()  # as `orch run slow.yaml | head -1` does
        gate.touch()
        err = proc.stderr.read()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads(first)["step"] == "one"
    assert proc.returncode == 0, err
    assert "stdout was closed by its reader" in err and "Traceback" not in err
    (run,) = json.loads(orch("runs", "list", "--json").assert_success().out)
    assert run["status"] == "ok"
