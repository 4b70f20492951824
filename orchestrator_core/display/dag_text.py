"""A recipe's DAG for a terminal: its layers, one step a line, each with what it waits for.

The layers are those of the drawing (:mod:`orchestrator_core.display.dag`), so the
text and the pictures agree on what runs after what. Steps of one layer can run at
the same time; a layer starts once what its steps wait for is done::

    demo: 4 steps in 3 layers
    1  load
    2  left    ← load      thread · parallel
       right   ← load      thread · parallel
    3  total   ← left, right   inline · cached
"""

from __future__ import annotations

from typing import Sequence

from orchestrator_core.display.dag import DagNode, layers


def render_text(nodes: Sequence[DagNode], title: str, *, width: int = 100) -> str:
    """The layered text rendering, each line cut to ``width`` characters."""
    by_name = {node.name: node for node in nodes}
    rows = layers(nodes)
    names = [name for row in rows for name in row]
    name_width = max((len(name) for name in names), default=0)
    waits = {name: ", ".join(d for d in by_name[name].depends_on if d in by_name) for name in names}
    wait_width = max((len(text) + 2 for text in waits.values() if text), default=0)
    number_width = len(str(len(rows)))
    lines = [f"{title}: {_plural(len(names), 'step')} in {_plural(len(rows), 'layer')}"]
    for level, row in enumerate(rows, start=1):
        for i, name in enumerate(row):
            number = str(level).rjust(number_width) if i == 0 else " " * number_width
            wait = f"← {waits[name]}" if waits[name] else ""
            details = " · ".join(by_name[name].details)
            line = f"{number}  {name.ljust(name_width)}  {wait.ljust(wait_width)}  {details}".rstrip()
            lines.append(line if len(line) <= width else line[:width - 1] + "…")
    return "\n".join(lines) + "\n"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"
