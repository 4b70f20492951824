"""The graph drawn as an inline SVG, laid out here, for the one-file HTML report.

The HTML report must open anywhere, offline, as a single file, so it cannot load
Mermaid's JavaScript from a CDN. A recipe's DAG is small and layered, which a few
lines lay out well enough (a simple Sugiyama layout): each step sits one layer
below its deepest dependency; an edge that skips layers gets an invisible waypoint
in each layer it crosses, so it runs beside the boxes, not through them; nodes in a
layer are ordered by the mean position of their parents (fewer crossings), ties in
recipe order; edges are curves from a box's bottom to the next box's top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from .graph import STYLES, Graph

NAME_CHAR_PX = 7.6  # bold 12 px monospace
DETAIL_CHAR_PX = 6.4  # 10.5 px monospace
BOX_HEIGHT = 44
LAYER_GAP = 44
BOX_GAP = 20
WAYPOINT_WIDTH = 10
MARGIN = 12


@dataclass
class Layout:
    """Rows of node ids (steps and waypoints), and the ids each drawn edge passes through."""

    rows: list[list[str]] = field(default_factory=list)
    routes: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (dep, step) → its ids, in order
    waypoints: set[str] = field(default_factory=set)


def layout(graph: Graph) -> Layout:
    """Place every step (and every waypoint of a long edge) in a layer, in crossing-reducing order."""
    by_name = {node.name: node for node in graph.nodes}
    order = {node.name: float(i) for i, node in enumerate(graph.nodes)}
    depth: dict[str, int] = {}

    def depth_of(name: str) -> int:
        if name not in depth:
            deps = [d for d in by_name[name].depends_on if d in by_name]
            depth[name] = 1 + max(map(depth_of, deps)) if deps else 0
        return depth[name]

    result = Layout()
    parents: dict[str, list[str]] = {}
    level_of: dict[str, int] = {}
    for node in graph.nodes:
        level_of[node.name] = depth_of(node.name)
        parents.setdefault(node.name, [])
    for dep, name in graph.edges:
        if dep not in by_name:
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


def layers(graph: Graph) -> list[list[str]]:
    """Step names by layer (0 = no dependency), each layer in drawing order."""
    placed = layout(graph)
    return [[ident for ident in row if ident not in placed.waypoints] for row in placed.rows]


def box_width(name: str, details: str) -> float:
    return max(len(name) * NAME_CHAR_PX, len(details) * DETAIL_CHAR_PX, 60) + 24


def _curve(x1: float, y1: float, x2: float, y2: float) -> str:
    bend = (y2 - y1) / 2
    return f"C {x1:.1f} {y1 + bend:.1f}, {x2:.1f} {y2 - bend:.1f}, {x2:.1f} {y2:.1f}"


def draw(graph: Graph) -> str:
    """An ``<svg>`` element of ``graph`` (no external references)."""
    by_name = {node.name: node for node in graph.nodes}
    placed = layout(graph)
    widths = {ident: WAYPOINT_WIDTH if ident in placed.waypoints
              else box_width(ident, " · ".join(by_name[ident].details)) for row in placed.rows for ident in row}
    row_widths = [sum(widths[ident] for ident in row) + BOX_GAP * (len(row) - 1) for row in placed.rows]
    total_width = max(row_widths, default=0) + 2 * MARGIN
    boxes: dict[str, tuple[float, float, float]] = {}  # id → (x, y, width)
    for level, row in enumerate(placed.rows):
        x = MARGIN + (total_width - 2 * MARGIN - row_widths[level]) / 2
        y = MARGIN + level * (BOX_HEIGHT + LAYER_GAP)
        for ident in row:
            boxes[ident] = (x, y, widths[ident])
            x += widths[ident] + BOX_GAP
    rows = len(placed.rows)
    total_height = MARGIN * 2 + rows * BOX_HEIGHT + max(rows - 1, 0) * LAYER_GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{total_width:.0f}" '
        f'height="{total_height:.0f}" viewBox="0 0 {total_width:.0f} {total_height:.0f}" role="img" '
        f'font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" '
        f'aria-label="{escape(graph.title)}: steps and their dependencies">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#64748b"/></marker></defs>',
    ]
    for (dep, name), route in placed.routes.items():
        centers = [(boxes[i][0] + boxes[i][2] / 2, boxes[i][1]) for i in route]
        x, y = centers[0][0], centers[0][1] + BOX_HEIGHT
        path = [f"M {x:.1f} {y:.1f}"]
        for ident, (cx, top) in zip(route[1:], centers[1:]):
            path.append(_curve(x, y, cx, top))
            if ident in placed.waypoints:  # straight through the waypoint's layer
                path.append(f"L {cx:.1f} {top + BOX_HEIGHT:.1f}")
            x, y = cx, top + BOX_HEIGHT
        parts.append(f'<path class="edge" data-from="{escape(dep)}" data-to="{escape(name)}" '
                     f'd="{" ".join(path)}" fill="none" stroke="#64748b" stroke-width="1.4" '
                     f'marker-end="url(#arrow)"/>')
    for name in (node.name for node in graph.nodes):
        x, y, width = boxes[name]
        node = by_name[name]
        fill, stroke, text = STYLES[node.style]
        details = " · ".join(node.details)
        dashed = ' stroke-dasharray="4 3"' if node.style in ("not_run", "not_selected") else ""
        parts.append(
            f'<g class="node {node.style}" data-step="{escape(name)}"><title>{escape(name)}'
            f'{escape(": " + details) if details else ""}</title>'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{BOX_HEIGHT}" rx="7" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dashed}/>'
            f'<text x="{x + width / 2:.1f}" y="{y + 18:.1f}" text-anchor="middle" font-weight="bold" '
            f'font-size="12" fill="{text}">{escape(name)}</text>'
            + (f'<text x="{x + width / 2:.1f}" y="{y + 34:.1f}" text-anchor="middle" font-size="10.5" '
               f'fill="{text}">{escape(details)}</text>' if details else "")
            + "</g>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
