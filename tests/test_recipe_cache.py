"""The cache of read recipes: a hit is exactly the fresh read, and anything doubtful is read again.

Every test has its own cache folder (``ORCH_CACHE_DIR``, set by the root conftest.py).
A hit is proven, not assumed: the reader (``recipe_from_bytes``) is made to fail, so a
load that returns a recipe cannot have read the file.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import orchestrator_core.recipe.cache as recipe_cache
from orchestrator_core.errors import RecipeError
from orchestrator_core.recipe.cache import cache_dir, load_recipe
from orchestrator_core.recipe.read import parse_recipe, read_recipe
from orchestrator_core.testing import orch_executable
from test_recipe_fuzz import documents

ROOT = Path(__file__).resolve().parents[1]
RECIPE_FILES = sorted([*(ROOT / "recipes").glob("*.yaml"), *(ROOT / "tests").rglob("*.yaml"),
                       *(ROOT / "plugins").glob("*/tests/**/*.yaml")])
FIELDS = {"python": {"module": str, "function": str},
          "shell": {"script": str, "args": list, "inputs": list, "outputs": list}}

CHAIN = """\
name: chain
steps:
  - {"name": "a", "type": "python", "module": "cache_steps", "function": "Noop", "depends_on": [], "params": {}}
  - name: b
    module: cache_steps
    function: Noop
    params: {n: [1, 2, {deep: x}]}
    timeout: 5
"""
STEPS_MODULE = """\
from orchestrator_core import BaseScriptlet

class Noop(BaseScriptlet):
    outputs = ()
    def run(self, ctx, params):
        return None
