"""Fixtures of the reporting tests: real runs recorded by the real ``orch`` command.

A small third-party pack (on ``PYTHONPATH``, with its distribution metadata) gives
the steps: ``put`` writes the keys its params give, ``boom`` fails with details.
The pack also implements ``orch_report`` itself, as any plugin may, so the tests
see that ``orch report`` goes through the hook. Three runs are recorded once per
session in one working directory: ``first`` and ``second`` of one recipe with
different metrics (the recipe file is edited in between), and ``failed``.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator_core.testing import CliOutcome, orch_executable

PACK = "orch_report_testpack"

PLUGIN = '''
"""Steps that write what they are told, fail, or wait; and a report of its own."""

import time
from pathlib import Path

from orchestrator_core import BaseScriptlet, ScriptletError, hookimpl


class Put(BaseScriptlet):
    """Write the keys of params ``values``."""

    name = "put"
    outputs = None  # it writes whatever keys its params name: conflicts are caught while running

    def run(self, ctx, params):
        for key, value in params.get("values", {}).items():
            ctx.set(key, value)


class Boom(BaseScriptlet):
    """Fail with the reason and details of params."""

    name = "boom"

    def run(self, ctx, params):
        raise ScriptletError(params["reason"], details=params.get("details", {}), exit_code=3)


class Wait(BaseScriptlet):
    """Say it started (writes the file params ``started``), then wait while the file params ``gate`` exists."""

    name = "wait"

    def run(self, ctx, params):
        Path(params["started"]).write_text("started")
        while Path(params["gate"]).exists():
            time.sleep(0.05)


@hookimpl
def orch_register_scriptlets():
    return [Put, Boom, Wait]


@hookimpl
def orch_report(run, out_dir):
    path = Path(out_dir) / "extra.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{run.id} {run.recipe.name} {len(run.results)} results\\n")
    return [str(path)]
'''

DEMO = """\
name: report_demo
description: A small fan-in that writes metrics
steps:
  - name: load
    uses: put
    params: {{values: {{data.note_v1: "a | b"}}}}
  - name: left
    uses: put
    depends_on: [load]
    parallelizable: true
    params: {{values: {{metrics.mean_v1: {mean}}}}}
  - name: right
    uses: put
    depends_on: [load]
    parallelizable: true
    params: {{values: {{metrics.summary_v1: {{count: 4, mean: {mean}, std: 1.25}}, metrics.label_v1: {label}}}}}
  - name: total
    uses: put
    depends_on: [left, right]
    cache_key: total
    params: {{values: {{metrics.count_v1: 4}}}}
"""

FAILING = """\
name: report_failing
steps:
  - name: load
    uses: put
    params: {values: {metrics.mean_v1: 1.0}}
  - name: explode
    uses: boom
    params: {reason: "Too few numbers (min=5)", details: {count: 3, seen: [1, 2, 3]}}
  - name: after
    uses: put
    params: {values: {metrics.count_v1: 1}}
