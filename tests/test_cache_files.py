"""The files a cached step reads are in its fingerprint: edits, globs, missing files, artifacts,
markers, the stat fast path, and ``on_cache_hit`` — all through real ``orch`` runs.

Whether a step really ran is read from ``calls.log`` (each scriptlet here appends its step
name) as well as from the ``"cache"`` field of its JSON line.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import textwrap
import time
from pathlib import Path

import pytest

STEPS = textwrap.dedent('''
    import os
    from pathlib import Path

    from orchestrator_core import BaseScriptlet


    def called(ctx):
        with open(Path(ctx.workdir) / "calls.log", "a", encoding="utf-8") as log:
            log.write(ctx.step + "\\n")


    class ReadFile(BaseScriptlet):
        """Write the size of the file named by param ``path`` (declared through ``file_params``)."""

        outputs = ("f.size_v1",)
        file_params = ("path",)

        def run(self, ctx, params):
            called(ctx)
            ctx.set("f.size_v1", (Path(ctx.workdir) / params["path"]).stat().st_size)


    class CountFiles(BaseScriptlet):
        """Count the files of ``in/`` (the recipe declares them with ``files:``)."""

        outputs = ("f.count_v1",)

        def run(self, ctx, params):
            called(ctx)
            ctx.set("f.count_v1", len(list((Path(ctx.workdir) / "in").glob("*.csv"))))


    class ListFiles(BaseScriptlet):
        """Write the names in ``in/`` as ``os.listdir`` gives them, whatever their encoding."""

        outputs = ("f.names_v1",)

        def run(self, ctx, params):
            called(ctx)
            ctx.set("f.names_v1", sorted(os.listdir(Path(ctx.workdir) / "in")))


    class WriteArtifact(BaseScriptlet):
        """Write ``Data/a.txt`` with param ``text`` and report it as the step's artifact."""

        outputs = ("f.written_v1",)

        def run(self, ctx, params):
            called(ctx)
            path = Path(ctx.workdir) / "Data" / "a.txt"
            path.parent.mkdir(exist_ok=True)
            path.write_text(params["text"])
            ctx.set("f.written_v1", True)
            return {"artifact": "Data/a.txt"}


    class BadFiles(BaseScriptlet):
        """A scriptlet whose ``files()`` has a bug."""

        outputs = ("f.bad_v1",)

        @classmethod
        def files(cls, params, workdir, data_dir):
            raise KeyError("input")

        def run(self, ctx, params):
            called(ctx)
            ctx.set("f.bad_v1", 1)


    class ReadText(BaseScriptlet):
        """Copy the text of the file named by param ``path`` (the recipe declares it with ``files:``)."""

        outputs = ("f.read_v1",)

        def run(self, ctx, params):
            called(ctx)
            ctx.set("f.read_v1", (Path(ctx.workdir) / params["path"]).read_text())


    class UseArtifact(BaseScriptlet):
        """Copy the text of ``Data/a.txt`` into the context."""

        outputs = ("f.text_v1",)

        def run(self, ctx, params):
            called(ctx)
            ctx.set("f.text_v1", (Path(ctx.workdir) / "Data" / "a.txt").read_text())
