"""What a report says about a run, gathered once for every format.

:func:`build_report` turns a :class:`~orchestrator_core.run.state.Run` (a live one, or
one read back from the state store by :mod:`.recorded`) into plain data: the run,
one row per step of its plan, the context keys with who wrote them, the errors
with their details, the metrics flattened, and the graph. The Markdown, HTML and
workbook writers only format this data, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .graph import Graph, graph_of_run
from .metrics import flatten_metrics
from .outcome import step_statuses

if TYPE_CHECKING:
    from orchestrator_core.run.state import Run


# How a plain `orch run` runs; the report lists only the flags that differ.
DEFAULT_FLAGS: dict[str, Any] = {"only": [], "skip": [], "resume_from": None, "started_from_run": None,
                                 "keep_going": False, "executor": None, "cache": True}


@dataclass
class StepRow:
    """One step of the plan and what it cost; without a result, ``status`` is ``interrupted`` (the run
    stopped while it was running or ready to run) or ``not run`` (see :mod:`.outcome`)."""

    step: str
    status: str
    duration_ms: float | None = None
    cpu_ms: float | None = None
    peak_rss_kb: int | None = None
    cache: str | None = None
    attempts: int | None = None
    executor: str | None = None
    error: dict[str, Any] | None = None
    started: float | None = None  # Unix time, when recorded
    finished: float | None = None
    writes: list[str] = field(default_factory=list)  # the keys it wrote in this run


@dataclass
class ContextEntry:
    """A context key's final value and its last write: who, in which step, in which run."""

    key: str
    value: Any
    who: str
    step: str | None
    source_run: str | None = None  # set when the write was carried over from an earlier run


@dataclass
class RunReport:
    """Everything a report shows about one run."""

    run: dict[str, Any]
    steps: list[StepRow]
    context: list[ContextEntry]
    errors: list[dict[str, Any]]
    metrics: dict[str, Any]
    graph: Graph
    notes: list[str] = field(default_factory=list)
    window: tuple[float, float | None] | None = None  # the run's start and end (Unix time), for the timeline

    def variables(self) -> dict[str, Any]:
        """What a template sees: ``run``, ``steps``, ``context``, ``errors``, ``metrics``, ``mermaid``,
        ``notes`` and ``generated`` (plain dicts and lists, so user templates need nothing of ours)."""
        return {
            "run": dict(self.run),
            "steps": [asdict(row) for row in self.steps],
            "context": [asdict(entry) for entry in self.context],
            "errors": [dict(error) for error in self.errors],
            "metrics": dict(self.metrics),
            "mermaid": self.graph.mermaid(),
            "notes": list(self.notes),
            "generated": utc_iso(dt.datetime.now(dt.timezone.utc).timestamp()),
        }


def utc_iso(stamp: float | None) -> str | None:
    """A Unix time as ``2026-11-28T14:18:00Z``."""
    if stamp is None:
        return None
    return dt.datetime.fromtimestamp(stamp, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_report(run: Run, *, notes: list[str] | None = None) -> RunReport:
    """The report of ``run``: its steps in plan order, its final context and its errors."""
    values = run.context.to_dict()
    written: dict[str, list[str]] = {}
    for key in sorted(values):
        for write in run.context.history(key):
            if write.get("step") and write.get("run") in (None, run.id) and key not in written.get(write["step"], []):
                written.setdefault(write["step"], []).append(key)
    statuses = step_statuses(run)
    steps = []
    for step in run.plan:
        result = run.results.get(step.name)
        if result is None:
            steps.append(StepRow(step.name, statuses[step.name]))
            continue
        metrics = result.metrics
        steps.append(StepRow(
            step.name, result.status, metrics.get("duration_ms"), metrics.get("cpu_ms"),
            metrics.get("peak_rss_kb"), result.cache, result.attempts, result.executor, result.error,
            metrics.get("started_at"), metrics.get("finished_at"), written.get(step.name, []),
        ))
    context = []
    for key in sorted(values):
        history = run.context.history(key)
        last = history[-1] if history else {}
        source = last.get("run")
        context.append(ContextEntry(key, values[key], last.get("who") or "-", last.get("step"),
                                    source if source and source != run.id else None))
    finished = run.finished
    summary = {
        "id": run.id,
        "recipe": run.recipe.name,
        "description": run.recipe.description,
        "recipe_path": run.recipe.path,
        "status": run.status,
        "started": utc_iso(run.started),
        "finished": utc_iso(finished),
        "duration_ms": round((finished - run.started) * 1000, 3) if finished else None,
        "flags": {k: v for k, v in run.flags.items() if k != "plan" and v != DEFAULT_FLAGS.get(k)},
        "counts": _counts(steps),
    }
    return RunReport(
        run=summary,
        steps=steps,
        context=context,
        errors=[_error_view(row) for row in steps if row.error],
        metrics=flatten_metrics(values),
        graph=graph_of_run(run, statuses),
        notes=list(notes or []),
        window=(run.started, finished),
    )


def _error_view(row: StepRow) -> dict[str, Any]:
    """The error of a step, plus what a reader looks for first: ``hint``, ``stderr`` (its last lines) and
    ``other_details`` (the details without those two)."""
    error = dict(row.error or {}, step=row.step)
    details = error.get("details") if isinstance(error.get("details"), dict) else {}
    stderr = details.get("stderr_tail")
    error["hint"] = error.get("hint") or details.get("hint")
    error["stderr"] = "\n".join(map(str, stderr)) if isinstance(stderr, list) else stderr
    error["other_details"] = {k: v for k, v in details.items() if k not in ("hint", "stderr_tail")}
    return error


def timeline_svg(report: RunReport) -> str | None:
    """The run's timeline (the core's drawing, as on the dashboard), or None when no step has timings."""
    from orchestrator_core.display.timeline import Span, draw_timeline

    from .graph import Node

    timed = [row for row in report.steps if row.started is not None and row.finished is not None]
    if not timed:
        return None
    spans = [Span(row.step, Node(row.step, status=row.status, cache=row.cache).style, row.started, row.finished)
             for row in report.steps]
    start = min(row.started for row in timed if row.started is not None)
    end = max(row.finished for row in timed if row.finished is not None)
    if report.window is not None:  # from the run's start, as the dashboard draws it
        start = min(start, report.window[0])
        end = max(end, report.window[1] or end)
    return draw_timeline(spans, start, max(end, start + 0.001))


def _counts(steps: list[StepRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in steps:
        counts[row.status] = counts.get(row.status, 0) + 1
    return counts