"""


def every_field(record) -> dict:
    """All of a Recipe's or Step's fields, those its == leaves out included."""
    return {name: getattr(record, name) for name in type(record).__slots__}


def assert_same_read(cached, fresh) -> None:
    """The whole model: every field of the recipe and of each step, line numbers included."""
    assert type(cached) is type(fresh)
    assert every_field(cached) == every_field(fresh)
    for mine, theirs in zip(cached.steps, fresh.steps, strict=True):
        assert every_field(mine) == every_field(theirs)  # Step's == leaves the lines out
        types = {k: type(v) for k, v in every_field(theirs).items()}
        assert {k: type(v) for k, v in every_field(mine).items()} == types


@pytest.fixture
def reader_fails(monkeypatch: pytest.MonkeyPatch):
    """After it is called, reading a recipe from its text raises: only a cache hit can return one."""
    def forbid() -> None:
        def no_read(*args, **kwargs):
            raise AssertionError("the recipe was read from its file: not a cache hit")

        monkeypatch.setattr(recipe_cache, "recipe_from_bytes", no_read)

    return forbid


def entries() -> list[Path]:
    folder = cache_dir()
    return sorted(folder.glob("*.recipe")) if folder and folder.exists() else []


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_cached_read_is_the_fresh_read(path, monkeypatch, reader_fails):
    assert RECIPE_FILES
    try:
        fresh = read_recipe(path, FIELDS)
    except RecipeError as error:  # a recipe with problems: never cached, the same problems every time
        for _ in range(2):
            with pytest.raises(RecipeError) as again:
                load_recipe(path, FIELDS)
            assert again.value.problems == error.problems
        assert entries() == []
        return
    first = load_recipe(path, FIELDS)
    assert len(entries()) == 1
    reader_fails()
    second = load_recipe(path, FIELDS)
    assert_same_read(first, fresh)
    assert_same_read(second, fresh)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(text=documents)
def test_any_document_reads_the_same_from_the_cache(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    try:
        fresh = read_recipe(path, FIELDS)
    except RecipeError as error:
        with pytest.raises(RecipeError) as again:
            load_recipe(path, FIELDS)
        assert again.value.problems == error.problems
        return
    load_recipe(path, FIELDS)
    assert_same_read(load_recipe(path, FIELDS), fresh)


def test_windows_and_old_mac_line_ends_read_as_before(tmp_path, reader_fails):
    path = tmp_path / "crlf.yaml"
    path.write_bytes(CHAIN.replace("\n", "\r\n").replace("  - name: b\r\n", "  - name: b\r").encode())
    fresh = read_recipe(path, FIELDS)
    as_text = parse_recipe(path.read_text(encoding="utf-8"), str(path), FIELDS, default_name="crlf")
    assert_same_read(fresh, as_text)  # the text read_text gives (universal newlines), as before
    load_recipe(path, FIELDS)
    reader_fails()
    assert_same_read(load_recipe(path, FIELDS), fresh)


def test_an_edit_that_keeps_size_and_mtime_is_seen(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text(CHAIN)
    assert load_recipe(path, FIELDS).steps[1].timeout == 5
    before = path.stat()
    path.write_text(CHAIN.replace("timeout: 5", "timeout: 7"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert load_recipe(path, FIELDS).steps[1].timeout == 7
    assert len(entries()) == 2


def test_the_same_file_elsewhere_is_a_hit_with_its_own_path(tmp_path, reader_fails):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    (tmp_path / "one" / "recipe.yaml").write_text(CHAIN)
    (tmp_path / "two" / "recipe.yaml").write_text(CHAIN)
    fresh = read_recipe(tmp_path / "two" / "recipe.yaml", FIELDS)
    load_recipe(tmp_path / "one" / "recipe.yaml", FIELDS)
    reader_fails()
    moved = load_recipe(tmp_path / "two" / "recipe.yaml", FIELDS)
    assert moved.path == str((tmp_path / "two" / "recipe.yaml").resolve())
    assert_same_read(moved, fresh)


def test_the_file_name_and_the_step_types_are_part_of_the_key(tmp_path):
    path = tmp_path / "first.yaml"
    path.write_text(CHAIN.replace("name: chain\n", "").replace("timeout: 5", "colour: 5"))
    accepting = {"python": {**FIELDS["python"], "colour": int}}
    assert load_recipe(path, accepting).name == "first"
    with pytest.raises(RecipeError, match="unknown key 'colour'"):  # a step type that no longer accepts it
        load_recipe(path, FIELDS)
    renamed = tmp_path / "second.yaml"
    path.rename(renamed)
    assert load_recipe(renamed, accepting).name == "second"  # the name a recipe without one takes from its file


@pytest.mark.parametrize("damage", ["truncated", "empty", "flipped byte", "other key", "other format",
                                    "unreadable"])
def test_a_damaged_entry_is_ignored_and_written_again(tmp_path, damage, reader_fails):
    path = tmp_path / "recipe.yaml"
    path.write_text(CHAIN)
    fresh = load_recipe(path, FIELDS)
    (entry,) = entries()
    good = entry.read_bytes()
    other = tmp_path / "other.yaml"
    other.write_text(CHAIN.replace("timeout: 5", "timeout: 6"))
    load_recipe(other, FIELDS)
    (other_entry,) = set(entries()) - {entry}
    if damage == "truncated":
        entry.write_bytes(good[:len(good) // 2])
    elif damage == "empty":
        entry.write_bytes(b"")
    elif damage == "flipped byte":
        at = good.index(b"deep")  # inside the data, after the header: only the checksum can tell
        entry.write_bytes(good[:at] + b"D" + good[at + 1:])
    elif damage == "other key":
        entry.write_bytes(other_entry.read_bytes())
    elif damage == "other format":
        entry.write_bytes(good.replace(b"orch recipe cache 1\n", b"orch recipe cache 0\n", 1))
    else:
        entry.unlink()
        entry.mkdir()  # cannot be read (nor replaced): the recipe is still read, from its file
    again = load_recipe(path, FIELDS)
    assert_same_read(again, fresh)
    if damage == "unreadable":
        assert entry.is_dir()
        return
    assert entry.read_bytes() == good  # written again
    reader_fails()
    assert_same_read(load_recipe(path, FIELDS), fresh)


def test_a_cache_that_cannot_be_written_costs_one_debug_line(tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ORCH_CACHE_DIR", str(blocker / "cache"))  # under a file: nothing can be created
    path = tmp_path / "recipe.yaml"
    path.write_text(CHAIN)
    with caplog.at_level(logging.DEBUG, logger="orchestrator.recipe_cache"):
        recipe = load_recipe(path, FIELDS)
    assert_same_read(recipe, read_recipe(path, FIELDS))
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "cannot write" in caplog.records[0].getMessage()


@pytest.mark.parametrize("opened", ["folder", "parent"])
def test_a_folder_others_may_write_is_neither_read_nor_written(tmp_path, monkeypatch, opened):
    path = tmp_path / "recipe.yaml"
    path.write_text(CHAIN)
    load_recipe(path, FIELDS)
    folder = cache_dir()
    (entry,) = entries()
    calls = []
    real = recipe_cache.recipe_from_bytes
    monkeypatch.setattr(recipe_cache, "recipe_from_bytes", lambda *a: calls.append(1) or real(*a))
    os.chmod(folder if opened == "folder" else folder.parent, 0o777)
    load_recipe(path, FIELDS)
    assert calls == [1]  # the entry there is not trusted: read from the file
    entry.unlink()
    load_recipe(path, FIELDS)
    assert calls == [1, 1] and entries() == []  # and nothing written
    if opened == "parent":  # as /tmp: others may write, but not rename what is not theirs
        os.chmod(folder.parent, 0o1777)
        load_recipe(path, FIELDS)
        load_recipe(path, FIELDS)
        assert calls == [1, 1, 1] and len(entries()) == 1


def test_the_folder_is_private_and_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_CACHE_DIR", str(tmp_path / "new" / "cache"))
    monkeypatch.setattr(recipe_cache, "MAX_ENTRIES", 3)
    for i in range(5):
        path = tmp_path / f"r{i}.yaml"
        path.write_text(CHAIN.replace("timeout: 5", f"timeout: {i + 1}"))
        load_recipe(path, FIELDS)
        for entry in entries():  # older than the next one written
            os.utime(entry, ns=(entry.stat().st_mtime_ns - 10**9,) * 2)
    folder = cache_dir()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
    kept = entries()
    assert len(kept) == 3 and all(stat.S_IMODE(e.stat().st_mode) == 0o600 for e in kept)
    assert not list(folder.glob("*.tmp"))
    read = []
    real = recipe_cache.recipe_from_bytes
    monkeypatch.setattr(recipe_cache, "recipe_from_bytes", lambda data, path, *rest: read.append(path.name)
                        or real(data, path, *rest))
    assert [load_recipe(tmp_path / f"r{i}.yaml", FIELDS).steps[1].timeout for i in (4, 3, 2)] == [5, 4, 3]
    assert read == []  # the three newest were kept
    assert load_recipe(tmp_path / "r0.yaml", FIELDS).steps[1].timeout == 1
    assert read == ["r0.yaml"]  # the oldest were removed


def test_the_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_NO_RECIPE_CACHE", "1")
    path = tmp_path / "recipe.yaml"
    path.write_text(CHAIN)
    assert cache_dir() is None
    load_recipe(path, FIELDS)
    assert not Path(os.environ["ORCH_CACHE_DIR"], "recipes").exists()


def test_where_the_cache_lives(monkeypatch, tmp_path):
    monkeypatch.delenv("ORCH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "orch" / "recipes"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/is/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "orch" / "recipes"


# The real command: a second run reads the recipe without PyYAML, and says the same.
PROBE = """\
import sys
from orchestrator_core.cli import main
try:
    main()
