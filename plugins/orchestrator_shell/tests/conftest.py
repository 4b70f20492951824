"""Fixtures of the shell plugin's tests: scripts written to a temporary folder, real ``orch`` runs.

Every script and recipe lives in the test's ``tmp_path``, which is also the working
directory of ``orch``. Processes are looked at through ``/proc``; every process a test
starts carries a marker in its environment and is killed at teardown, also when the
test fails.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Callable

import pytest


@pytest.fixture
def script(tmp_path: Path) -> Callable[..., Path]:
    """``script(name, body, mode=0o755)``: write an executable script into the working directory."""

    def write(name: str, body: str, mode: int = 0o755) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
        path.chmod(mode)
        return path

    return write


@pytest.fixture
def run_shell(orch_cli, tmp_path: Path) -> Callable[..., object]:
    """``run_shell(recipe_text, *args)``: write ``recipe.yaml`` and run it with the real ``orch``."""

    def run(recipe: str, *args: str, command: str = "run", **options) -> object:
        (tmp_path / "recipe.yaml").write_text(textwrap.dedent(recipe), encoding="utf-8")
        extra = ("--no-progress",) if command == "run" else ()
        return orch_cli(command, "recipe.yaml", *extra, *args, **options)

    return run


@pytest.fixture
def history(orch_cli) -> Callable[[str], list[dict]]:
    """``history(key)``: every write of ``key`` recorded in the state store, oldest first."""

    def read(key: str) -> list[dict]:
        return json.loads(orch_cli("context", "show", key, "--history", "--json").assert_success().out)

    return read