"""


@dataclass
class Recorded:
    """The working directory of the recorded runs, their ids, and a way to run ``orch`` there."""

    workdir: Path
    pack: Path
    first: str
    second: str
    failed: str

    def env(self) -> dict[str, str]:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(self.pack),
                                                                        os.environ.get("PYTHONPATH")])))
        env.pop("ORCH_LOG_LEVEL", None)
        env.pop("ORCH_STATE_DIR", None)
        env.pop("ORCH_DATA_DIR", None)
        return env

    def orch(self, *args: str, cwd: Path | None = None, timeout: float = 60) -> CliOutcome:
        where = cwd or self.workdir
        proc = subprocess.run([orch_executable(), *args], cwd=where, env=self.env(), capture_output=True, text=True,
                              timeout=timeout)
        return CliOutcome(list(args), proc.returncode, proc.stdout, proc.stderr, where)

    def popen(self, *args: str, cwd: Path) -> subprocess.Popen:
        """``orch`` started in a session of its own (the caller stops it: ``os.killpg``)."""
        return subprocess.Popen([orch_executable(), *args], cwd=cwd, env=self.env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    def latest_id(self) -> str:
        return json.loads(self.orch("runs", "list", "--limit", "1", "--json").assert_success().out)[0]["id"]


def make_pack(root: Path) -> Path:
    package = root / PACK
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    dist = root / f"{PACK}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACK.replace('_', '-')}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[orchestrator]\nreporttest = {PACK}\n")
    return root


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    """Three runs recorded by ``orch run``: two of ``report_demo`` (means 2.5 then 4), one that fails."""
    pack = make_pack(tmp_path_factory.mktemp("pack"))
    workdir = tmp_path_factory.mktemp("runs")
    state = Recorded(workdir, pack, "", "", "")
    ids = []
    for mean, label in ((2.5, "before"), (4, "after")):
        (workdir / "demo.yaml").write_text(DEMO.format(mean=mean, label=label))
        state.orch("run", "demo.yaml", "--no-progress").assert_success()
        ids.append(state.latest_id())
    (workdir / "failing.yaml").write_text(FAILING)
    failed = state.orch("run", "failing.yaml", "--no-progress")
    assert failed.exit_code == 1, failed.err
    state.first, state.second, state.failed = ids[0], ids[1], state.latest_id()
    assert len({state.first, state.second, state.failed}) == 3
    return state


# Text a user might put in a recipe or a context, each character of which a report must show
# as text: markup, Markdown punctuation, line breaks, a name too long for any table cell.
HOSTILE_DESCRIPTION = ("<img src=x onerror=alert(1)> | pipe\n# not a heading\n```\n*bold* _it_ `tick` "
                       "[link](http://example.com) <script>alert(2)</script> &amp; \\*")
LONG_NAME = "step_" + "A" * 300
HOSTILE_STEPS = ["put|<img/src=x/onerror=alert(3)>", LONG_NAME, "explode_*now*", "never_<b>run</b>"]
HOSTILE_KEY = "metrics.<script>alert(4)</script>"
HOSTILE_VALUE = "<img src=x onerror=alert(5)>|`x` ``y``\nnext line"
HOSTILE_REASON = "<script>alert(6)</script> | broke\nsecond line"
LONG_KEY = "key_" + "K" * 300
BIG_INT = 10 ** 400 + 1
HOSTILE_METRICS = {"metrics.big_int": BIG_INT, "metrics.tiny": 5e-324, "metrics.small": 1e-7,
                   "metrics.big": 1.2345678901234567e19, "metrics.huge": 1e308, HOSTILE_KEY: HOSTILE_VALUE}

HOSTILE = {
    "name": "hostile_<b>recipe</b>",
    "description": HOSTILE_DESCRIPTION,
    "steps": [
        {"name": HOSTILE_STEPS[0], "uses": "put", "params": {"values": HOSTILE_METRICS}},
        {"name": HOSTILE_STEPS[1], "uses": "put", "params": {"values": {LONG_KEY: "v" * 300}}},
        {"name": HOSTILE_STEPS[2], "uses": "boom",
         "params": {"reason": HOSTILE_REASON, "details": {"x": "</pre><script>alert(7)</script>"}}},
        {"name": HOSTILE_STEPS[3], "uses": "put", "params": {"values": {"metrics.never": 1}}},
    ],
}


@dataclass
class HostileReport:
    """The md and html reports of a run whose recipe, steps and context hold hostile text."""

    recipe: dict
    run_id: str
    md: Path
    html: Path


@pytest.fixture(scope="session")
def hostile(recorded: Recorded, tmp_path_factory: pytest.TempPathFactory) -> HostileReport:
    """A run of :data:`HOSTILE` recorded by ``orch run`` (its third step fails), and its reports."""
    workdir = tmp_path_factory.mktemp("hostile")
    (workdir / "hostile.yaml").write_text(json.dumps(HOSTILE, indent=1))  # JSON is YAML: no quoting to get wrong
    ran = recorded.orch("run", "hostile.yaml", "--no-progress", cwd=workdir)
    assert ran.exit_code == 1, ran.err
    listed = recorded.orch("runs", "list", "--limit", "1", "--json", cwd=workdir).assert_success()
    run_id = json.loads(listed.out)[0]["id"]
    out = workdir / "out"
    recorded.orch("report", "--format", "md", "--format", "html", "--out", str(out), cwd=workdir).assert_success()
    return HostileReport(HOSTILE, run_id, out / "report.md", out / "report.html")


@pytest.fixture
def demo_recipe(tmp_path: Path) -> Path:
    """The demo recipe written to ``tmp_path/demo.yaml`` (for commands that do not run it)."""
    path = tmp_path / "demo.yaml"
    path.write_text(DEMO.format(mean=1, label="x"))
    return path
