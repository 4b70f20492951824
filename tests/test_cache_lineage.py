"""A cached step's fingerprint covers everything written upstream of it, and what the run started with.

A step may read what any step before it wrote, not only its direct dependencies, and
what the recipe's ``context:`` or ``--set`` gave the run: a change in any of these is a
miss, so a hit never returns an answer computed from other values.
"""

from __future__ import annotations

import json
import textwrap

from orchestrator_core.run.fingerprint import EMPTY_DIGEST, Lineage, changes, digest

STEPS = textwrap.dedent('''
    from pathlib import Path

    from orchestrator_core import BaseScriptlet


    class Read(BaseScriptlet):
        name = "lineage_read"

        def run(self, ctx, params):
            ctx.set("data.text", Path("in.txt").read_text())


    class Length(BaseScriptlet):
        name = "lineage_length"

        def run(self, ctx, params):
            ctx.set("data.len", len(ctx.get("data.text")))


    class Upper(BaseScriptlet):
        name = "lineage_upper"

        def run(self, ctx, params):
            ctx.set("data.upper", ctx.get("data.text").upper() + ctx.get("suffix", ""))
''')

# c depends on b only, and reads what a wrote: b's output stays the same when in.txt keeps its length.
RECIPE = textwrap.dedent('''
    name: lineage
    steps:
      - {name: a, type: python, module: lineage_steps, function: Read, cache: true, files: [in.txt]}
      - {name: b, type: python, module: lineage_steps, function: Length, cache: true, depends_on: [a]}
      - {name: c, type: python, module: lineage_steps, function: Upper, cache: true, depends_on: [b]}
''')


def _project(tmp_path, orch_cli):
    (tmp_path / "lineage_steps.py").write_text(STEPS)
    (tmp_path / "lineage.yaml").write_text(RECIPE)

    def run(*args):
        outcome = orch_cli("run", "lineage.yaml", "--no-progress", *args, pythonpath=[tmp_path]).assert_success()
        return {line["step"]: line.get("cache") for line in outcome.lines}

    def value(key):
        return json.loads(orch_cli("context", "show", key, pythonpath=[tmp_path]).assert_success().out)

    return run, value


def test_a_change_two_steps_upstream_is_a_miss_though_the_step_between_wrote_the_same(tmp_path, orch_cli):
    run, value = _project(tmp_path, orch_cli)
    (tmp_path / "in.txt").write_text("hello")
    assert run() == {"a": "miss", "b": "miss", "c": "miss"}
    assert run() == {"a": "hit", "b": "hit", "c": "hit"}
    (tmp_path / "in.txt").write_text("world")  # the same length: b runs again and writes what it wrote before
    assert run() == {"a": "miss", "b": "miss", "c": "miss"}
    assert value("data.upper") == "WORLD"
    why = json.loads(orch_cli("why", "lineage.yaml", "c", "--json", pythonpath=[tmp_path]).out)
    assert why["would"] == "hit"


def test_orch_why_names_the_dependency_through_which_an_earlier_change_came(tmp_path, orch_cli):
    run, _ = _project(tmp_path, orch_cli)
    (tmp_path / "in.txt").write_text("hello")
    run()
    (tmp_path / "in.txt").write_text("world")
    orch_cli("run", "lineage.yaml", "--only", "a", "b", pythonpath=[tmp_path]).assert_success()
    why = json.loads(orch_cli("why", "lineage.yaml", "c", "--json", pythonpath=[tmp_path]).assert_success().out)
    assert why["would"] == "run" and why["changed"] == ["upstream:b"]
    assert why["reason"] == "output of upstream step 'b' or of a step before it changed"


