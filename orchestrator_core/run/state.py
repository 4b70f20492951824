"""The state of one run, as hooks see it."""

from __future__ import annotations

import os
import time
from typing import Any

from orchestrator_core.config import Config
from orchestrator_core.run.context import Context
from orchestrator_core.model import Recipe, Step, StepResult
from orchestrator_core.records import Record


def new_run_id() -> str:
    """A sortable, unique run id: UTC time then random hex (``20261128T141800-3f9a2c``)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{stamp}-{os.urandom(3).hex()}"


class Run(Record):
    """One run of a recipe: its plan, context and results so far.

    ``plan`` lists the steps that will run, in plan order; ``flags`` records how they
    were selected (``only``, ``skip``, ``resume_from``) for the state store and reports.
    ``notes`` are remarks for a reader of a run read back from the store (a recipe
    file that changed since the run, see :mod:`orchestrator_core.run.recorded`).
    ``reason`` says why the run is not ok when no step's failure does: the error that
    stopped it (stdout or the state store could not be written), or an output a plugin
    could not write (``--events FILE`` on a full disk). A run with a reason ends as
    ``error``; the reason is in its ``run_finish`` event (``orch runs show``).
    ``unrecorded`` names the steps that finished but whose group the store refused (a
    full disk): they are not in ``results``, and the summary counts them apart.
    """

    __slots__ = ("recipe", "plan", "config", "context", "id", "flags", "results", "status", "started", "finished",
                 "pid", "notes", "reason", "unrecorded")
    _unequal = ("unrecorded",)

    def __init__(self, recipe: Recipe, plan: list[Step], config: Config, context: Context,
                 id: str | None = None,  # noqa: A002 - the run's id, as the store's column
                 flags: dict[str, Any] | None = None, results: dict[str, StepResult] | None = None,
                 status: str = "running", started: float | None = None, finished: float | None = None,
                 pid: int | None = None, notes: list[str] | None = None):
        self.recipe = recipe
        self.plan = plan
        self.config = config
        self.context = context
        self.id = new_run_id() if id is None else id
        self.flags = {} if flags is None else flags
        self.results = {} if results is None else results
        self.status = status
        self.started = time.time() if started is None else started
        self.finished = finished
        self.pid = os.getpid() if pid is None else pid
        self.notes = [] if notes is None else notes  # remarks for a reader of a run read back (recorded.py)
        self.reason: str | None = None  # why the run is not ok, beyond its steps' own failures
        self.unrecorded: list[str] = []
