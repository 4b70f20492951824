"""The JSON documents the API answers with, read from the state store.

Each function takes an open store (or ``None`` while no store exists) and returns
plain data. A run reference is what the commands accept: a full id, a unique
prefix of one, or ``latest``. Each document that a live view builds on carries the
``cursor``: the id of the newest event when it was read, where the event stream
should continue so that nothing falls between the two.
"""

from __future__ import annotations

from typing import Any

from orchestrator_core.errors import UsageError, utc_timestamp
from orchestrator_core.state.store import RunRecord, StateStore
from orchestrator_core.server.access import HttpError

# What a step of a run shows as, beyond the recorded ``ok`` and ``error``.
RUNNING, PENDING, NOT_RUN = "running", "pending", "not_run"


def find_run(store: StateStore | None, reference: str) -> RunRecord:
    if store is None:
        raise HttpError(404, "unknown_run", f"no run {reference!r}: no run has been recorded yet")
    try:
        return store.get_run(reference)
    except UsageError as exc:
        raise HttpError(404, "unknown_run", str(exc)) from None


def runs(store: StateStore | None, *, recipe: str | None, limit: int) -> dict[str, Any]:
    if store is None:
        return {"runs": [], "cursor": 0}
    records = store.runs(recipe=recipe, limit=limit)
    counts = store.step_counts([r.id for r in records])
    return {"runs": [dict(r.to_dict(), counts=counts.get(r.id, {})) for r in records],
            "cursor": store.last_event_id()}


def run(store: StateStore | None, reference: str) -> dict[str, Any]:
    """A run with every step of its plan: status, timings, and the DAG to draw."""
    record = find_run(store, reference)
    assert store is not None
    cursor = store.last_event_id()
    results = {r["step"]: r for r in store.step_results(record.id)}
    journal = store.run_events(record.id, names=("run_start", "step_start"))
    start = next((e for e in journal if e["event"] == "run_start"), {})
    started = {e["step"]: e["ts"] for e in journal if e["event"] == "step_start"}
    plan = record.flags.get("plan") or start.get("plan") or list(results)
    running = record.shown_status == "running"
    steps = []
    for name in plan:
        result = results.get(name)
        if result is not None:
            entry = dict(result)
        else:
            entry = {"step": name, "status": (RUNNING if name in started else PENDING) if running else NOT_RUN}
        entry["started"] = started.get(name) or _started_from(result)
        steps.append(entry)
    depends_on = start.get("depends_on", {})
    return {"run": dict(record.to_dict(), counts=store.step_counts([record.id])[record.id]),
            "steps": steps, "depends_on": depends_on, "layout": _layout(plan, depends_on), "cursor": cursor}


DETAIL_CHARS = 26  # room in each box for the live second line: "running · process · 12.34 s"


def _layout(plan: list[str], depends_on: dict[str, list[str]]) -> dict[str, Any]:
    """Where the dashboard draws each step: the layout of the report's SVG (one layout, two pictures)."""
    from orchestrator_core.display.dag import PlainNode, placement_document

    nodes = [PlainNode(name, tuple(depends_on.get(name, ()))) for name in plan]
    return placement_document(nodes, detail_chars=DETAIL_CHARS)


def step(store: StateStore | None, reference: str, name: str) -> dict[str, Any]:
    """One step of a run, for the dashboard's step panel: its entry in the run, params, and the keys it wrote."""
    document = run(store, reference)
    entry = next((s for s in document["steps"] if s["step"] == name), None)
    if entry is None:
        plan = [s["step"] for s in document["steps"]]
        raise HttpError(404, "unknown_step", f"run {document['run']['id']} has no step {name!r}"
                                             f"{_close_match(name, plan)}")
    assert store is not None
    record = find_run(store, reference)
    writes = [{"key": w["key"], "value": w["value"], "ts": w["ts"]}
              for w in store.writes(record.id) if w["step"] == name and not w["carried"]]
    return {"run": document["run"], "step": entry, "depends_on": document["depends_on"].get(name, []),
            "params": _recipe_params(record.recipe_path, name), "writes": writes, "cursor": document["cursor"]}


def _recipe_params(path: str | None, name: str) -> dict[str, Any] | None:
    """The ``params`` the recipe file gives step ``name`` (read again: the store keeps no params)."""
    import yaml

    try:
        with open(path or "", encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError):
        return None
    for item in (data or {}).get("steps", []) if isinstance(data, dict) else []:
        if isinstance(item, dict) and item.get("name") == name:
            params = item.get("params")
            return params if isinstance(params, dict) else {}
    return None


def _started_from(result: dict[str, Any] | None) -> str | None:
    """When a finished step started, from its result: runs that no server watched journal no starts."""
    if result is None or result.get("finished") is None:
        return None
    return utc_timestamp(result["finished"] - (result.get("duration_ms") or 0) / 1000)


def context(store: StateStore | None, reference: str) -> dict[str, Any]:
    """The run's context: key → value, who wrote it, in which step, when."""
    record = find_run(store, reference)
    assert store is not None
    return {"run": record.id, "context": store.context(record.id), "cursor": store.last_event_id()}


def key(store: StateStore | None, reference: str, name: str) -> dict[str, Any]:
    """One key of the run: its value and who wrote it, with every write of it (as ``orch context show KEY --history``)."""
    record = find_run(store, reference)
    assert store is not None
    writes = store.writes(record.id, name)
    if not writes:
        known = store.context(record.id)
        hint = _close_match(name, list(known))
        raise HttpError(404, "unknown_key", f"run {record.id} has no key {name!r}{hint}")
    last = writes[-1]
    history = store.key_history(name, recipe=record.recipe, until=record.started)
    return {"run": record.id, "key": name, "value": last["value"], "who": last["who"], "step": last["step"],
            "ts": last["ts"], "history": history}


def _close_match(name: str, known: list[str]) -> str:
    import difflib

    found = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {found[0]!r}?" if found else ""
