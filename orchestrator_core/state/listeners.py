"""Who watches a state store live, so that runs journal their step events only when someone does.

Journaling every step's start and finish for the events stream costs a run about as
much again as recording the step itself. Only a server (``orch serve``, ``orch run
--serve``) reads that journal, so each one leaves a file ``listeners/PID-PORT`` in the
state directory while it runs, and a run journals step events only while such a file
names a live process. A run looks again at most every ``CHECK_S``, so a server
started in the middle of a run sees that run's steps from then on (what finished
before is in the store all the same). Run start and finish are always journaled.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .reader import pid_alive

DIRECTORY = "listeners"
CHECK_S = 0.25


def register(state_dir: Path, port: int) -> Path:
    """Announce a server of ``state_dir``; returns the file to :func:`unregister` when it stops."""
    folder = Path(state_dir) / DIRECTORY
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"{os.getpid()}-{port}"
    marker.write_text(f"{port}\n")
    return marker


def unregister(marker: Path) -> None:
    marker.unlink(missing_ok=True)


class ListenerCheck:
    """Whether a live server watches the store in ``state_dir``, looked up at most every ``CHECK_S``."""

    def __init__(self, state_dir: Path):
        self._folder = Path(state_dir) / DIRECTORY
        self._answer = False
        self._checked = float("-inf")

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._checked >= CHECK_S:
            self._checked = now
            pids = (_pid(marker.name) for marker in self._markers())
            self._answer = any(pid is not None and pid_alive(pid) for pid in pids)
        return self._answer

    def _markers(self) -> list[Path]:
        try:
            return list(self._folder.iterdir())
        except OSError:
            return []


def _pid(name: str) -> int | None:
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() and int(head) > 0 else None
