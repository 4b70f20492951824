"""``orch run RECIPE`` in its plain forms runs without click, and nothing a user sees changes.

Each command line runs twice in real ``orch`` processes: in its plain form
(``orch run RECIPE ...``, read by :mod:`orchestrator_core.cli.plain_run`) and with the
recipe given as ``--recipe RECIPE``, an option only click reads. Both must print the same
JSON lines and stderr and end with the same exit status, and the modules each process
imported show which path read it. In process, both readers turn a table of command lines
into the same run request (``Config`` included), so they cannot drift apart.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator_core import hookimpl
from orchestrator_core.cli import _click_main, build_cli, running
from orchestrator_core.cli.holder import SessionHolder
from orchestrator_core.cli.plain_run import (
    _OWN_NAMES, CLICK_ENV, RUN_COMMAND_FLAGS, TAKES_VALUE, plain_request, plain_run, read_plain_args,
)
from orchestrator_core.plugin.interfaces import RunOption
from orchestrator_core.plugin.manager import create_plugin_manager
from orchestrator_core.testing.interpreter import interpreter_modules

# ``main`` in a subprocess, as the ``orch`` script runs it, listing the modules it imported on the way out.
MAIN_LISTING_MODULES = """
import atexit, json, sys
out = sys.argv[1]
atexit.register(lambda: json.dump(sorted(sys.modules), open(out, "w")))
sys.argv = ["orch", *sys.argv[2:]]
from orchestrator_core.cli import main
main()
"""

STEPS = '''
import os, time
from orchestrator_core import BaseScriptlet

class Ok(BaseScriptlet):
    name = "plain_ok"
    outputs = ("answer_v1",)
    def run(self, ctx, params):
        print("a print goes to stderr")
        ctx.set("answer_v1", 42)

class Boom(BaseScriptlet):
    name = "plain_boom"
    outputs = ()
    def run(self, ctx, params):
        raise RuntimeError("boom")

class Hang(BaseScriptlet):
    name = "plain_hang"
    outputs = ()
    def run(self, ctx, params):
        with open("hang.pid", "w") as out:
            out.write(str(os.getpid()))
        while True:
            time.sleep(0.05)
'''

RECIPES = {
    "ok.yaml": """
        name: ok
        steps:
          - {name: first, type: python, module: plain_steps, function: Ok}
          - {name: second, type: python, module: plain_steps, function: Ok, depends_on: [first], cache: true}
    """,
    "fails.yaml": """
        name: fails
        steps:
          - {name: good, type: python, module: plain_steps, function: Ok}
          - {name: bad, type: python, module: plain_steps, function: Boom, depends_on: [good]}
    """,
    "malformed.yaml": """
        name: malformed
        steps:
          - name: a
            type: python
            module: plain_steps
            function: Ok
            depends_on: [nowhere]
    """,
    "hangs.yaml": """
        name: hangs
        steps:
          - {name: hang, type: python, module: plain_steps, function: Hang}
    """,
}


def project(root: Path) -> Path:
    root.mkdir()
    (root / "plain_steps.py").write_text(STEPS)
    for name, text in RECIPES.items():
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


def environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"ORCH_LOG_LEVEL", *CLICK_ENV}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    return env


def start(root: Path, args: list[str]) -> subprocess.Popen:
    """``orch ARGS`` (through ``main``, as the script runs it) in ``root``."""
    return subprocess.Popen([sys.executable, "-c", MAIN_LISTING_MODULES, str(root / "modules.json"), *args],
                            cwd=root, env=environment(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def finish(root: Path, proc: subprocess.Popen) -> dict:
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return {"exit": proc.returncode, "lines": [_comparable(line.replace(str(root), "ROOT")) for line in out.splitlines()],
            "err": _comparable_text(err.replace(str(root), "ROOT")), "click": "click" in json.loads((root / "modules.json").read_text())}


def _comparable_text(text: str) -> str:
    """stderr without run ids and durations (the progress lines show them)."""
    text = re.sub(r"\b\d{8}T\d{6}-[0-9a-f]+\b", "RUN-ID", text)
    return re.sub(r"\b\d+(\.\d+)? ms\b", "N ms", text)


def _comparable(line: str) -> object:
    """A JSON line without when it ran and for how long (they differ from run to run); other text as it is."""
    try:
        document = json.loads(line)
    except ValueError:
        return line
    document.pop("ts", None)
    document.pop("metrics", None)
    return document


def both(tmp_path: Path, recipe: str, options: list[str]) -> tuple[dict, dict]:
    """``orch run RECIPE OPTIONS`` (plain form) and ``orch run --recipe RECIPE OPTIONS`` (click), each in a fresh project."""
    plain_root, click_root = project(tmp_path / "plain"), project(tmp_path / "click")
    plain = finish(plain_root, start(plain_root, ["run", recipe, *options]))
    clicked = finish(click_root, start(click_root, ["run", "--recipe", recipe, *options]))
    return plain, clicked


@pytest.mark.parametrize("options", [["--no-progress"], ["--no-progress", "--process-workers", "2"]],
                         ids=["plain", "plugin-option"])
def test_a_plain_run_imports_no_click(tmp_path: Path, options: list[str]):
    root = project(tmp_path / "p")
    done = finish(root, start(root, ["run", "ok.yaml", *options]))
    assert done["exit"] == 0, done["err"]
    loaded = set(json.loads((root / "modules.json").read_text()))
    assert "orchestrator_core.run.engine" in loaded  # it did run
    added = loaded - interpreter_modules(environment(root))
    assert not {m for m in added if m == "click" or m.startswith("click.")}
    assert "uuid" not in added and "gettext" not in added  # what click pulls in


@pytest.mark.parametrize("recipe, options, status", [
    pytest.param("ok.yaml", ["--no-progress"], 0, id="ok"),
    pytest.param("ok.yaml", ["--no-progress", "--workers", "2", "--executor", "thread", "--only", "first", "second",
                             "--no-cache", "--keep-going"], 0, id="ok-with-options"),
    pytest.param("fails.yaml", ["--no-progress"], 1, id="failing-step"),
    pytest.param("fails.yaml", ["--progress"], 1, id="failing-step-progress"),
    pytest.param("malformed.yaml", ["--no-progress"], 2, id="malformed-recipe"),
    pytest.param("missing.yaml", ["--no-progress"], 2, id="missing-recipe"),
    pytest.param("ok.yaml", ["--no-progress", "--executor", "nowhere"], 2, id="unknown-executor"),
    pytest.param("ok.yaml", ["--no-progress", "--only", "nope"], 2, id="unknown-step"),
    pytest.param("ok.yaml", ["--no-progress", "--executor", "process", "--process-workers", "2"], 0,
                 id="process-workers"),
])
def test_the_plain_path_ends_as_the_click_path_does(tmp_path: Path, recipe: str, options: list[str], status: int):
    plain, clicked = both(tmp_path, recipe, options)
    assert (plain["click"], clicked["click"]) == (False, True)  # each path was the one meant
    assert plain["exit"] == clicked["exit"] == status, plain["err"]
    assert plain["lines"] == clicked["lines"]
    assert plain["err"] == clicked["err"]
    if recipe == "malformed.yaml":
        assert "orch: error: malformed.yaml:7: step 'a' depends on unknown step 'nowhere'" in plain["err"]
    if status == 0:
        assert [line["status"] for line in plain["lines"]] == ["ok", "ok"]


@pytest.mark.parametrize("options, shown", [
    pytest.param(["--workers", "0"], "Invalid value for '--workers': 0 is not in the range 1<=x<=4096.", id="workers-0"),
    pytest.param(["--workers", "x"], "'x' is not a valid integer range", id="workers-x"),
    pytest.param(["--help"], "Usage: orch run [OPTIONS] RECIPE", id="help"),
    pytest.param(["--process-workers", "+2", "--no-progress"], "", id="plugin-option-signed"),
    pytest.param(["--set", "a=1", "--no-progress"], "", id="set"),
])
def test_what_the_plain_path_does_not_read_goes_to_click_unchanged(tmp_path: Path, options: list[str], shown: str):
    plain, clicked = both(tmp_path, "ok.yaml", options)
    assert plain["click"] and clicked["click"]
    assert (plain["exit"], plain["lines"], plain["err"]) == (clicked["exit"], clicked["lines"], clicked["err"])
    assert shown in plain["err"] + "\n".join(map(str, plain["lines"]))


def test_a_bad_log_level_in_the_environment_is_clicks_message(tmp_path: Path):
    root = project(tmp_path / "p")
    env = {**environment(root), "ORCH_LOG_LEVEL": "LOUD"}
    proc = subprocess.run([sys.executable, "-c", MAIN_LISTING_MODULES, str(root / "m.json"), "run", "ok.yaml",
                           "--no-progress"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Error: Invalid value for --log-level: unknown log level 'LOUD'" in proc.stderr
    assert "click" in json.loads((root / "m.json").read_text())
    assert not (root / ".orch").exists()  # nothing ran


def test_sigint_ends_a_plain_run_as_it_ends_a_click_run(tmp_path: Path, procs):
    """Ctrl-C (SIGINT to orch alone) in the middle of a step: the run ends ``interrupted``, exit status 130."""
    ended = []
    for name, args in [("plain", ["run", "hangs.yaml", "--no-progress"]),
                       ("click", ["run", "--recipe", "hangs.yaml", "--no-progress"])]:
        root = project(tmp_path / name)
        proc = start(root, args)
        try:
            [pid] = procs.pids(root / "hang.pid", 1, timeout=60)
            assert pid == proc.pid  # an inline step, in orch's own process
            proc.send_signal(signal.SIGINT)
        finally:
            ended.append(finish(root, proc))
    plain, clicked = ended
    assert (plain["click"], clicked["click"]) == (False, True)
    assert plain["exit"] == clicked["exit"] == 130
    assert plain["lines"] == clicked["lines"]
    assert plain["err"] == clicked["err"]
    assert plain["err"].splitlines()[-1] == "orch: error: run interrupted"


# ---------------------------------------------------------------------------------------------
# in process: both readers, one request
# ---------------------------------------------------------------------------------------------

def click_request(holder: SessionHolder, args: list[str]):
    """The request click's ``run`` command makes of ``orch ARGS`` (parsed, not run)."""
    cli = build_cli(holder.pm, holder)
    ctx = cli.make_context("orch", list(args), obj=holder)
    command = cli.get_command(ctx, args[0])
    sub = command.make_context(args[0], list(args[1:]), parent=ctx)
    return running.run_request(sub.params)


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("ORCH_LOG_LEVEL", *CLICK_ENV, "ORCH_PROCESS_WORKERS", "ORCH_DASK_SCHEDULER"):
        monkeypatch.delenv(name, raising=False)


