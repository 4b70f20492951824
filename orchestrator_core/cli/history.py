"""What the state store remembers: ``orch runs``, ``orch context show``, ``orch why``.

(``orch cache clear`` is the cache plugin's: builtin/cache_command.py.)

Each command reads the store in ``--state-dir`` (default ``./.orch``, or
``$ORCH_STATE_DIR``) and never creates one: with no run recorded there is simply
nothing to show. ``--json`` prints one JSON document on stdout.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from orchestrator_core.cli.common import (  # noqa: F401 - resolved_state_dir, open_store: their old home
    SessionHolder, json_option, open_store, pass_holder, print_json, print_table, resolved_state_dir, state_dir_option,
)

STATE_DIR_ENV = "ORCH_STATE_DIR"

run_option = click.option("--run", "run_ref", default="latest", show_default=True, metavar="RUN",
                          help="A run id, a unique prefix of one, or 'latest'.")


def _when(stamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp)) if stamp else "-"


def _ms(value: float | None) -> str:
    from orchestrator_core.display.durations import format_duration

    return format_duration(value)


def _short(value: Any, width: int = 60) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= width else text[:width - 1] + "…"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no step finished"


# -- orch runs ---------------------------------------------------------------------------------
@click.group()
def runs() -> None:
    """Recorded runs: list them, show one, compare two."""


@runs.command("list")
@click.option("--recipe", metavar="NAME", help="Only runs of this recipe.")
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True, help="Newest N runs (0: all).")
@state_dir_option
@json_option
def runs_list(recipe: str | None, limit: int, state_dir: Path | None, as_json: bool) -> None:
    """Recorded runs, newest first; a run whose process died while running shows as 'killed'."""
    store = open_store(state_dir, required=False)
    records, counts = [], {}
    if store is not None:
        try:
            records = store.runs(recipe=recipe, limit=limit or None)
            counts = store.step_counts([r.id for r in records])
        finally:
            store.close()
    rows = [dict(r.to_dict(), steps=counts.get(r.id, {})) for r in records]
    if as_json:
        print_json(rows)
        return
    print_table(["ID", "RECIPE", "STATUS", "STARTED", "DURATION", "STEPS"],
                [[r["id"], r["recipe"], r["status"], _when(r["started"]), _ms(r["duration_ms"]), _counts(r["steps"])]
                 for r in rows])


@runs.command("show")
@click.argument("run_ref", metavar="RUN", default="latest")
@state_dir_option
@json_option
def runs_show(run_ref: str, state_dir: Path | None, as_json: bool) -> None:
    """One run: its recipe, flags, status, and each step's status, timings, memory and error.

    Steps of the plan that did not finish are listed as 'not run' (blocked by a failure),
    'not finished' (the run was killed or interrupted: they may have been running) or 'not
    finished yet' (the run still goes on). A run that is not ok though no step failed
    shows why (its ``run_finish`` event's reason): what stopped it, or an output it could not write.
    """
    store = open_store(state_dir)
    try:
        record = store.get_run(run_ref)
        steps = store.step_results(record.id)
        reason = next((e.get("reason") for e in reversed(store.run_events(record.id, names=("run_finish",)))), None)
    finally:
        store.close()
    finished = {s["step"] for s in steps}
    not_run = [name for name in record.flags.get("plan", []) if name not in finished]
    unfinished = _UNFINISHED.get(record.shown_status, "not run")
    document = dict(record.to_dict(), reason=reason, steps=steps, not_run=not_run, unfinished_status=unfinished)
    if as_json:
        print_json(document)
        return
    flags = {k: v for k, v in record.flags.items() if v not in (None, [], False) and k != "plan"}
    click.echo(f"run       {record.id}\nrecipe    {record.recipe} ({record.recipe_path or '-'})\n"
               f"status    {record.shown_status}\n" + (f"reason    {reason}\n" if reason else "")
               + f"started   {_when(record.started)}\n"
               f"duration  {_ms(record.duration_ms)}\nflags     {json.dumps(flags, default=str)}\n")
    print_table(
        ["STEP", "STATUS", "DURATION", "CPU", "PEAK RSS", "CACHE", "ATTEMPTS", "EXECUTOR", "ERROR"],
        [[s["step"], s["status"], _ms(s["duration_ms"]), _ms(s["cpu_ms"]),
          f"{s['peak_rss_kb'] / 1024:.1f} MiB" if s["peak_rss_kb"] else "-", s["cache"] or "-", s["attempts"],
          s["executor"] or "-", (s["error"] or {}).get("reason", "")] for s in steps]
        + [[name, unfinished, "-", "-", "-", "-", "-", "-", ""] for name in not_run],
    )


# What a step of the plan without a result is, by the run's status: one a kill or Ctrl-C stopped
# may have been running (so not "not run"), and a run still going will get to it.
_UNFINISHED = {"running": "not finished yet", "killed": "not finished", "interrupted": "not finished"}


@runs.command("diff")
@click.argument("run_a", metavar="A")
@click.argument("run_b", metavar="B")
@click.option("--runner-keys", is_flag=True, help="Include the runner's own '_runner.*' keys (timings).")
@state_dir_option
@json_option
def runs_diff(run_a: str, run_b: str, runner_keys: bool, state_dir: Path | None, as_json: bool) -> None:
    """Which context keys differ between runs A and B (added, removed, changed)."""
    from orchestrator_core.run.fingerprint import same_json  # 1, 1.0 and true are three values here

    store = open_store(state_dir)
    try:
        a, b = store.get_run(run_a), store.get_run(run_b)
        before = {k: e["value"] for k, e in store.context(a.id).items()}
        after = {k: e["value"] for k, e in store.context(b.id).items()}
    finally:
        store.close()
    if not runner_keys:
        before = {k: v for k, v in before.items() if not k.startswith("_runner.")}
        after = {k: v for k, v in after.items() if not k.startswith("_runner.")}
    document = {
        "a": a.id, "b": b.id,
        "added": {k: after[k] for k in sorted(after.keys() - before.keys())},
        "removed": {k: before[k] for k in sorted(before.keys() - after.keys())},
        "changed": {k: {"a": before[k], "b": after[k]} for k in sorted(before.keys() & after.keys())
                    if not same_json(before[k], after[k])},
        "unchanged": sorted(k for k in before.keys() & after.keys() if same_json(before[k], after[k])),
    }
    if as_json:
        print_json(document)
        return
    click.echo(f"A = {a.id} ({a.recipe})\nB = {b.id} ({b.recipe})\n")
    rows = ([[k, "added", "-", _short(v, 40)] for k, v in document["added"].items()]
            + [[k, "removed", _short(v, 40), "-"] for k, v in document["removed"].items()]
            + [[k, "changed", _short(v["a"], 40), _short(v["b"], 40)] for k, v in document["changed"].items()])
    print_table(["KEY", "CHANGE", "A", "B"], sorted(rows))
    click.echo(f"\n{len(document['unchanged'])} key(s) unchanged")


# -- orch context --------------------------------------------------------------------------------
@click.group()
def context() -> None:
    """The context recorded runs ended with."""


@context.command("show")
@click.argument("key", required=False)
@click.option("--history", is_flag=True,
              help="Every write: of KEY in the runs of the recipe up to RUN, or (no KEY) every write of RUN.")
@run_option
@click.option("--recipe", metavar="NAME", help="The latest run of this recipe (instead of --run).")
@state_dir_option
@json_option
def context_show(key: str | None, history: bool, run_ref: str, recipe: str | None, state_dir: Path | None,
                 as_json: bool) -> None:
    """The context of the latest run (or --run RUN): every key, or the value of KEY."""
    from orchestrator_core.errors import UsageError, did_you_mean

    store = open_store(state_dir)
    try:
        record = _pick_run(store, run_ref, recipe)
        values = store.context(record.id)
        if history:
            writes = (store.key_history(key, recipe=record.recipe, until=record.started) if key
                      else store.writes(record.id))
    finally:
        store.close()
    if key is not None and key not in values and not (history and writes):
        raise UsageError(f"no key {key!r} in the context of run {record.id}{did_you_mean(key, list(values))}")
    if history:
        if as_json:
            print_json(writes)
        else:
            print_table(["RUN", "TS", "KEY", "WHO", "STEP", "VALUE"],
                        [[w["run"], w["ts"], w["key"], w["who"], w["step"] or "-", _short(w["value"])]
                         for w in writes])
        return
    if key is not None:
        value = values[key]["value"]
        print_json(value) if as_json else click.echo(json.dumps(value, indent=2, default=str))
        return
    if as_json:
        print_json({k: e["value"] for k, e in values.items()})
        return
    click.echo(f"run {record.id} ({record.recipe}, {record.shown_status})", err=True)
    print_table(["KEY", "VALUE", "WHO", "STEP"],
                [[k, _short(e["value"]), e["who"], e["step"] or "-"] for k, e in values.items()])


def _pick_run(store: Any, run_ref: str, recipe: str | None) -> Any:
    from orchestrator_core.errors import UsageError

    if recipe is None:
        return store.get_run(run_ref)
    record = store.latest_run(recipe)
    if record is None:
        raise UsageError(f"no recorded run of recipe {recipe!r} in {store.path}")
    return record


# -- orch why / orch run --dry-run ---------------------------------------------------------------
@click.command()
@click.argument("recipe")
@click.argument("step")
@state_dir_option
@json_option
@pass_holder
def why(holder: SessionHolder, recipe: str, step: str, state_dir: Path | None, as_json: bool) -> None:
    """Would STEP of RECIPE run or be a cache hit, and why (what changed since it was cached)."""
    from orchestrator_core.config import Config
    from orchestrator_core.errors import UsageError, did_you_mean

    session = holder.session(Config(state_dir=state_dir))
    entries = {e["step"]: e for e in session.explain(recipe)}
    if step not in entries:
        raise UsageError(f"no step named {step!r} in the recipe{did_you_mean(step, list(entries))}")
    entry = entries[step]
    if as_json:
        print_json(entry)
        return
    click.echo(f"{step}: would {'be a cache hit' if entry['would'] == 'hit' else 'run'}: {entry['reason']}")
    if entry["key"]:
        click.echo(f"  fingerprint        {entry['key']}")
        click.echo(f"  last recorded      {entry['previous_key'] or '-'}")
    if entry["assumes"]:
        click.echo(f"  assumes unchanged  output of {', '.join(entry['assumes'])}")


def print_explanation(entries: list[dict[str, Any]], as_json: bool) -> None:
    """What ``orch run --dry-run`` prints: one row (or JSON object) per step."""
    if as_json:
        print_json(entries)
        return
    print_table(["STEP", "WOULD", "WHY"], [[e["step"], e["would"], e["reason"]] for e in entries])


COMMANDS = (runs, context, why)
