"""A recipe's DAG laid out once and drawn as SVG: the picture the report, ``orch graph`` and the dashboard share.

A report must open anywhere, offline, as a single file, and the dashboard must load
nothing from a CDN, so neither can use Mermaid's JavaScript. A recipe's DAG is small
and layered, which a few lines lay out well enough (a simple Sugiyama layout): each
step sits one layer below its deepest dependency; an edge that skips layers gets an
invisible waypoint in each layer it crosses, so it runs beside the boxes, not
through them; nodes in a layer are ordered by the mean position of their parents
(fewer crossings), ties in recipe order; edges are curves from a box's bottom to the
next box's top, ending in an arrowhead.

:func:`place` computes the geometry (boxes and edge paths); :func:`draw_svg` turns it
into an ``<svg>`` element for files; the dashboard receives the same geometry as
JSON (:func:`placement_document`) and draws it in the browser, so the two pictures
are one layout. A node is anything with ``name``, ``depends_on``, ``details`` (the
second line of its label) and ``style`` (a key of :data:`STYLES`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any, Protocol, Sequence

NAME_CHAR_PX = 7.6  # bold 12 px monospace
DETAIL_CHAR_PX = 6.4  # 10.5 px monospace
BOX_HEIGHT = 44
LAYER_GAP = 44
BOX_GAP = 20
WAYPOINT_WIDTH = 10
MARGIN = 12

# style → (fill, stroke, text): the outcome of a step, or ``plan`` for a step not run yet.
STYLES: dict[str, tuple[str, str, str]] = {
    "ok": ("#dcfce7", "#16a34a", "#14532d"),
    "hit": ("#dbeafe", "#2563eb", "#1e3a8a"),
    "error": ("#fee2e2", "#dc2626", "#7f1d1d"),
    "running": ("#fef9c3", "#ca8a04", "#713f12"),
    "pending": ("#ffffff", "#9ca3af", "#4b5563"),
    "not_run": ("#f3f4f6", "#9ca3af", "#4b5563"),
    "not_selected": ("#ffffff", "#d1d5db", "#9ca3af"),
    "plan": ("#f8fafc", "#475569", "#0f172a"),
}
DASHED = ("pending", "not_run", "not_selected")


class DagNode(Protocol):
    name: str
    depends_on: Sequence[str]

    @property
    def details(self) -> Sequence[str]: ...

    @property
    def style(self) -> str: ...


@dataclass(frozen=True)
class PlainNode:
    """A node when there is nothing more to say than its name and dependencies (the dashboard's plan)."""

    name: str
    depends_on: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    style: str = "plan"


@dataclass
class Layout:
    """Rows of node ids (steps and waypoints), and the ids each drawn edge passes through."""

    rows: list[list[str]] = field(default_factory=list)
    routes: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (dep, step) → its ids, in order
    waypoints: set[str] = field(default_factory=set)


def layout(nodes: Sequence[DagNode]) -> Layout:
    """Place every step (and every waypoint of a long edge) in a layer, in crossing-reducing order."""
    by_name = {node.name: node for node in nodes}
    order = {node.name: float(i) for i, node in enumerate(nodes)}
    depth: dict[str, int] = {}

    def depth_of(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            deps = [d for d in by_name[name].depends_on if d in by_name and d not in seen]
            depth[name] = 1 + max(depth_of(d, seen | {name}) for d in deps) if deps else 0
        return depth[name]

    result = Layout()
    parents: dict[str, list[str]] = {}
    level_of: dict[str, int] = {}
    for node in nodes:
        level_of[node.name] = depth_of(node.name)
        parents.setdefault(node.name, [])
    for node in nodes:
        name = node.name
        for dep in node.depends_on:
            if dep not in by_name or depth[dep] >= depth[name]:
                continue
            route = [dep]
            for level in range(depth[dep] + 1, depth[name]):
                waypoint = f"{dep} {name} {level}"  # step names have no spaces: never a step's id
                result.waypoints.add(waypoint)
                level_of[waypoint] = level
                order[waypoint] = order[name]
                parents[waypoint] = [route[-1]]
                route.append(waypoint)
            parents[name].append(route[-1])
            result.routes[(dep, name)] = route + [name]
    result.rows = [[] for _ in range(max(level_of.values(), default=-1) + 1)]
    for ident in sorted(level_of, key=lambda i: order[i]):
        result.rows[level_of[ident]].append(ident)
    position: dict[str, float] = {}
    for level, row in enumerate(result.rows):
        if level:
            def barycenter(ident: str) -> float:
                placed = [position[p] for p in parents[ident] if p in position]
                return sum(placed) / len(placed) if placed else order[ident]
            row.sort(key=lambda ident: (barycenter(ident), order[ident]))
        for i, ident in enumerate(row):
            position[ident] = float(i)
    return result


def layers(nodes: Sequence[DagNode]) -> list[list[str]]:
    """Step names by layer (0 = no dependency), each layer in drawing order."""
    placed = layout(nodes)
    return [[ident for ident in row if ident not in placed.waypoints] for row in placed.rows]


def box_width(name: str, details: str, detail_chars: int = 0) -> float:
    detail_px = max(len(details), detail_chars) * DETAIL_CHAR_PX
    return max(len(name) * NAME_CHAR_PX, detail_px, 60) + 24


@dataclass
class Placement:
    """Where everything goes: ``boxes`` name → (x, y, width), ``edges`` (dep, step, SVG path)."""

    width: float
    height: float
    boxes: dict[str, tuple[float, float, float]]
    edges: list[tuple[str, str, str]]


def _curve(x1: float, y1: float, x2: float, y2: float) -> str:
    bend = (y2 - y1) / 2
    return f"C {x1:.1f} {y1 + bend:.1f}, {x2:.1f} {y2 - bend:.1f}, {x2:.1f} {y2:.1f}"


def place(nodes: Sequence[DagNode], *, detail_chars: int = 0) -> Placement:
    """The geometry of the drawing; ``detail_chars`` reserves room for a second line that changes (live)."""
    by_name = {node.name: node for node in nodes}
    placed = layout(nodes)
    widths = {ident: WAYPOINT_WIDTH if ident in placed.waypoints
              else box_width(ident, " · ".join(by_name[ident].details), detail_chars)
              for row in placed.rows for ident in row}
    row_widths = [sum(widths[ident] for ident in row) + BOX_GAP * (len(row) - 1) for row in placed.rows]
    total_width = max(row_widths, default=0) + 2 * MARGIN
    boxes: dict[str, tuple[float, float, float]] = {}
    for level, row in enumerate(placed.rows):
        x = MARGIN + (total_width - 2 * MARGIN - row_widths[level]) / 2
        y = MARGIN + level * (BOX_HEIGHT + LAYER_GAP)
        for ident in row:
            boxes[ident] = (x, y, widths[ident])
            x += widths[ident] + BOX_GAP
    rows = len(placed.rows)
    total_height = MARGIN * 2 + rows * BOX_HEIGHT + max(rows - 1, 0) * LAYER_GAP
    edges = []
    for (dep, name), route in placed.routes.items():
        centers = [(boxes[i][0] + boxes[i][2] / 2, boxes[i][1]) for i in route]
        x, y = centers[0][0], centers[0][1] + BOX_HEIGHT
        path = [f"M {x:.1f} {y:.1f}"]
        for ident, (cx, top) in zip(route[1:], centers[1:]):
            path.append(_curve(x, y, cx, top))
            if ident in placed.waypoints:  # straight through the waypoint's layer
                path.append(f"L {cx:.1f} {top + BOX_HEIGHT:.1f}")
            x, y = cx, top + BOX_HEIGHT
        edges.append((dep, name, " ".join(path)))
    steps = {name: box for name, box in boxes.items() if name in by_name}
    return Placement(total_width, total_height, steps, edges)


def placement_document(nodes: Sequence[DagNode], *, detail_chars: int = 0) -> dict[str, Any]:
    """The placement as JSON for the dashboard: ``width``, ``height``, ``box_height``, ``boxes``, ``edges``."""
    placed = place(nodes, detail_chars=detail_chars)
    return {
        "width": round(placed.width, 1), "height": round(placed.height, 1), "box_height": BOX_HEIGHT,
        "boxes": {name: {"x": round(x, 1), "y": round(y, 1), "width": round(w, 1)}
                  for name, (x, y, w) in placed.boxes.items()},
        "edges": [{"from": dep, "to": name, "d": d} for dep, name, d in placed.edges],
    }


ARROW_MARKER = ('<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#64748b"/></marker></defs>')


def draw_svg(nodes: Sequence[DagNode], title: str = "recipe") -> str:
    """An ``<svg>`` element of the DAG (no external references), coloured by each node's style."""
    placed = place(nodes)
    width, height = placed.width, placed.height
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{width:.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" role="img" '
        f'font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" '
        f'aria-label="{escape(title)}: steps and their dependencies">',
        ARROW_MARKER,
    ]
    for dep, name, d in placed.edges:
        parts.append(f'<path class="edge" data-from="{escape(dep)}" data-to="{escape(name)}" '
                     f'd="{d}" fill="none" stroke="#64748b" stroke-width="1.4" marker-end="url(#arrow)"/>')
    for node in nodes:
        x, y, box = placed.boxes[node.name]
        fill, stroke, text = STYLES.get(node.style, STYLES["plan"])
        details = " · ".join(node.details)
        dashed = ' stroke-dasharray="4 3"' if node.style in DASHED else ""
        name = escape(node.name)
        parts.append(
            f'<g class="node {node.style}" data-step="{name}"><title>{name}'
            f'{escape(": " + details) if details else ""}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{box:.1f}" height="{BOX_HEIGHT}" rx="7" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dashed}/>'
            f'<text x="{x + box / 2:.1f}" y="{y + 18:.1f}" text-anchor="middle" font-weight="bold" '
            f'font-size="12" fill="{text}">{name}</text>'
            + (f'<text x="{x + box / 2:.1f}" y="{y + 34:.1f}" text-anchor="middle" font-size="10.5" '
               f'fill="{text}">{escape(details)}</text>' if details else "")
            + "</g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
