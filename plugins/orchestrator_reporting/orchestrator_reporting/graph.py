"""A recipe's steps as a graph, written as Mermaid (renders on GitHub) or Graphviz DOT.

Two sources give the same :class:`Graph`: the plan of a recipe before it runs
(``orch graph``: executor, parallel, cached, from the validated steps) and a run
(``orch report``: each step's status, executor, cache hit and duration). Steps of
the recipe that a run did not select (``--only``, ``--skip``) stay in the graph,
marked ``not selected``, so the picture is always the whole recipe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

import orchestrator_core.display.dag as dag_drawing

from .outcome import INTERRUPTED, NOT_RUN
from .templating import format_ms

if TYPE_CHECKING:
    from orchestrator_core.model import Recipe
    from orchestrator_core.run.state import Run

NOT_SELECTED = "not selected"

# Mermaid's flowchart keywords cannot be node ids; such steps get a numbered id.
_MERMAID_KEYWORDS = {"end", "graph", "subgraph", "flowchart", "style", "class", "classdef", "click",
                     "linkstyle", "direction", "default"}
_SAFE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

# status class → Mermaid/DOT colours (fill, stroke, text): the core's, shared with the SVG drawing.
STYLES = dag_drawing.STYLES


@dataclass(frozen=True)
class Node:
    """One step: what it depends on, and what is known about it (plan or outcome)."""

    name: str
    depends_on: tuple[str, ...] = ()
    executor: str | None = None
    parallel: bool = False
    cached: bool = False
    status: str | None = None  # None in a plan; ok, error, "not run", "not selected" in a run
    cache: str | None = None  # hit or miss, for a step that ran cached
    duration_ms: float | None = None

    @property
    def style(self) -> str:
        """The style class: the outcome of a run's step, ``plan`` for a step not run yet."""
        if self.status is None:
            return "plan"
        if self.status == "ok" and self.cache == "hit":
            return "hit"
        if self.status == INTERRUPTED:  # drawn as the dashboard draws a step running: what it was when cut short
            return "running"
        return self.status.replace(" ", "_")

    @property
    def details(self) -> list[str]:
        """The second line of the node's label."""
        if self.status is None:
            return [part for part in (self.executor, "parallel" if self.parallel else None,
                                      "cached" if self.cached else None) if part]
        parts = [self.status]
        if self.status not in (NOT_RUN, NOT_SELECTED):
            parts += [self.executor or "", format_ms(self.duration_ms) if self.duration_ms is not None else ""]
            if self.cache == "hit":
                parts.append("cache hit")
        return [part for part in parts if part]


@dataclass
class Graph:
    """The steps of a recipe (in recipe order) and their dependencies."""

    title: str
    nodes: list[Node] = field(default_factory=list)

    @property
    def edges(self) -> list[tuple[str, str]]:
        """(dependency, dependent) pairs, in recipe order."""
        return [(dep, node.name) for node in self.nodes for dep in node.depends_on]

    def node_ids(self) -> dict[str, str]:
        """Step name → an id Mermaid accepts: the name itself when it can be, else ``step_N``."""
        ids = {}
        for i, node in enumerate(self.nodes):
            safe = _SAFE_ID.match(node.name) and node.name.lower() not in _MERMAID_KEYWORDS
            ids[node.name] = node.name if safe else f"step_{i + 1}"
        return ids

    def mermaid(self) -> str:
        """A Mermaid flowchart, top to bottom, nodes coloured by their style class."""
        ids = self.node_ids()
        lines = ["flowchart TD"]
        for node in self.nodes:
            label = "<br/>".join(_mermaid_text(part) for part in [node.name, *([" · ".join(node.details)]
                                                                              if node.details else [])])
            lines.append(f'    {ids[node.name]}["{label}"]')
        lines += [f"    {ids[dep]} --> {ids[name]}" for dep, name in self.edges]
        used: dict[str, list[str]] = {}
        for node in self.nodes:
            used.setdefault(node.style, []).append(ids[node.name])
        for style, members in used.items():
            fill, stroke, text = STYLES[style]
            dashed = ",stroke-dasharray:4 3" if style in ("not_run", "not_selected") else ""
            lines.append(f"    classDef {style} fill:{fill},stroke:{stroke},color:{text}{dashed}")
            lines.append(f"    class {','.join(members)} {style}")
        return "\n".join(lines) + "\n"

    def dot(self) -> str:
        """A Graphviz digraph (``dot -Tsvg``), nodes filled by their style class."""
        lines = [f"digraph {_dot_text(self.title)} {{", "    rankdir=TB;",
                 '    node [shape=box, style="rounded,filled", fontname="Helvetica"];']
        for node in self.nodes:
            fill, stroke, text = STYLES[node.style]
            label = "\n".join([node.name, *([", ".join(node.details)] if node.details else [])])
            lines.append(f'    {_dot_text(node.name)} [label={_dot_text(label)}, fillcolor="{fill}", '
                         f'color="{stroke}", fontcolor="{text}"];')
        lines += [f"    {_dot_text(dep)} -> {_dot_text(name)};" for dep, name in self.edges]
        lines.append("}")
        return "\n".join(lines) + "\n"


# Mermaid's entity codes for what would end a label, be read as HTML, or close the Markdown
# fence around the diagram; a line break would end the node's line.
_MERMAID_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "`": "#96;", "\r": " ", "\n": " "}
_MERMAID_SPECIAL = re.compile('[#"<>`\r\n]')


def _mermaid_text(text: str) -> str:
    """Text shown as it is in a Mermaid label (quoted), whatever characters it holds."""
    return _MERMAID_SPECIAL.sub(lambda m: _MERMAID_ENTITIES[m.group()], text)


def _dot_text(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def graph_of_plan(recipe: Recipe, prepared: Mapping[str, Any]) -> Graph:
    """The graph of ``recipe`` before it runs; ``prepared`` maps step names to prepared steps."""
    nodes = []
    for step in recipe.steps:
        item = prepared.get(step.name)
        nodes.append(Node(
            step.name, tuple(step.depends_on), executor=getattr(item, "executor", None) or step.executor,
            parallel=bool(getattr(item, "parallel", step.parallelizable)),
            cached=bool(step.cache or step.cache_key),
        ))
    return Graph(recipe.name, nodes)


def graph_of_run(run: Run, statuses: Mapping[str, str] | None = None) -> Graph:
    """The graph of ``run``'s recipe, each step with its outcome in the run.

    ``statuses``: each planned step's status (:func:`.outcome.step_statuses`), read from
    the run's store when not given.
    """
    if statuses is None:
        from .outcome import step_statuses

        statuses = step_statuses(run)
    nodes = []
    for step in run.recipe.steps:
        result = run.results.get(step.name)
        if result is not None:
            status = result.status
        else:
            status = statuses.get(step.name, NOT_SELECTED)
        nodes.append(Node(
            step.name, tuple(step.depends_on), executor=result.executor if result else step.executor,
            parallel=bool(step.parallelizable), cached=bool(step.cache or step.cache_key), status=status,
            cache=result.cache if result else None,
            duration_ms=result.metrics.get("duration_ms") if result else None,
        ))
    return Graph(run.recipe.name, nodes)
