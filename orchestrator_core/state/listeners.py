"""Who watches a state store live, so that runs journal their step events only when someone does.

Journaling every step's start and finish for the events stream costs a run about as
much again as recording the step itself. Only a server (``orch serve``, ``orch run
--serve``) reads that journal, so each one leaves a file ``listeners/PID-PORT`` in the
state directory while it runs, and a run journals step events only while such a file
names a live process. A run looks again at most every ``CHECK_S``, so a server
started in the middle of a run sees that run's steps from then on (what finished
before is in the store all the same). Run start and finish are always journaled.

A server is live while it holds the lock on its file (:mod:`.liveness`), not while its
process id answers: a server killed without removing its file leaves a free lock,
whatever process now has its id.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from orchestrator_core.state.liveness import held, lock_file

DIRECTORY = "listeners"
CHECK_S = 0.25


_held: dict[Path, int] = {}  # marker file -> the descriptor holding its lock


def register(state_dir: Path, port: int) -> Path:
    """Announce a server of ``state_dir``; returns the file to :func:`unregister` when it stops."""
    marker = Path(state_dir) / DIRECTORY / f"{os.getpid()}-{port}"
    _held[marker] = lock_file(marker, f"{port}\n")
    return marker


def unregister(marker: Path) -> None:
    marker.unlink(missing_ok=True)
    fd = _held.pop(marker, None)
    if fd is not None:
        os.close(fd)


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
            self._answer = any(held(marker) for marker in self._markers())
        return self._answer

    def _markers(self) -> list[Path]:
        try:
            return list(self._folder.iterdir())
        except OSError:
            return []
