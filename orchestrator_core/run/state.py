"""The state of one run, as hooks see it."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

from orchestrator_core.config import Config
from orchestrator_core.run.context import Context
from orchestrator_core.model import Recipe, Step, StepResult


def new_run_id() -> str:
    """A sortable, unique run id: UTC time then random hex (``20261128T141800-3f9a2c``)."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    return f"{stamp}-{os.urandom(3).hex()}"


@dataclass
class Run:
    """One run of a recipe: its plan, context and results so far.

    ``plan`` lists the steps that will run, in plan order; ``flags`` records how they
    were selected (``only``, ``skip``, ``resume_from``) for the state store and reports.
    ``notes`` are remarks for a reader of a run read back from the store (a recipe
    file that changed since the run, see :mod:`orchestrator_core.run.recorded`).
    """

    recipe: Recipe
    plan: list[Step]
    config: Config
    context: Context
    id: str = field(default_factory=new_run_id)
    flags: dict[str, Any] = field(default_factory=dict)
    results: dict[str, StepResult] = field(default_factory=dict)
    status: str = "running"
    started: float = field(default_factory=time.time)
    finished: float | None = None
    pid: int = field(default_factory=os.getpid)
    notes: list[str] = field(default_factory=list)  # remarks for a reader of a run read back (recorded.py)