PLAIN_TABLE = [
    ["run", "r.yaml"],
    ["run", "r.yaml", "--no-progress"],
    ["run", "r.yaml", "--progress"],
    ["run", "--no-progress", "r.yaml", "--progress", "--no-progress"],
    ["run", "r.yaml", "--no-cache", "--keep-going", "--keep-going"],
    ["run", "r.yaml", "--workers", "3"],
    ["run", "r.yaml", "--workers=4096"],
    ["run", "r.yaml", "--workers", "007"],
    ["run", "r.yaml", "--workers", "2", "--workers", "5"],
    ["run", "r.yaml", "--executor", "process"],
    ["run", "r.yaml", "--executor=thread", "--executor", "inline"],
    ["run", "r.yaml", "--only", "a", "b", "c"],
    ["run", "--only", "a", "b", "r.yaml"],
    ["run", "--only", "a", "b", "--no-progress"],
    ["run", "r.yaml", "--only", "a,b", "--only=c", "--skip", "d", "e"],
    ["run", "--skip", "x", "--only", "y", "r.yaml", "--workers", "1"],
    ["run", "dir/r.yaml", "--no-progress", "--workers", "1"],
    ["run", "r.yaml", "--process-workers", "2"],
    ["run", "--process-workers=3", "r.yaml", "--workers", "2"],
    ["run", "r.yaml", "--process-workers", "2", "--process-workers", "007"],
    ["run", "r.yaml", "--serve", "--port", "8123"],
    ["run", "r.yaml", "--serve", "--serve", "--port=0"],
    ["run", "--only", "a", "--process-workers", "2", "r.yaml"],
]

