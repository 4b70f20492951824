"""Every ``orch`` command of docs/curriculum.md runs, in order, in one empty directory, and exits
with the status the guide states (``# exit N`` after a command; 0 otherwise)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "curriculum.md"
EXPECTED_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")


def commands(text: str) -> list[tuple[str, int]]:
    """(command, expected exit status) for every line of every bash block but the install line."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            if not line.strip() or line.startswith("pip install"):
                continue  # installing is the README's job; the test runs in the installed tree
            expected = EXPECTED_EXIT.search(line)
            found.append((line.split("#")[0].strip(), int(expected.group(1)) if expected else 0))
    return found


def test_the_guide_covers_every_curriculum_recipe():
    recipes = {p.stem for p in (Path(__file__).parents[1] / "recipes").glob("*.yaml")}
    ran = {shlex.split(c)[2] for c, _ in commands(DOC.read_text()) if c.startswith("orch run ")}
    assert recipes <= ran, f"recipes without a command in docs/curriculum.md: {sorted(recipes - ran)}"


def test_every_command_of_the_guide_exits_as_stated(tmp_path):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("ORCH_LOG_LEVEL", None)
    outputs = {}
    for command, expected in commands(DOC.read_text()):
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == expected, f"{command!r} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        outputs.setdefault(command, []).append(done)
    first, second = outputs["orch run 12_advanced_full"]
    assert json.loads(first.stdout.splitlines()[0])["cache"] == "miss"
    assert json.loads(second.stdout.splitlines()[0])["cache"] == "hit"
    # Exercise 4, sentence by sentence
    assert outputs["orch why 12_advanced_full cache_numbers"][0].stdout.startswith(
        "cache_numbers: would be a cache hit")
    mine = [json.loads(run.stdout)["cache"] for run in outputs["orch run my_cache.yaml"]]
    assert mine == ["miss", "hit", "miss"]
    edited, marker = (run.stdout.splitlines()[0] for run in outputs["orch why my_cache.yaml cache_numbers"])
    assert edited.startswith("cache_numbers: would run: my_numbers.csv changed (sha256 ")
    assert marker == "cache_numbers: would run: the marker .cache/mine.done is gone"
    import hashlib

    hashed = subprocess.run(["orch", "context", "show", "cache.numbers_hash_v1"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, check=True).stdout.strip().strip('"')
    assert hashed == hashlib.sha256((tmp_path / "my_numbers.csv").read_bytes()).hexdigest()
    failed = json.loads(outputs["orch run 03_validation_errors"][0].stdout.splitlines()[-1])
    assert (failed["reason"], failed["details"], failed["exit_code"]) == ("Too few numbers (min=5)", {"count": 3}, 1)
    check_the_key_table(tmp_path / ".orch")


def key_table(text: str) -> list[tuple[str, str, str]]:
    """(key, written by, shape) of every row of the guide's key table, one row per key."""
    section = text.split("## Keys", 1)[1].split("\n\n", 2)[1]
    rows = []
    for line in section.splitlines()[2:]:
        keys, writer, shape = (cell.strip() for cell in line.strip("|").split(" | "))
        names = re.findall(r"`([^`]+)`", keys)
        shapes = [s.strip() for s in shape.split("; ")]
        rows += [(name, writer, shapes[i] if len(shapes) == len(names) else shape) for i, name in enumerate(names)]
    return rows


# The first word of a shape in the table → the JSON type it names.
TYPES = {"object": dict, "list": list, "number": (int, float), "string": str, "path": str, "paths": str,
         "boolean": bool}


def check_the_key_table(state_dir: Path) -> None:
    """Each key of the table was written by the guide's runs, with the type and fields the table says,
    by a scriptlet that declares it."""
    from orchestrator_core import discover_scriptlets
    from orchestrator_core.state.store import StateStore

    store = StateStore.open_recorded(state_dir)
    try:
        recorded = {write["key"]: write["value"] for write in store.original_writes()}
    finally:
        store.close()
    declared = {cls.name: set(cls.outputs or ()) for cls in discover_scriptlets("orchestrator_curriculum.steps")}
    rows = key_table(DOC.read_text())
    assert len(rows) > 20
    for key, writer, shape in rows:
        if writer in declared:
            assert key in declared[writer], f"{writer} does not declare {key}"
        if "(only when" in shape:  # a key the guide's runs do not write, as the table says
            assert key not in recorded, key
            continue
        assert key in recorded, f"{key} (docs/curriculum.md) was never written by the guide's commands"
        value = recorded[key]
        kind = TYPES[shape.split()[0]]
        assert isinstance(value, kind) and not (kind != bool and isinstance(value, bool)), (key, shape, value)
        if shape.startswith("object ("):
            fields = set(re.findall(r"`([^`]+)`", shape))
            assert fields == set(value), (key, sorted(fields), sorted(value))
        if shape.startswith("list of numbers"):
            assert all(isinstance(v, (int, float)) for v in value), key
