"""The graph drawn as an inline SVG, laid out here, for the one-file HTML report.

The HTML report must open anywhere, offline, as a single file, so it cannot load
Mermaid's JavaScript from a CDN. A recipe's DAG is small and layered, which a few
lines lay out well enough: each step sits one layer below its deepest dependency,
steps in a layer are ordered by the mean position of their dependencies (fewer
crossings), ties in recipe order; edges are curves from a box's bottom to the
next box's top.
"""

from __future__ import annotations

from html import escape

from .graph import STYLES, Graph

NAME_CHAR_PX = 7.6  # bold 12 px monospace
DETAIL_CHAR_PX = 6.4  # 10.5 px monospace
BOX_HEIGHT = 44
LAYER_GAP = 44
BOX_GAP = 20
MARGIN = 12


def layers(graph: Graph) -> list[list[str]]:
    """Step names by layer (0 = no dependency), each layer ordered to limit crossings."""
    by_name = {node.name: node for node in graph.nodes}
    order = {node.name: i for i, node in enumerate(graph.nodes)}
    depth: dict[str, int] = {}

    def depth_of(name: str) -> int:
        if name not in depth:
            deps = [d for d in by_name[name].depends_on if d in by_name]
            depth[name] = 1 + max(map(depth_of, deps)) if deps else 0
        return depth[name]

    grouped: list[list[str]] = []
    for node in graph.nodes:
        level = depth_of(node.name)
        while len(grouped) <= level:
            grouped.append([])
        grouped[level].append(node.name)
    position: dict[str, float] = {}
    for level, names in enumerate(grouped):
        if level:
            def barycenter(name: str) -> float:
                deps = [position[d] for d in by_name[name].depends_on if d in position]
                return sum(deps) / len(deps) if deps else float(order[name])
            names.sort(key=lambda name: (barycenter(name), order[name]))
        for i, name in enumerate(names):
            position[name] = float(i)
    return grouped


def box_width(name: str, details: str) -> float:
    return max(len(name) * NAME_CHAR_PX, len(details) * DETAIL_CHAR_PX, 60) + 24


def draw(graph: Graph) -> str:
    """An ``<svg>`` element of ``graph`` (no external references)."""
    by_name = {node.name: node for node in graph.nodes}
    grouped = layers(graph)
    widths = {n.name: box_width(n.name, " · ".join(n.details)) for n in graph.nodes}
    row_widths = [sum(widths[name] for name in row) + BOX_GAP * (len(row) - 1) for row in grouped]
    total_width = max(row_widths, default=0) + 2 * MARGIN
    boxes: dict[str, tuple[float, float, float]] = {}  # name → (x, y, width)
    for level, row in enumerate(grouped):
        x = MARGIN + (total_width - 2 * MARGIN - row_widths[level]) / 2
        y = MARGIN + level * (BOX_HEIGHT + LAYER_GAP)
        for name in row:
            boxes[name] = (x, y, widths[name])
            x += widths[name] + BOX_GAP
    total_height = MARGIN * 2 + len(grouped) * BOX_HEIGHT + max(len(grouped) - 1, 0) * LAYER_GAP
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dag" width="{total_width:.0f}" '
        f'height="{total_height:.0f}" viewBox="0 0 {total_width:.0f} {total_height:.0f}" role="img" '
        f'font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" '
        f'aria-label="{escape(graph.title)}: steps and their dependencies">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#64748b"/></marker></defs>',
    ]
    for dep, name in graph.edges:
        if dep not in boxes:
            continue
        (x1, y1, w1), (x2, y2, w2) = boxes[dep], boxes[name]
        sx, sy, ex, ey = x1 + w1 / 2, y1 + BOX_HEIGHT, x2 + w2 / 2, y2
        bend = (ey - sy) / 2
        parts.append(f'<path class="edge" data-from="{escape(dep)}" data-to="{escape(name)}" '
                     f'd="M {sx:.1f} {sy:.1f} C {sx:.1f} {sy + bend:.1f}, {ex:.1f} {ey - bend:.1f}, '
                     f'{ex:.1f} {ey:.1f}" fill="none" stroke="#64748b" stroke-width="1.4" '
                     f'marker-end="url(#arrow)"/>')
    for name, (x, y, width) in boxes.items():
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