CLICK_TABLE = [
    [], ["--version"], ["runs", "list"], ["validate", "r.yaml"], ["--log-level", "DEBUG", "run", "r.yaml"],
    ["-p", "no:server", "run", "r.yaml"], ["run"], ["run", "a.yaml", "b.yaml"], ["run", "--no-progress"],
    ["run", "r.yaml", "--help"], ["run", "r.yaml", "-h"], ["run", "r.yaml", "--recipe", "r.yaml"],
    ["run", "r.yaml", "--workers", "0"], ["run", "r.yaml", "--workers", "4097"], ["run", "r.yaml", "--workers", "x"],
    ["run", "r.yaml", "--workers", " 3"], ["run", "r.yaml", "--workers", "+3"], ["run", "r.yaml", "--workers", "1_0"],
    ["run", "r.yaml", "--workers"], ["run", "r.yaml", "--executor"], ["run", "r.yaml", "--executor", ""],
    ["run", "r.yaml", "--executor", "-x"], ["run", "r.yaml", "--only"], ["run", "r.yaml", "--only="],
    ["run", "r.yaml", "--set", "a=1"], ["run", "r.yaml", "--events", "e.jsonl"], ["run", "r.yaml", "--dry-run"],
    ["run", "r.yaml", "--data-dir", "d"], ["run", "r.yaml", "--state-dir", "s"], ["run", "r.yaml", "--resume-from", "a"],
    ["run", "r.yaml", "--process-workers", "+2"], ["run", "r.yaml", "--process-workers", " 2"],
    ["run", "r.yaml", "--process-workers", "1_0"], ["run", "r.yaml", "--process-workers", "2.0"],
    ["run", "r.yaml", "--process-workers", "-1"], ["run", "r.yaml", "--process-workers", ""],
    ["run", "r.yaml", "--process-workers"], ["run", "r.yaml", "--serve=1"], ["run", "r.yaml", "--port", "\uff11"],
    ["run", "r.yaml", "--no-progress=1"], ["run", "r.yaml", "--"], ["run", "-", "--no-progress"],
    ["run", "r.yaml", "--traceback"], ["run", "r.yaml", "--keep"], ["run", ""], ["run", "", "--no-progress"],
    ["run", "r.yaml", "--workers", "99999999999999999999"], ["run", "r.yaml", "--workers", "\uff14"],
]


