"""Property-based fuzzing of the recipe loader: whatever the bytes, a recipe or a located error.

Random YAML documents (recipe-shaped or not) and mutations of the curriculum's own
recipes in ``recipes/`` go through the same path as ``orch validate`` (read, check
the structure, check against the installed plugins). The property: the loader
returns a recipe or raises the framework's own errors (exit 2 at the command line),
within a bounded time and memory, never anything else (which the command line would
print as a traceback). A handful of the same inputs go through the real ``orch``.

``ORCH_FUZZ_EXAMPLES`` raises the number of examples for a longer hunt (CI keeps the
default: a few seconds).
"""

from __future__ import annotations

import os
import subprocess
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator_core.errors import OrchError
from orchestrator_core.recipe.read import STEP_FIELDS
from orchestrator_core.run.session import Session
from orchestrator_core.testing import orch_executable

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))
EXAMPLES = int(os.environ.get("ORCH_FUZZ_EXAMPLES", "150"))
MAX_SECONDS = 2.0  # of CPU time for one document, in-process (a loaded machine's waits do not count)
MAX_PEAK_BYTES = 64 * 1024 * 1024

FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                                HealthCheck.function_scoped_fixture])

# YAML that has hurt loaders: aliases, tags, special floats, deep nesting, odd bytes.
HOSTILE = [
    "&a", "*a", "&b [*a, *a, *a]", "!!binary aGk=", "!!set {x: null}", "!custom", "!!python/object:os.system",
    ".nan", ".inf", "-.inf", "1e300", "1.0e+300", "9" * 60, "2024-01-01", "~", "null", "yes", "0x1F", "0o17",
    "[[[[[[[[[[", "]]]]", "{{{{", "<<: *a", "? complex key", "|\n  block", ">-\n  folded", "\t", "\x00", "\ufeff",
    "\udcff", "'", '"', "#", "---", "...", "%YAML 1.1", "- - -", ": :", "steps:", "name: x", "uses: noop",
    "depends_on: [a, a]", "_runner.x: 1", "timeout: -1", "retries: 99999999999999999999", "retry_delay: .nan",
]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)
plain = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)), max_leaves=12)
step_keys = st.sampled_from([*STEP_FIELDS, "script", "args", "module", "function", "env", "bogus"])
steps = st.lists(st.dictionaries(step_keys, plain, min_size=1, max_size=6), max_size=4)
recipe_shaped = st.fixed_dictionaries(
    {"steps": steps}, optional={"name": st.text(max_size=8), "context": st.dictionaries(st.text(max_size=8), plain),
                                "merge": st.text(max_size=8), "bogus": plain})


@st.composite
def mutated(draw, base: st.SearchStrategy[str]) -> str:
    """``base`` text with a few edits: cut, duplicate, insert hostile YAML or random text, change a byte."""
    text = draw(base)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        where = draw(st.integers(min_value=0, max_value=len(text)))
        edit = draw(st.sampled_from(["cut", "dup", "hostile", "text", "indent"]))
        if edit == "cut":
            text = text[:where] + text[where + draw(st.integers(min_value=1, max_value=40)):]
        elif edit == "dup":
            text = text[:where] + text[max(0, where - 60):where] + text[where:]
        elif edit == "hostile":
            text = text[:where] + draw(st.sampled_from(HOSTILE)) + text[where:]
        elif edit == "text":
            text = text[:where] + draw(st.text(max_size=8)) + text[where:]
        else:
            text = text[:where] + "\n" + " " * draw(st.integers(min_value=0, max_value=9)) + text[where:]
    return text


curriculum_text = st.sampled_from(RECIPES).map(lambda path: path.read_text(encoding="utf-8"))
documents = st.one_of(
    plain.map(lambda data: yaml.safe_dump(data, allow_unicode=True)),
    recipe_shaped.map(lambda data: yaml.safe_dump(data, allow_unicode=True)),
    mutated(recipe_shaped.map(lambda data: yaml.safe_dump(data, default_flow_style=True))),
    mutated(curriculum_text),
)


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def load_and_validate(session: Session, path: Path) -> None:
    """What ``orch validate`` does with one file; raises only the framework's own errors."""
    recipe = session.load(str(path))
    session.validate(recipe)


def check_document(session: Session, path: Path, data: bytes) -> None:
    path.write_bytes(data)
    tracemalloc.start()
    started = time.thread_time()
    try:
        load_and_validate(session, path)
    except OrchError as exc:
        assert exc.exit_code == 2, exc  # a recipe or usage problem, never a failed "run"
        assert str(exc).strip()
    finally:
        elapsed = time.thread_time() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert elapsed < MAX_SECONDS, f"{elapsed:.2f} s for {data[:200]!r}"
    assert peak < MAX_PEAK_BYTES, f"{peak / 1e6:.0f} MB for {data[:200]!r}"


@FUZZ
@given(text=documents)
def test_any_yaml_document_loads_or_is_a_located_recipe_error(session, workdir, text):
    check_document(session, workdir / "fuzz.yaml", text.encode("utf-8", "surrogateescape"))


@FUZZ
@given(data=st.sampled_from(RECIPES).map(lambda p: p.read_bytes()),
       edits=st.lists(st.tuples(st.integers(min_value=0), st.binary(max_size=4)), min_size=1, max_size=4))
def test_byte_level_mutations_of_the_curriculum_recipes(session, workdir, data, edits):
    for where, insert in edits:
        where %= len(data) + 1
        data = data[:where] + insert + data[where + len(insert):]
    check_document(session, workdir / "fuzz.yaml", data)


def test_the_curriculum_recipes_still_load(session):
    assert RECIPES
    for path in RECIPES:
        load_and_validate(session, path)


BOMB = "\n".join(["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
                 + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]) + "\nsteps: []\n"


@pytest.mark.parametrize("name, data", [
    ("bomb", BOMB.encode()),
    ("deep", b"steps: " + b"[" * 3000 + b"]" * 3000 + b"\n"),
    ("recursive", b"steps:\n  - &s {name: a, uses: noop, params: {me: *s}}\n"),
    ("binary", bytes(range(256)) * 4),
    ("mutated", RECIPES[0].read_bytes().replace(b"steps:", b"steps: !!set", 1).replace(b"  ", b"\t", 3)),
])
def test_the_command_line_on_hostile_documents(tmp_path, name, data):
    (tmp_path / f"{name}.yaml").write_bytes(data)
    for command in (["validate"], ["run", "--no-progress"]):
        started = time.monotonic()
        proc = subprocess.run([orch_executable(), *command, f"{name}.yaml"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)
        assert time.monotonic() - started < 30
        assert proc.returncode in (0, 1, 2), proc.stderr
        assert "Traceback" not in proc.stderr, proc.stderr
        assert proc.returncode == 2 and f"{name}.yaml" in proc.stderr, proc.stderr