finally:
    sys.stderr.write("\\nYAML-IMPORTED=%s\\n" % ("yaml" in sys.modules))
"""


def orch_in_process(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(cwd))
    env.pop("ORCH_LOG_LEVEL", None)
    return subprocess.run([sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_a_hit_does_not_import_yaml(tmp_path):
    (tmp_path / "cache_steps.py").write_text(STEPS_MODULE)
    (tmp_path / "recipe.yaml").write_text(CHAIN)
    outputs = []
    for expected_yaml in (True, False):
        done = orch_in_process(tmp_path, "run", "recipe.yaml", "--no-progress")
        assert done.returncode == 0, done.stderr
        assert f"YAML-IMPORTED={expected_yaml}" in done.stderr
        outputs.append([(line["step"], line["status"]) for line in map(json.loads, done.stdout.splitlines())])
    assert outputs[0] == outputs[1] == [("a", "ok"), ("b", "ok")]


def test_plugin_checks_still_run_on_a_hit(tmp_path):
    (tmp_path / "cache_steps.py").write_text(STEPS_MODULE)
    (tmp_path / "recipe.yaml").write_text(CHAIN)
    assert orch_in_process(tmp_path, "run", "recipe.yaml", "--no-progress").returncode == 0
    (tmp_path / "cache_steps.py").write_text(STEPS_MODULE.replace("class Noop", "class Renamed"))
    done = orch_in_process(tmp_path, "run", "recipe.yaml", "--no-progress")
    assert done.returncode == 2
    assert "YAML-IMPORTED=False" in done.stderr  # the recipe came from the cache, the check ran anyway
    assert "recipe.yaml:3: module 'cache_steps' has no 'Noop'" in done.stderr


def test_an_invalid_recipe_reports_the_same_error_every_time(tmp_path):
    (tmp_path / "recipe.yaml").write_text(CHAIN.replace("timeout: 5", "timeout: -5\n    bogus: 1"))
    runs = [subprocess.run([orch_executable(), "run", "recipe.yaml", "--no-progress"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120) for _ in range(2)]
    assert [r.returncode for r in runs] == [2, 2]
    assert runs[0].stderr == runs[1].stderr
    assert "recipe.yaml:9: unknown key 'bogus'" in runs[0].stderr
    assert "recipe.yaml:8: 'timeout' must be greater than 0" in runs[0].stderr
    assert entries() == []


def test_another_reader_reads_afresh(tmp_path, monkeypatch):
    """orch's version, its reading modules (as files: an editable install changes without a new
    version), PyYAML and Python are in the key."""
    identity = recipe_cache._reader_identity()
    for part in ("recipe/read.py", "recipe/yaml_lines.py", "model.py", "yaml/__init__.py", sys.version):
        assert part in identity
    path = tmp_path / "recipe.yaml"
    path.write_text(CHAIN)
    load_recipe(path, FIELDS)
    monkeypatch.setattr(recipe_cache, "_reader", identity.replace("recipe/read.py:", "recipe/read.py:1"))
    load_recipe(path, FIELDS)
    assert len(entries()) == 2


def test_a_reader_module_replaced_with_the_same_size_and_mtime_changes_the_key(tmp_path):
    """A reinstall (an unpacked wheel, a reproducible build) can keep a module's size and mtime;
    it cannot keep its inode and ctime."""
    module = tmp_path / "read.py"
    module.write_text("a = 1\n")
    before = module.stat()
    stamp = recipe_cache._stamp(str(module))
    replacement = tmp_path / "read.py.new"
    replacement.write_text("a = 2\n")
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(replacement, module)
    after = module.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert recipe_cache._stamp(str(module)) != stamp


def test_a_run_with_a_cache_that_cannot_be_written(tmp_path):
    (tmp_path / "cache_steps.py").write_text(STEPS_MODULE)
    (tmp_path / "recipe.yaml").write_text(CHAIN)
    (tmp_path / "a-file").write_text("")
    env = dict(os.environ, PYTHONPATH=str(tmp_path), ORCH_CACHE_DIR=str(tmp_path / "a-file" / "cache"),
               ORCH_LOG_LEVEL="DEBUG")
    for _ in range(2):
        done = subprocess.run([orch_executable(), "run", "recipe.yaml", "--no-progress"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert [json.loads(line)["status"] for line in done.stdout.splitlines()] == ["ok", "ok"]
        said = [line for line in done.stderr.splitlines() if "recipe cache" in line]
        assert len(said) == 1 and "cannot write" in said[0] and "Not a directory" in said[0], said