@pytest.mark.parametrize("args", PLAIN_TABLE, ids=" ".join)
def test_both_readers_make_the_same_request(args: list[str], clean_env):
    holder = SessionHolder(create_plugin_manager())
    plain = plain_request(args, holder)
    assert plain is not None
    assert plain == click_request(holder, args)
    if not any(arg.startswith(("--process-workers", "--serve", "--port")) for arg in args):
        assert plain.config.options == {"serve": False, "serve_port": 0}  # the server plugin's defaults, as click fills them


@pytest.mark.parametrize("args", CLICK_TABLE, ids=" ".join)
def test_the_plain_reader_leaves_the_rest_to_click(args: list[str], clean_env):
    assert plain_request(args, SessionHolder(create_plugin_manager())) is None


@pytest.mark.parametrize("variable", [*CLICK_ENV, "ORCH_PROCESS_WORKERS"])
def test_an_environment_variable_click_reads_leaves_the_run_to_click(variable: str, clean_env, monkeypatch):
    assert plain_request(["run", "r.yaml"], SessionHolder(create_plugin_manager())) is not None
    monkeypatch.setenv(variable, "2")
    assert plain_request(["run", "r.yaml"], SessionHolder(create_plugin_manager())) is None


class DeclaresOptions:
    """A plugin with run options of every kind of default."""

    run_options = (
        RunOption("--loud", "loud", "a flag off", is_flag=True, default=False),
        RunOption("--quiet-too", "quiet_too", "a flag on", is_flag=True, default=True),
        RunOption("--level", "level", "an int", type=int, default=3),
        RunOption("--ratio", "ratio", "a float", type=float, default=0.5),
        RunOption("--label", "label", "a string", default="x"),
        RunOption("--nothing", "nothing", "no default", type=int),
    )


