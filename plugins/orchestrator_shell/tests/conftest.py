"""Fixtures of the shell plugin's tests: scripts written to a temporary folder, real ``orch`` runs.

Every script and recipe lives in the test's ``tmp_path``, which is also the working
directory of ``orch``. Processes are looked at through ``/proc``; every process a test
starts carries a marker in its environment and is killed at teardown, also when the
test fails.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Callable, Iterator

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


class Processes:
    """Looking at processes through ``/proc``."""

    @staticmethod
    def alive(pid: int) -> bool:
        """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as gone)."""
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return False
        return fields[0] not in ("Z", "X")

    @staticmethod
    def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            time.sleep(0.02)
        return condition()

    @classmethod
    def marked(cls, marker: str) -> list[int]:
        """Pids of live processes whose environment holds ``ORCH_TEST_MARK=marker``."""
        found = []
        needle = f"ORCH_TEST_MARK={marker}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if needle in environ.split(b"\0") and cls.alive(int(entry.name)):
                found.append(int(entry.name))
        return found

    @classmethod
    def pids(cls, path: Path, count: int = 1, timeout: float = 10.0) -> list[int]:
        """The pids a script wrote to ``path`` (one per line), once it has written ``count``."""
        def ready() -> bool:
            return path.exists() and len(path.read_text().split()) >= count

        assert cls.wait_until(ready, timeout), f"{path} was not written"
        return [int(p) for p in path.read_text().split()]


@pytest.fixture
def procs() -> type[Processes]:
    return Processes


@pytest.fixture
def marked_env() -> Iterator[tuple[str, dict[str, str]]]:
    """An environment whose every descendant process can be found again; all are killed at teardown."""
    marker = f"shell-{os.getpid()}-{time.monotonic_ns()}"
    env = dict(os.environ, ORCH_TEST_MARK=marker)
    env.pop("ORCH_LOG_LEVEL", None)
    yield marker, env
    for pid in Processes.marked(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