''')


@pytest.fixture
def project(tmp_path, monkeypatch, orch_cli):
    """A working directory with the scriptlets above, and ``orch`` to run recipes there."""
    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    monkeypatch.delenv("ORCH_DATA_DIR", raising=False)
    (tmp_path / "cf_steps.py").write_text(STEPS)

    class Project:
        path = tmp_path

        def orch(self, *args, **kw):
            return orch_cli(*args, pythonpath=[tmp_path], **kw)

        def recipe(self, name, text):
            (tmp_path / name).write_text(textwrap.dedent(text))

        def run(self, recipe, *args, env=None):
            """Run ``recipe``; return {step: cache field}, the steps that really ran, the outcome."""
            before = self.calls()
            outcome = self.orch("run", recipe, "--no-progress", *args, env=env).assert_success()
            ran = self.calls()[len(before):]
            return {line["step"]: line.get("cache") for line in outcome.lines}, ran, outcome

        def why(self, recipe, step):
            return json.loads(self.orch("why", recipe, step, "--json").assert_success().out)

        def calls(self):
            log = tmp_path / "calls.log"
            return log.read_text().split() if log.exists() else []

        def context(self):
            return json.loads(self.orch("context", "show", "--json").assert_success().out)

    return Project()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def age(path: Path, seconds: float = 5) -> None:
    """Date ``path`` back, as a file written a while before the run is (not one written this instant)."""
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))
    time.sleep(0.2)  # its ctime (now) leaves the racy window too (file_digests.RACY_WINDOW_NS)


def test_editing_a_declared_file_is_a_miss_that_names_it(project):
    project.recipe("r.yaml", """
        steps:
          - {name: size, module: cf_steps, function: ReadFile, params: {path: input.txt}, cache: true}
    """)
    source = project.path / "input.txt"
    source.write_text("abc")
    assert project.run("r.yaml")[:2] == ({"size": "miss"}, ["size"])
    assert project.run("r.yaml")[:2] == ({"size": "hit"}, [])
    before = sha256(source)
    source.write_text("abcdef")
    why = project.why("r.yaml", "size")
    assert why["would"] == "run" and why["changed"] == ["file:input.txt"]
    assert why["reason"] == f"input.txt changed (sha256 {before[:4]}…→{sha256(source)[:4]}…)"
    table = project.orch("run", "r.yaml", "--dry-run").assert_success().out
    assert "input.txt changed (sha256" in table
    cache, ran, _ = project.run("r.yaml")
    assert cache == {"size": "miss"} and ran == ["size"] and project.context()["f.size_v1"] == 6


def test_touching_a_file_rereads_it_once_and_stays_a_hit_an_unchanged_file_is_not_read(project):
    project.recipe("r.yaml", """
        steps:
          - {name: size, module: cf_steps, function: ReadFile, params: {path: big.bin}, cache: true}
    """)
    big = project.path / "big.bin"
    big.write_bytes(os.urandom(1 << 20) * 8)  # 8 MiB
    age(big)

    def run():
        cache, ran, outcome = project.run("r.yaml", env={"ORCH_LOG_LEVEL": "DEBUG"})
        reads = [line for line in outcome.err.splitlines() if "hashed" in line and str(big) in line]
        return cache["size"], ran, len(reads)

    assert run() == ("miss", ["size"], 1)
    assert run() == ("hit", [], 0)  # size, mtime and ctime unchanged: the remembered digest, no read
    big.touch()
    age(big, 3)  # a new mtime (and ctime), the same content
    assert run() == ("hit", [], 1)  # read again once, found unchanged
    assert run() == ("hit", [], 0)
    # a dry run uses the same memory
    assert project.why("r.yaml", "size")["would"] == "hit"


STAMP_NS = 1_700_000_000_123_456_789  # an mtime in the past, not a whole second


def give_one_stat(*paths: Path) -> None:
    """Give ``paths`` (files of one size) one mtime and, as the kernel's clock ticks allow, one ctime."""
    for _ in range(100):
        for path in paths:
            os.utime(path, ns=(STAMP_NS, STAMP_NS))
        if len({(p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_ctime_ns) for p in paths}) == 1:
            time.sleep(0.2)  # the ctime leaves the racy window (file_digests.RACY_WINDOW_NS)
            return
    pytest.skip("this file system gave two files changed together different ctimes")


@pytest.mark.parametrize("swap", ["symlink", "folder"])
def test_a_path_that_names_another_file_with_the_same_stat_is_read_again(project, swap):
    # Size, mtime and ctime alike: only the inode tells the files apart (the step then
    # reads the new file, so a stale digest would be a hit replaying the old text).
    for folder, text in (("v1", "one\n"), ("v2", "two\n")):
        (project.path / folder).mkdir()
        (project.path / folder / "in.txt").write_text(text)
    give_one_stat(project.path / "v1" / "in.txt", project.path / "v2" / "in.txt")
    path = "in.txt" if swap == "symlink" else "data/in.txt"
    project.recipe("r.yaml", f"""
        steps:
          - {{name: read, module: cf_steps, function: ReadText, params: {{path: {path}}}, cache: true,
              files: [{path}]}}
    """)
    if swap == "symlink":
        (project.path / "in.txt").symlink_to("v1/in.txt")
    else:
        (project.path / "v1").rename(project.path / "data")
    assert project.run("r.yaml")[:2] == ({"read": "miss"}, ["read"])
    assert project.run("r.yaml")[:2] == ({"read": "hit"}, [])
    if swap == "symlink":  # ln -sfn v2/in.txt in.txt
        (project.path / "next").symlink_to("v2/in.txt")
        (project.path / "next").replace(project.path / "in.txt")
    else:  # mv data data.old; mv data.new data
        (project.path / "data").rename(project.path / "data.old")
        (project.path / "v2").rename(project.path / "data")
    why = project.why("r.yaml", "read")
    assert why["would"] == "run" and why["changed"] == [f"file:{path}"]
    assert project.run("r.yaml")[:2] == ({"read": "miss"}, ["read"])
    assert project.context()["f.read_v1"] == "two\n"


COARSE_FS = '''
    """A file system keeping whole seconds, as FAT does: every ``os.stat`` of this process
    reports the mtime cut to its second, and (as Linux's vfat) the ctime equal to it."""
    import os

    SECOND = 1_000_000_000
    real_stat = os.stat


    class CoarseStat:
        def __init__(self, found):
            self._found = found
            self.st_mtime_ns = self.st_ctime_ns = found.st_mtime_ns // SECOND * SECOND
            self.st_mtime = self.st_ctime = self.st_mtime_ns // SECOND

        def __getattr__(self, name):
            return getattr(self._found, name)


    def coarse_stat(path, *args, **kwargs):
        return CoarseStat(real_stat(path, *args, **kwargs))


    os.stat = coarse_stat