def test_the_values_a_run_starts_with_are_part_of_the_fingerprint(tmp_path, orch_cli):
    run, value = _project(tmp_path, orch_cli)
    (tmp_path / "in.txt").write_text("hello")
    assert run("--set", "suffix=!") == {"a": "miss", "b": "miss", "c": "miss"}
    assert run("--set", "suffix=!") == {"a": "hit", "b": "hit", "c": "hit"}
    assert run("--set", "suffix=?") == {"a": "miss", "b": "miss", "c": "miss"}
    assert value("data.upper") == "HELLO?"
    plan = json.loads(orch_cli("run", "lineage.yaml", "--dry-run", "--json", "--set", "suffix=#",
                               pythonpath=[tmp_path]).assert_success().out)
    assert [entry["would"] for entry in plan] == ["run", "run", "run"]
    assert all(entry["changed"] == ["context"] and "--set" in entry["reason"] for entry in plan)


def test_lineage_covers_every_step_before_and_a_long_chain_does_not_recurse():
    steps = 20_000
    depends_on = {f"s{i}": [f"s{i - 1}"] if i else [] for i in range(steps)}
    outputs = {name: {"k": 1} for name in depends_on}
    last = f"s{steps - 1}"
    before = Lineage(depends_on, outputs.get).of(last)
    outputs["s0"] = {"k": 2}  # the first step of the chain wrote something else
    assert Lineage(depends_on, outputs.get).of(last) != before
    # a step with no dependencies keeps the digest of its outputs alone
    assert Lineage(depends_on, outputs.get).of("s0") == digest({"k": 2})
    assert Lineage({"x": []}, lambda name: None).of("x") == EMPTY_DIGEST


def test_changes_says_whether_a_dependency_part_covers_the_steps_before_it():
    old = {"upstream": {"a": "1", "b": "2"}}
    new = {"upstream": {"a": "3", "b": "4"}}
    found = dict(changes(old, new, {"a": [], "b": ["a"]}))
    assert found["upstream:a"] == "output of upstream step 'a' changed"
    assert found["upstream:b"] == "output of upstream step 'b' or of a step before it changed"


def test_a_process_that_runs_again_after_an_edit_fingerprints_the_code_it_runs(tmp_path, monkeypatch):
    """In one process the imported module keeps running after its file is edited: its results
    must not be stored under the edited source's fingerprint, or a new process would be a hit
    with the old code's answer."""
    import io
    import sys

    from orchestrator_core.config import Config
    from orchestrator_core.run.session import Session

    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = tmp_path / "pinned_steps.py"
    module.write_text(textwrap.dedent('''
        from orchestrator_core import BaseScriptlet

        class Version(BaseScriptlet):
            name = "pinned_version"

            def run(self, ctx, params):
                ctx.set("ver", 1)
    '''))
    (tmp_path / "pinned.yaml").write_text(
        "name: pinned\nsteps:\n  - {name: v, type: python, module: pinned_steps, function: Version, cache: true}\n")

    def run():
        session = Session(Config(workdir=tmp_path, progress=False, stdout=io.StringIO()))
        result = session.run("pinned.yaml")
        return result.steps["v"].cache, result.context["ver"]

    try:
        assert run() == ("miss", 1)
        module.write_text(module.read_text().replace('ctx.set("ver", 1)', 'ctx.set("ver", 2)'))
        assert run() == ("hit", 1)  # the code that runs is still the imported one, and so is its key
    finally:
        sys.modules.pop("pinned_steps", None)
    assert run() == ("miss", 2)  # imported again: the edited code, under its own key


ARTIFACT_STEPS = textwrap.dedent('''
    import shutil
    from pathlib import Path

    from orchestrator_core import BaseScriptlet


    class Copy(BaseScriptlet):
        name = "artifact_copy"

        def run(self, ctx, params):
            shutil.copy("src.txt", "a_out.txt")
            ctx.set("a.done", True)
            return {"artifact": "a_out.txt"}


    class Same(BaseScriptlet):
        name = "artifact_same"

        def run(self, ctx, params):
            ctx.set("b.v", 1)


    class ReadArtifact(BaseScriptlet):
        name = "artifact_read"

        def run(self, ctx, params):
            ctx.set("c.v", Path("a_out.txt").read_text().strip())
''')


