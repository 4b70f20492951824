"""The shared DAG layout: boxes that never overlap, edges from a box's bottom to the next box's top."""

from __future__ import annotations

import re

from orchestrator_core.display.dag import BOX_HEIGHT, PlainNode, draw_svg, place, placement_document
from orchestrator_core.display.dag_text import render_text
from orchestrator_core.display.timeline import Span, draw_timeline, nice_step


def wide_graph() -> list[PlainNode]:
    nodes = [PlainNode(f"s0_{i}") for i in range(8)]
    nodes += [PlainNode(f"s1_{i}", (f"s0_{i}", f"s0_{(i + 3) % 8}")) for i in range(8)]
    nodes += [PlainNode("sink", tuple(f"s1_{i}" for i in range(8)) + ("s0_0",))]  # one edge skips a layer
    return nodes


def test_boxes_never_overlap_and_edges_join_boxes():
    nodes = wide_graph()
    placed = place(nodes, detail_chars=26)
    boxes = list(placed.boxes.values())
    for i, (x1, y1, w1) in enumerate(boxes):
        assert 0 <= x1 and x1 + w1 <= placed.width and 0 <= y1 and y1 + BOX_HEIGHT <= placed.height
        for x2, y2, w2 in boxes[i + 1:]:
            assert y1 != y2 or x1 + w1 <= x2 or x2 + w2 <= x1, "two boxes of a layer overlap"
    for dep, name, d in placed.edges:
        numbers = [float(n) for n in re.findall(r"-?\d+\.\d+", d)]
        (x, y, w), (tx, ty, tw) = placed.boxes[dep], placed.boxes[name]
        assert (numbers[0], numbers[1]) == (round(x + w / 2, 1), y + BOX_HEIGHT)  # leaves the bottom middle
        assert (numbers[-2], numbers[-1]) == (round(tx + tw / 2, 1), ty)  # arrives at the top middle
    assert len(placed.edges) == 8 * 2 + 9
    document = placement_document(nodes, detail_chars=26)
    assert set(document["boxes"]) == {node.name for node in nodes} and document["box_height"] == BOX_HEIGHT
    assert draw_svg(nodes).count('marker-end="url(#arrow)"') == len(placed.edges)


def test_an_empty_or_odd_graph_still_draws():
    assert render_text([], "empty") == "empty: 0 steps in 0 layers\n"
    assert draw_svg([]).startswith("<svg ")
    odd = [PlainNode("a", ("missing",)), PlainNode('<b&"c>', ("a",))]
    svg = draw_svg(odd)
    assert "&lt;b&amp;&quot;c&gt;" in svg and '<b&"c>' not in svg
    assert render_text(odd, "odd").splitlines()[2].split() == ["2", '<b&"c>', "←", "a"]


def test_the_timeline_puts_steps_side_by_side_when_they_overlapped():
    spans = [Span("a", "ok", 100.0, 100.5), Span("b", "ok", 100.1, 100.6), Span("c", "not_run")]
    svg = draw_timeline(spans, 100.0, 100.6)
    bars = [tuple(float(v) for v in match) for match in re.findall(r'class="bar" x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)]
    assert len(bars) == 2  # the step that did not run has a row, no bar
    (xa, wa), (xb, wb) = bars
    assert xa < xb < xa + wa < xb + wb
    assert ">500 ms</text>" in svg and nice_step(600) == 100