'''


def test_a_file_rewritten_within_its_second_on_a_coarse_file_system_is_read_again(project):
    # Written, hashed 0.5-1.5 s later, rewritten with the same size in the same second: on a
    # file system keeping seconds the stat is unchanged, so the first digest must not be kept.
    from orchestrator_core.run.file_digests import COARSE_WINDOW_NS
    from orchestrator_core.testing import write_pack

    write_pack(project.path, "orch-coarse-fs", {"coarse_fs.py": COARSE_FS})
    project.recipe("r.yaml", """
        steps:
          - {name: read, module: cf_steps, function: ReadText, params: {path: in.txt}, cache: true, files: [in.txt]}
    """)
    source = project.path / "in.txt"
    for _ in range(3):
        second = (time.time_ns() - 500_000_000) // 1_000_000_000 * 1_000_000_000
        source.write_text("aaa")
        os.utime(source, ns=(second, second))
        assert project.run("r.yaml")[:2] == ({"read": "miss"}, ["read"])
        if time.time_ns() < second + COARSE_WINDOW_NS:
            break
        shutil.rmtree(project.path / ".orch")  # that run was too slow to tell: its digest may be kept
    else:
        pytest.skip("orch took too long to start three times in a row")
    source.write_text("bbb")
    os.utime(source, ns=(second, second))
    assert project.run("r.yaml")[:2] == ({"read": "miss"}, ["read"])
    assert project.context()["f.read_v1"] == "bbb"


def test_a_file_added_to_a_glob_is_a_miss_and_a_removed_one_too(project):
    project.recipe("r.yaml", """
        steps:
          - {name: count, module: cf_steps, function: CountFiles, cache: true, files: ["in/*.csv"]}
    """)
    (project.path / "in").mkdir()
    (project.path / "in" / "a.csv").write_text("1\n")
    assert project.run("r.yaml")[0] == {"count": "miss"}
    assert project.run("r.yaml")[:2] == ({"count": "hit"}, [])
    (project.path / "in" / "b.csv").write_text("2\n")
    (project.path / "in" / "notes.txt").write_text("not matched")
    why = project.why("r.yaml", "count")
    assert why["would"] == "run" and why["reason"] == "in/ added b.csv" and why["changed"] == ["file:in/*.csv"]
    cache, ran, _ = project.run("r.yaml")
    assert cache == {"count": "miss"} and project.context()["f.count_v1"] == 2
    (project.path / "in" / "a.csv").unlink()
    assert project.why("r.yaml", "count")["reason"] == "in/ removed a.csv"
    assert project.run("r.yaml")[0] == {"count": "miss"} and project.context()["f.count_v1"] == 1


# stdout as under a UTF-8 locale other than C.UTF-8, where Python refuses to print a lone surrogate
STRICT_STDOUT = {"PYTHONIOENCODING": "utf-8:strict"}


def latin1_name(folder: Path) -> Path:
    """``folder/café.csv`` with its name in Latin-1 (the byte 0xE9: not UTF-8), as Python sees it."""
    path = folder / os.fsdecode(b"caf\xe9.csv")
    try:
        path.write_text("1\n")
    except OSError:
        pytest.skip("this file system refuses names that are not UTF-8")
    return path


def test_a_file_name_that_is_not_utf8_is_fingerprinted_and_shown(project):
    project.recipe("r.yaml", """
        steps:
          - {name: count, module: cf_steps, function: CountFiles, cache: true, files: ["in/*.csv"]}
    """)
    (project.path / "in").mkdir()
    latin = latin1_name(project.path / "in")
    cache, ran, outcome = project.run("r.yaml", env=STRICT_STDOUT)
    assert (cache, ran) == ({"count": "miss"}, ["count"]) and "Traceback" not in outcome.err
    assert project.run("r.yaml", env=STRICT_STDOUT)[:2] == ({"count": "hit"}, [])
    latin.write_text("1\n2\n")
    assert project.why("r.yaml", "count")["reason"].startswith(f"in/ {latin.name} changed (sha256 ")
    why = project.orch("why", "r.yaml", "count", env=STRICT_STDOUT).assert_success().out
    assert "would run: in/ caf\\udce9.csv changed (sha256 " in why  # escaped, as stderr shows it
    table = project.orch("run", "r.yaml", "--dry-run", env=STRICT_STDOUT).assert_success().out
    assert "in/ caf\\udce9.csv changed (sha256 " in table
    assert project.run("r.yaml", env=STRICT_STDOUT)[:2] == ({"count": "miss"}, ["count"])


@pytest.mark.parametrize("executor", ["inline", "process"])
def test_a_name_that_is_not_utf8_in_the_context_reaches_a_cached_step(project, executor):
    project.recipe("r.yaml", """
        steps:
          - {name: names, module: cf_steps, function: ListFiles}
          - {name: count, module: cf_steps, function: CountFiles, cache: true, depends_on: [names]}
    """)
    (project.path / "in").mkdir()
    latin = latin1_name(project.path / "in")
    run = ("r.yaml", "--executor", executor)
    assert project.run(*run)[:2] == ({"names": None, "count": "miss"}, ["names", "count"])
    assert project.run(*run)[:2] == ({"names": None, "count": "hit"}, ["names"])
    assert project.context()["f.names_v1"] == [latin.name]
    shown = project.orch("context", "show", env=STRICT_STDOUT).assert_success().out
    assert '["caf\\udce9.csv"]' in shown


def test_a_missing_declared_file_is_a_miss_with_a_reason_not_a_crash(project):
    project.recipe("r.yaml", """
        steps:
          - {name: count, module: cf_steps, function: CountFiles, cache: true, files: [settings.ini]}
    """)
    (project.path / "in").mkdir()
    for _ in range(2):  # never stored, so never a hit
        cache, ran, outcome = project.run("r.yaml")
        assert cache == {"count": "miss"} and ran == ["count"]
        assert "Traceback" not in outcome.err
    assert not (project.path / ".orch" / "cache").exists()  # nothing stored
    why = project.why("r.yaml", "count")
    assert why["would"] == "run" and "settings.ini is missing" in why["reason"]
    (project.path / "settings.ini").write_text("[x]\n")
    assert project.run("r.yaml")[0] == {"count": "miss"}
    assert project.run("r.yaml")[0] == {"count": "hit"}


def test_an_upstream_artifact_is_in_the_fingerprint_and_replayed_on_a_hit(project):
    project.recipe("r.yaml", """
        steps:
          - {name: make, module: cf_steps, function: WriteArtifact, params: {text: one}}
          - {name: use, module: cf_steps, function: UseArtifact, cache: true}
    """)
    assert project.run("r.yaml")[0] == {"make": None, "use": "miss"}
    assert project.run("r.yaml")[:2] == ({"make": None, "use": "hit"}, ["make"])
    # make writes the same context values, but a different file: use must run again
    (project.path / "r.yaml").write_text((project.path / "r.yaml").read_text().replace("text: one", "text: two"))
    why = project.why("r.yaml", "use")  # predicted from the file as it is now: unchanged yet
    assert why["would"] == "hit"
    cache, ran, _ = project.run("r.yaml")
    assert cache == {"make": None, "use": "miss"} and ran == ["make", "use"]
    assert project.context()["f.text_v1"] == "two"
    # a cached step that reported an artifact replays it on a hit, and misses when it is gone
    project.recipe("s.yaml", """
        steps:
          - {name: make, module: cf_steps, function: WriteArtifact, params: {text: three}, cache: true}
    """)
    project.run("s.yaml")
    _, ran, outcome = project.run("s.yaml")
    assert ran == [] and outcome.lines[0]["artifact"] == "Data/a.txt" and outcome.lines[0]["cache"] == "hit"
    (project.path / "Data" / "a.txt").unlink()
    assert project.why("s.yaml", "make")["reason"] == "its artifact Data/a.txt is gone"
    assert project.run("s.yaml")[:2] == ({"make": "miss"}, ["make"])


def test_a_hit_needs_its_artifacts_as_they_were_when_its_result_was_stored(project):
    project.recipe("s.yaml", """
        steps:
          - {name: make, module: cf_steps, function: WriteArtifact, params: {text: three}, cache: true}
    """)
    artifact = project.path / "Data" / "a.txt"
    assert project.run("s.yaml")[0] == {"make": "miss"}
    _, ran, outcome = project.run("s.yaml")
    assert ran == [] and outcome.lines[0]["cache"] == "hit"
    assert set(outcome.lines[0]) == {"status", "outputs", "artifact", "cache", "step", "metrics"}  # no digests
    # the same step with other params rewrites the artifact; back to the first params, the stored
    # result describes a file that is no longer there
    (project.path / "s.yaml").write_text((project.path / "s.yaml").read_text().replace("three", "four"))
    assert project.run("s.yaml")[0] == {"make": "miss"}
    assert artifact.read_text() == "four"
    (project.path / "s.yaml").write_text((project.path / "s.yaml").read_text().replace("four", "three"))
    assert project.why("s.yaml", "make")["reason"].endswith("its artifact Data/a.txt changed since the result was stored")
    assert project.run("s.yaml")[:2] == ({"make": "miss"}, ["make"])
    assert artifact.read_text() == "three"
    # an artifact edited by hand is a miss too, and the step writes it again
    artifact.write_text("edited")
    assert project.run("s.yaml")[:2] == ({"make": "miss"}, ["make"])
    assert artifact.read_text() == "three"
    assert project.run("s.yaml")[:2] == ({"make": "hit"}, [])


CACHED_NUMBERS = """
    steps:
      - {name: cache_numbers, uses: cache_numbers, cache_key: numbers, params: {path: numbers.csv}}
"""


def test_the_marker_is_needed_for_a_hit_and_a_hit_is_recorded_in_the_context(project):
    project.recipe("n.yaml", CACHED_NUMBERS)
    (project.path / "numbers.csv").write_text("value\n1\n2\n")
    first = project.run("n.yaml")[2]
    assert first.lines[0]["cache"] == "miss" and project.context()["cache.numbers_hit_v1"] is False
    marker = json.loads((project.path / ".cache" / "numbers.done").read_text())
    assert (marker["step"], marker["cache_key"]) == ("cache_numbers", "numbers")
    assert project.run("n.yaml")[0] == {"cache_numbers": "hit"}
    context = project.context()
    assert context["cache.numbers_hit_v1"] is True  # set by on_cache_hit, in this run
    assert context["cache.numbers_hash_v1"] == sha256(project.path / "numbers.csv")
    shutil.rmtree(project.path / ".cache")
    why = project.why("n.yaml", "cache_numbers")
    assert why["would"] == "run" and why["reason"] == "the marker .cache/numbers.done is gone"
    assert project.run("n.yaml")[0] == {"cache_numbers": "miss"}
    assert project.context()["cache.numbers_hit_v1"] is False
    assert (project.path / ".cache" / "numbers.done").is_file()
    history = json.loads(project.orch("runs", "show", "latest", "--json").assert_success().out)["steps"]
    assert history[0]["cache"] == "miss"


@pytest.mark.parametrize("executor", ["process", "dask"])
def test_the_same_reruns_agree_on_every_executor(project, executor):
    project.recipe("n.yaml", CACHED_NUMBERS)
    numbers = project.path / "numbers.csv"

    def story(*args):
        outcomes = []
        for content in ("value\n1\n2\n", None, "value\n1\n2\n3\n"):
            if content is not None:
                numbers.write_text(content)
            line = project.run("n.yaml", *args)[2].lines[0]
            context = project.context()
            outcomes.append((line["cache"], line["outputs"], context["cache.numbers_hit_v1"],
                             context["cache.numbers_hash_v1"] == sha256(numbers)))
        return outcomes

    inline = story("--executor", "inline")
    assert [o[0] for o in inline] == ["miss", "hit", "miss"] and [o[2] for o in inline] == [False, True, False]
    assert all(o[3] for o in inline)
    project.orch("cache", "clear").assert_success()
    assert story("--executor", executor) == inline


def test_a_cache_plugin_gets_the_file_digests_in_its_inputs(sample_pm, register_plugin, run_orch_recipe, tmp_path):
    from orchestrator_core import hookimpl

    seen = []

    class Watcher:
        @hookimpl
        def orch_cache_key(self, step, inputs, run):
            seen.append((inputs.get("files"), run.id))

    register_plugin(Watcher(), "watcher")
    (tmp_path / "in.txt").write_text("hello")
    recipe = "steps: [{name: one, uses: write_keys, params: {values: {t.a_v1: 1}}, cache: true, files: [in.txt]}]"
    result = run_orch_recipe(recipe)
    assert seen == [({"in.txt": hashlib.sha256(b"hello").hexdigest()}, result.result.run_id)]


def test_12_advanced_full_answers_with_the_hash_of_the_edited_csv(tmp_path, monkeypatch, orch_cli):
    """The guide's flagship recipe, run as shipped, on a copy of the pack whose sample CSV is edited."""
    import orchestrator_curriculum
    from orchestrator_curriculum.plugin import recipes_dir

    monkeypatch.delenv("ORCH_STATE_DIR", raising=False)
    monkeypatch.delenv("ORCH_DATA_DIR", raising=False)
    pack = tmp_path / "site" / "orchestrator_curriculum"
    shutil.copytree(Path(orchestrator_curriculum.__file__).parent, pack,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(recipes_dir(), pack / "recipes")
    work = tmp_path / "work"
    work.mkdir()
    csv = pack / "data" / "numbers.csv"

    def run():
        outcome = orch_cli("run", "12_advanced_full", "--no-progress", pythonpath=[tmp_path / "site"], cwd=work)
        outcome.assert_success()
        context = json.loads(orch_cli("context", "show", "--json", cwd=work).assert_success().out)
        return outcome.lines[0]["cache"], context["cache.numbers_hit_v1"], context["cache.numbers_hash_v1"]

    assert run() == ("miss", False, sha256(csv))
    assert run() == ("hit", True, sha256(csv))
    before = sha256(csv)
    with csv.open("a") as handle:
        handle.write("7,1.0,2.0\n")
    why = json.loads(orch_cli("why", "12_advanced_full", "cache_numbers", "--json", pythonpath=[tmp_path / "site"],
                              cwd=work).assert_success().out)
    assert why["would"] == "run" and why["reason"] == f"{csv} changed (sha256 {before[:4]}…→{sha256(csv)[:4]}…)"
    assert run() == ("miss", False, sha256(csv))


def test_a_shell_step_declares_what_it_reads_with_files(project):
    script = project.path / "count.sh"
    script.write_text(textwrap.dedent(r"""
        #!/bin/sh
        echo "$ORCH_STEP" >> calls.log
        n=$(cat in/*.txt | wc -l)
        printf '{"status":"ok","outputs":["sh.lines_v1"],"ctx":{"sh.lines_v1":%d}}\n' "$n"
    """).lstrip())
    script.chmod(0o755)
    (project.path / "in").mkdir()
    (project.path / "in" / "a.txt").write_text("1\n2\n")
    project.recipe("r.yaml", """
        steps:
          - {name: lines, type: shell, script: count.sh, outputs: [sh.lines_v1], cache_key: lines, files: ["in/*.txt"]}
    """)
    assert project.run("r.yaml")[:2] == ({"lines": "miss"}, ["lines"])
    assert project.run("r.yaml")[:2] == ({"lines": "hit"}, [])
    (project.path / "in" / "a.txt").write_text("1\n2\n3\n")
    assert project.why("r.yaml", "lines")["reason"].startswith("in/ a.txt changed (sha256 ")
    assert project.run("r.yaml")[:2] == ({"lines": "miss"}, ["lines"]) and project.context()["sh.lines_v1"] == 3


def test_files_must_be_a_list_of_paths(project):
    project.recipe("r.yaml", """
        steps:
          - name: count
            module: cf_steps
            function: CountFiles
            files: [in.txt, 3]
    """)
    outcome = project.orch("run", "r.yaml")
    assert outcome.exit_code == 2 and "r.yaml:6" in outcome.err and "'files' must be a list of paths" in outcome.err


def test_a_scriptlet_whose_files_fails_runs_uncached_and_says_why(project):
    project.recipe("r.yaml", """
        steps:
          - {name: bad, module: cf_steps, function: BadFiles, cache: true}
    """)
    for _ in range(2):
        cache, ran, outcome = project.run("r.yaml")
        assert cache == {"bad": "miss"} and ran == ["bad"]
        assert "files() failed (KeyError: 'input')" in outcome.err and "Traceback" not in outcome.err
    assert "files() failed" in project.why("r.yaml", "bad")["reason"]


def test_file_params_name_paths_relative_to_the_working_or_the_data_directory(tmp_path):
    from orchestrator_core import BaseScriptlet

    class Reads(BaseScriptlet):
        file_params = {"source": "workdir", "lookup": "data_dir", "extra": "workdir"}

    data = tmp_path / "Data"
    found = Reads.files({"source": "in.csv", "lookup": "t.json", "extra": ["a/*.txt", "b.txt"], "other": "x"},
                        tmp_path, data)
    assert found == [tmp_path / "in.csv", data / "t.json", tmp_path / "a/*.txt", tmp_path / "b.txt"]
    assert Reads.files({}, tmp_path, data) == []

    class Listed(BaseScriptlet):
        file_params = ("path",)

    assert Listed.files({"path": "p.csv"}, tmp_path, data) == [tmp_path / "p.csv"]


def test_a_hit_skips_only_the_hooks_a_scriptlet_keeps_from_the_base_class():
    # A cache hit asks a scriptlet for its files and calls its on_cache_hit only when
    # it can do something; overriding either, at any depth, or naming file_params counts.
    from orchestrator_core import BaseScriptlet
    from orchestrator_core.scriptlet.handler import PythonHandler

    class Plain(BaseScriptlet):
        pass

    class Named(BaseScriptlet):
        file_params = ("path",)

    class Computed(BaseScriptlet):
        @classmethod
        def files(cls, params, workdir, data_dir):
            return ["x.csv"]

    class Says(BaseScriptlet):
        def on_cache_hit(self, ctx, params):
            ctx.set("hit_v1", True)

    class SaysToo(Says):
        pass

    class NotABaseScriptlet:
        def run(self, ctx, params):
            return None

    def flags(cls):
        handler = PythonHandler(cls)
        return handler.declares_files, handler.reacts_to_cache_hit

    assert flags(Plain) == (False, False)
    assert flags(Named) == (True, False)
    assert flags(Computed) == (True, False)
    assert flags(Says) == (False, True)
    assert flags(SaysToo) == (False, True)
    assert flags(NotABaseScriptlet) == (False, False)


def test_a_files_entry_can_name_the_data_directory_wherever_it_is(project):
    project.recipe("r.yaml", """
        steps:
          - {name: count, module: cf_steps, function: CountFiles, cache: true, files: [$ORCH_DATA_DIR/table.csv]}
    """)
    (project.path / "in").mkdir()
    table = project.path / "elsewhere" / "table.csv"
    table.parent.mkdir()
    table.write_text("1\n")
    assert project.run("r.yaml", "--data-dir", "elsewhere")[0] == {"count": "miss"}
    assert project.run("r.yaml", "--data-dir", "elsewhere")[0] == {"count": "hit"}
    table.write_text("2\n")
    why = json.loads(project.orch("why", "r.yaml", "count", "--json", env={"ORCH_DATA_DIR": "elsewhere"}).out)
    assert why["reason"].startswith("elsewhere/table.csv changed (sha256 ")


def test_a_folder_in_files_is_named_as_such_not_missing_and_a_glob_caches_it(project):
    """``files: [in]`` with ``in`` a folder: no content digest, so the step cannot be cached; the run
    says why (it said nothing, and --dry-run called the folder missing), and how to name its files."""
    (project.path / "in").mkdir()
    (project.path / "in" / "a.csv").write_text("1\n")
    project.recipe("r.yaml", """
        steps:
          - {name: count, module: cf_steps, function: CountFiles, cache: true, files: [in]}
    """)
    cache, ran, outcome = project.run("r.yaml")
    assert cache == {"count": "miss"} and ran == ["count"]
    said = "'in' in its files is a folder, not a file; name its files with a glob ('in/**' for all of them"
    assert f"step 'count' is a cache miss and is not stored: {said}" in outcome.err
    assert project.run("r.yaml")[:2] == ({"count": "miss"}, ["count"])
    why = project.why("r.yaml", "count")
    assert why["would"] == "run" and said in why["reason"] and "missing" not in why["reason"]
    project.recipe("r.yaml", """
        steps:
          - {name: count, module: cf_steps, function: CountFiles, cache: true, files: ["in/**"]}
    """)
    assert project.run("r.yaml")[:2] == ({"count": "miss"}, ["count"])
    assert project.run("r.yaml")[:2] == ({"count": "hit"}, [])
    (project.path / "in" / "b.csv").write_text("2\n")
    assert project.run("r.yaml")[:2] == ({"count": "miss"}, ["count"])
