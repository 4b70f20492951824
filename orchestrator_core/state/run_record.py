"""One recorded run as the store's ``runs`` table holds it, and as commands show it.

Its shown status is the stored one, but for a run recorded ``running`` whose process is
gone (its lock is free: :mod:`.liveness`), which is shown as ``killed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator_core.records import Record
from orchestrator_core.state.liveness import run_alive

__all__ = ["RunRecord"]


class RunRecord(Record):
    """One row of ``runs``; ``shown_status`` says ``killed`` for a run whose process is gone.

    ``state_dir`` is where the run's lock file would be (see :mod:`.liveness`).
    """

    __slots__ = ("id", "recipe", "recipe_path", "recipe_digest", "started", "finished", "status", "flags", "pid",
                 "state_dir")
    _unequal = ("state_dir",)

    def __init__(self, id: str, recipe: str, recipe_path: str | None, recipe_digest: str | None,  # noqa: A002
                 started: float, finished: float | None, status: str, flags: dict[str, Any] | None = None,
                 pid: int | None = None, state_dir: Path | None = None):
        self.id = id
        self.recipe = recipe
        self.recipe_path = recipe_path
        self.recipe_digest = recipe_digest
        self.started = started
        self.finished = finished
        self.status = status
        self.flags = {} if flags is None else flags
        self.pid = pid
        self.state_dir = state_dir

    @property
    def shown_status(self) -> str:
        if self.status == "running" and not run_alive(self.state_dir, self.id, self.pid):
            return "killed"
        return self.status

    @property
    def duration_ms(self) -> float | None:
        return round((self.finished - self.started) * 1000, 3) if self.finished else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "recipe": self.recipe, "recipe_path": self.recipe_path,
            "recipe_digest": self.recipe_digest, "started": self.started, "finished": self.finished,
            "duration_ms": self.duration_ms, "status": self.shown_status, "flags": self.flags, "pid": self.pid,
        }