def test_an_artifact_two_steps_upstream_is_part_of_the_fingerprint(tmp_path, orch_cli):
    """``c`` reads the file ``a`` reported as its artifact; ``b`` between them writes what it always
    writes. A new ``a_out.txt`` must still make ``c`` run (it was a stale hit)."""
    (tmp_path / "artifact_steps.py").write_text(ARTIFACT_STEPS)
    (tmp_path / "r.yaml").write_text(textwrap.dedent('''
        steps:
          - {name: a, type: python, module: artifact_steps, function: Copy, cache: true, files: [src.txt]}
          - {name: b, type: python, module: artifact_steps, function: Same, cache: true, depends_on: [a]}
          - {name: c, type: python, module: artifact_steps, function: ReadArtifact, cache: true, depends_on: [b]}
    '''))

    def run():
        outcome = orch_cli("run", "r.yaml", "--no-progress", pythonpath=[tmp_path]).assert_success()
        return {line["step"]: line.get("cache") for line in outcome.lines}

    (tmp_path / "src.txt").write_text("one\n")
    assert run() == {"a": "miss", "b": "miss", "c": "miss"}
    assert run() == {"a": "hit", "b": "hit", "c": "hit"}
    (tmp_path / "src.txt").write_text("two\n")
    assert run() == {"a": "miss", "b": "miss", "c": "miss"}
    assert json.loads(orch_cli("context", "show", "c.v", pythonpath=[tmp_path]).out) == "two"
    assert run() == {"a": "hit", "b": "hit", "c": "hit"}
    why = json.loads(orch_cli("why", "r.yaml", "c", "--json", pythonpath=[tmp_path]).out)
    assert why["would"] == "hit"


HOOKED_STEPS = textwrap.dedent('''
    from pathlib import Path

    from orchestrator_core import BaseScriptlet


    class Hooked(BaseScriptlet):
        name = "hooked"

        def run(self, ctx, params):
            ctx.set("h.v", 1)

        def on_cache_hit(self, ctx, params):
            with open("SIDE_EFFECT.txt", "a") as out:
                out.write("hit\\n")
''')


def test_a_prediction_runs_no_on_cache_hit(tmp_path, orch_cli):
    """``--dry-run`` and ``orch why`` "run nothing": the scriptlet's on_cache_hit (which may write a
    file, call a service) is not called by them, only by a run that hits; they say it would be."""
    (tmp_path / "hooked_steps.py").write_text(HOOKED_STEPS)
    (tmp_path / "r.yaml").write_text("steps:\n  - {name: s, type: python, module: hooked_steps, function: Hooked, "
                                     "cache: true}\n")
    side = tmp_path / "SIDE_EFFECT.txt"
    orch_cli("run", "r.yaml", "--no-progress", pythonpath=[tmp_path]).assert_success()
    assert not side.exists()
    dry = orch_cli("run", "r.yaml", "--dry-run", pythonpath=[tmp_path]).assert_success()
    why = json.loads(orch_cli("why", "r.yaml", "s", "--json", pythonpath=[tmp_path]).assert_success().out)
    assert not side.exists()
    assert why["would"] == "hit" and "then its on_cache_hit runs" in why["reason"]
    assert "then its on_cache_hit runs" in dry.out + dry.err
    orch_cli("run", "r.yaml", "--no-progress", pythonpath=[tmp_path]).assert_success()
    assert side.read_text() == "hit\n"


def test_changes_tells_params_python_calls_equal_apart():
    """``lim: 1`` → ``lim: true`` (or ``1.0``) changes the fingerprint: orch why must say so, not
    "fingerprint unchanged"."""
    for before, after in ((1, True), (1, 1.0), (0.0, -0.0), ([1, 0], [1, False])):
        old, new = {"params": {"lim": before}}, {"params": {"lim": after}}
        assert digest(old) != digest(new)
        found = changes(old, new)
        assert [part for part, _ in found] == ["params"], (before, after)
        assert found[0][1] == f"params changed: lim: {json.dumps(before, separators=(',', ':'))} → " \
            f"{json.dumps(after, separators=(',', ':'))}"
