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
