"""The reference tables of the docs name what the code has: the built-in plugins of
docs/architecture.md, and every event field (``run_start.flags`` included) of docs/events.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

from orchestrator_core.plugin.manager import BUILTIN_PLUGINS

DOCS = Path(__file__).parents[1] / "docs"
COMMON = {"schema", "event", "ts", "run"}


def top_level(text: str) -> tuple[set[str], dict[str, str]]:
    """The backticked names outside parentheses, and the text in the parentheses after each."""
    names, inner, depth, current, last = set(), {}, 0, [], None
    for part in re.split(r"(\(|\))", text):
        opening, closing = part == "(", part == ")"
        depth += opening - closing
        if depth == 0 and not closing:
            found = re.findall(r"`([^`]+)`", part)
            names.update(found)
            last = found[-1] if found else last
        elif last is not None and not (opening and depth == 1):
            inner[last] = inner.get(last, "") + part
    return names, inner


def event_table() -> dict[str, str]:
    rows = {}
    for line in (DOCS / "events.md").read_text().splitlines():
        found = re.match(r"\| `(\w+)` \| (.*) \|$", line)
        if found and found.group(1) not in COMMON:  # the table of the fields every event has
            rows[found.group(1)] = found.group(2)
    return rows


def test_the_built_in_plugins_table_lists_every_built_in():
    text = (DOCS / "architecture.md").read_text()
    table = dict(re.findall(r"^\| `(\w+)` \| `([\w/.]+)` \|", text, flags=re.M))
    expected = {name: module.partition(":")[0].removeprefix("orchestrator_core.").replace(".", "/") + ".py"
                for name, module in BUILTIN_PLUGINS}
    assert table == expected


def test_every_event_has_the_fields_docs_events_md_lists(orch_cli, sample_pack_path, tmp_path):
    (tmp_path / "r.yaml").write_text("name: r\nsteps:\n"
                                     "  - {name: a, uses: write_keys, params: {values: {t.a_v1: 1}}}\n"
                                     "  - {name: b, uses: fail, depends_on: []}\n")
    outcome = orch_cli("run", "r.yaml", "--no-progress", "--keep-going", "--events", "events.jsonl",
                       pythonpath=[sample_pack_path])
    assert outcome.exit_code == 1, outcome.err
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    documented = event_table()
    assert {e["event"] for e in events} == set(documented)
    for event in events:
        names, inner = top_level(documented[event["event"]])
        assert set(event) - COMMON == names, event["event"]
        if event["event"] == "run_start":
            flags, _ = top_level(inner["flags"])
            assert set(event["flags"]) == flags