def test_plugin_options_keep_the_defaults_click_gives_them(clean_env):
    pm = create_plugin_manager()
    pm.register(DeclaresOptions(), "declares")
    holder = SessionHolder(pm)
    plain = plain_request(["run", "r.yaml"], holder)
    assert plain == click_request(holder, ["run", "r.yaml"])
    assert plain.config.options == {"serve": False, "serve_port": 0, "loud": False, "quiet_too": True, "level": 3,
                                    "ratio": 0.5, "label": "x"}


class ConvertedDefault:
    run_options = (RunOption("--count", "count", "a default click converts", type=int, default="4"),)


def test_a_default_click_would_convert_leaves_the_run_to_click(clean_env):
    pm = create_plugin_manager()
    pm.register(ConvertedDefault(), "converted")
    holder = SessionHolder(pm)
    assert plain_request(["run", "r.yaml"], holder) is None
    assert click_request(holder, ["run", "r.yaml"]).config.options["count"] == 4


class AddsCommands:
    @hookimpl
    def orch_add_commands(self, cli):
        pass


def test_a_plugin_that_adds_commands_leaves_the_run_to_click(clean_env):
    """Its command could be ``run`` itself."""
    pm = create_plugin_manager()
    assert plain_request(["run", "r.yaml"], SessionHolder(pm)) is not None
    pm.register(AddsCommands(), "adds")
    assert plain_request(["run", "r.yaml"], SessionHolder(pm)) is None


def test_the_plain_readers_tables_are_the_run_commands():
    options = [p for p in running.run.params if p.param_type_name == "option"]
    assert RUN_COMMAND_FLAGS == {o for p in options for o in p.opts} | {"-h", "--help"}
    assert TAKES_VALUE == {o for p in options if not p.is_flag for o in p.opts}
    assert _OWN_NAMES == {p.name for p in running.run.params}
    assert read_plain_args(["run", "r.yaml", "--no-progress"])["progress"] is False


@pytest.fixture
def root_logger_kept():
    """The root logger as it was (both paths configure logging before they read the plugins' options)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_ctrl_c_before_the_run_ends_both_paths_as_clicks_abort(clean_env, monkeypatch, capsys, root_logger_kept):
    """A ``KeyboardInterrupt`` before the signal handlers are in place (here: while the plugins are asked)."""
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(SessionHolder, "registry", interrupted)
    pm = create_plugin_manager()
    assert plain_run(["run", "r.yaml", "--no-progress"], SessionHolder(pm)) == 130
    plain_err = capsys.readouterr().err
    assert _click_main(["run", "--recipe", "r.yaml", "--no-progress"], SessionHolder(pm), False) == 130
    assert capsys.readouterr().err == plain_err == "\norch: aborted\n"
