"""The report's graph as an inline SVG: the core's shared drawing (:mod:`orchestrator_core.display.dag`).

The dashboard draws the same layout, so a run looks the same in a report and live.
"""

from __future__ import annotations

import orchestrator_core.display.dag as dag_drawing

from .graph import Graph


def layout(graph: Graph) -> dag_drawing.Layout:
    """Rows of the drawing (steps and the waypoints of long edges), in crossing-reducing order."""
    return dag_drawing.layout(graph.nodes)


def layers(graph: Graph) -> list[list[str]]:
    """Step names by layer (0 = no dependency), each layer in drawing order."""
    return dag_drawing.layers(graph.nodes)


def draw(graph: Graph) -> str:
    """An ``<svg>`` element of ``graph`` (no external references)."""
    return dag_drawing.draw_svg(graph.nodes, graph.title)
