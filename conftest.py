"""Fixtures of the project's own tests, in ``tests/`` and ``plugins/*/tests`` alike.

The public pytest plugin (``orchestrator_core.testing``, loaded by ``addopts``) gives the
``orch_*`` fixtures pack authors use. Here: the project's helpers (``procs``, ``marked_env``,
``orch_server``), the older fixture names the project's tests use, and one override: the
project's tests see the built-in plugins only unless they register or install more, so
they do not depend on what else is installed.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import pytest

from orch_test_helpers import Processes, ServedStore, wait_for_url
from orchestrator_core.testing import orch_executable


@pytest.fixture
def orch_installed_plugins() -> bool:
    return False


@pytest.fixture(scope="session", autouse=True)
def session_recipe_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Fixtures made once per module or session (a project with recorded runs) run ``orch`` before
    any test's own folder is set: they keep read recipes here, never in ``~/.cache/orch``."""
    with pytest.MonkeyPatch.context() as patch:
        folder = tmp_path_factory.mktemp("orch-cache-session")
        patch.setenv("ORCH_CACHE_DIR", str(folder))
        patch.delenv("ORCH_NO_RECIPE_CACHE", raising=False)
        yield folder


@pytest.fixture(autouse=True)
def private_recipe_cache(session_recipe_cache: Path, tmp_path_factory: pytest.TempPathFactory,
                         monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every ``orch`` it starts) keeps read recipes in a folder of its own, never in
    ``~/.cache/orch``: a test sees no recipe another test read, and leaves nothing behind."""
    folder = tmp_path_factory.mktemp("orch-cache")
    monkeypatch.setenv("ORCH_CACHE_DIR", str(folder))
    return folder


# The names the project's tests use for the public fixtures.
@pytest.fixture
def register_plugin(orch_register_plugin: Callable[..., Any]) -> Callable[..., Any]:
    return orch_register_plugin


@pytest.fixture
def run_orch_recipe(orch_run_recipe: Callable[..., Any]) -> Callable[..., Any]:
    return orch_run_recipe


@pytest.fixture
def make_pack(orch_make_pack: Callable[..., Path]) -> Callable[..., Path]:
    return orch_make_pack


@pytest.fixture
def hook_recorder(orch_hook_recorder: Any) -> Any:
    return orch_hook_recorder


@pytest.fixture
def orch_server(tmp_path: Path) -> Iterator[Callable[..., ServedStore]]:
    """``orch_server(*args, cwd=tmp_path, env=None)``: ``orch serve --port 0 *args``, running; stopped at teardown."""
    started: list[ServedStore] = []

    def start(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> ServedStore:
        log = tmp_path / f"orch-serve-{len(started)}.log"
        environment = {**os.environ, **(env or {})}
        with open(log, "w", encoding="utf-8") as err:
            process = subprocess.Popen([orch_executable(), "serve", "--port", "0", *args], cwd=cwd or tmp_path,
                                       env=environment, stdout=subprocess.DEVNULL, stderr=err)
        served = ServedStore("", process, log)
        started.append(served)
        served.url = wait_for_url(log, process)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture
def procs() -> type[Processes]:
    return Processes


@pytest.fixture
def marked_env() -> Iterator[tuple[str, dict[str, str]]]:
    """An environment whose every descendant process can be found again; all are killed at teardown."""
    marker = f"orch-test-{os.getpid()}-{time.monotonic_ns()}"
    env = dict(os.environ, ORCH_TEST_MARK=marker)
    env.pop("ORCH_LOG_LEVEL", None)
    yield marker, env
    Processes.kill_marked(marker)

