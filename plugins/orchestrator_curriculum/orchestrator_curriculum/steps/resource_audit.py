"""resource_audit: one summary of what the run's steps cost so far (guide §16).

Params: none.
Reads: ``_runner.step_metrics_v1``, the runner's per-step figures (step → ``duration_ms``,
``cpu_ms``, ``peak_rss_kb``, ``executor``, ``status``, ``cache``...), for the steps that
finished before this one.
Writes: ``resource.audit_v1`` = ``{"steps", "ok", "failed", "total_duration_ms",
"max_duration_ms", "slowest_step", "total_cpu_ms", "peak_rss_kb", "peak_rss_step",
"executors", "cache_hits"}``: ``failed`` lists failed steps; ``executors`` counts the steps
that ran on each executor (a cache hit runs on none); times are in milliseconds (rounded to 0.001), memory in KiB. With no
figures (run alone) every count is 0 and the step names are null.
"""

from __future__ import annotations

from orchestrator_core import METRICS_KEY
from orchestrator_curriculum.base import CurriculumScriptlet



def _figure(entry: dict, name: str) -> float:
    value = entry.get(name)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def _largest(metrics: dict[str, dict], name: str) -> str | None:
    if not metrics:
        return None
    return max(metrics, key=lambda step: _figure(metrics[step], name))


def audit(metrics: dict[str, dict]) -> dict:
    """The ``resource.audit_v1`` value for the runner's per-step ``metrics``."""
    executors: dict[str, int] = {}
    for entry in metrics.values():
        if entry.get("cache") == "hit":
            continue  # served from the cache: it ran on no executor
        executor = str(entry.get("executor") or "unknown")
        executors[executor] = executors.get(executor, 0) + 1
    slowest, hungriest = _largest(metrics, "duration_ms"), _largest(metrics, "peak_rss_kb")
    return {
        "steps": len(metrics),
        "ok": sum(1 for entry in metrics.values() if entry.get("status") == "ok"),
        "failed": sorted(step for step, entry in metrics.items() if entry.get("status") == "error"),
        "total_duration_ms": round(sum(_figure(e, "duration_ms") for e in metrics.values()), 3),
        "max_duration_ms": round(_figure(metrics[slowest], "duration_ms"), 3) if slowest else 0.0,
        "slowest_step": slowest,
        "total_cpu_ms": round(sum(_figure(e, "cpu_ms") for e in metrics.values()), 3),
        "peak_rss_kb": int(_figure(metrics[hungriest], "peak_rss_kb")) if hungriest else 0,
        "peak_rss_step": hungriest,
        "executors": dict(sorted(executors.items())),
        "cache_hits": sum(1 for entry in metrics.values() if entry.get("cache") == "hit"),
    }


class ResourceAudit(CurriculumScriptlet):
    """Turn the runner's raw per-step figures into the few numbers a report or a person reads."""

    name = "resource_audit"
    outputs = ("resource.audit_v1",)
    inputs = (METRICS_KEY,)

    def run(self, ctx, params):
        metrics = ctx.get(METRICS_KEY) or {}
        metrics = {step: entry for step, entry in metrics.items() if isinstance(entry, dict)}
        ctx.set("resource.audit_v1", audit(metrics))


if __name__ == "__main__":
    ResourceAudit.main()
