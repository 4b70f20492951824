"""``orch graph`` (the plan, not run), and the graph's Mermaid, DOT and SVG forms."""

from __future__ import annotations

import json

from orchestrator_reporting.graph import Graph, Node
from orchestrator_reporting.svg import draw, layers, layout


def test_graph_of_a_plan_as_mermaid(recorded, demo_recipe, tmp_path):
    outcome = recorded.orch("graph", "demo.yaml", cwd=tmp_path).assert_success()
    assert outcome.out == (
        "flowchart TD\n"
        '    load["load<br/>inline"]\n'
        '    left["left<br/>thread · parallel"]\n'
        '    right["right<br/>thread · parallel"]\n'
        '    total["total<br/>inline · cached"]\n'
        "    load --> left\n    load --> right\n    left --> total\n    right --> total\n"
        "    classDef plan fill:#f8fafc,stroke:#475569,color:#0f172a\n"
        "    class load,left,right,total plan\n"
    )
    assert not (tmp_path / ".orch").exists() and not (tmp_path / "Data").exists()  # nothing ran


def test_graph_as_dot_and_json(recorded, demo_recipe, tmp_path):
    dot = recorded.orch("graph", "demo.yaml", "--format", "dot", cwd=tmp_path).assert_success().out
    assert dot.startswith('digraph "report_demo" {\n')
    assert '    "total" [label="total\\ninline, cached"' in dot
    assert '    "left" -> "total";\n' in dot and dot.endswith("}\n")
    document = json.loads(recorded.orch("graph", "demo.yaml", "--json", cwd=tmp_path).assert_success().out)
    assert document["steps"][3] == {"name": "total", "depends_on": ["left", "right"], "executor": "inline",
                                    "parallel": False, "cached": True}


def test_graph_of_a_bad_recipe_says_file_and_line(recorded, tmp_path):
    (tmp_path / "bad.yaml").write_text("steps:\n  - name: a\n    uses: put\n  - name: b\n    uses: nope\n")
    outcome = recorded.orch("graph", "bad.yaml", cwd=tmp_path)
    assert outcome.exit_code == 2 and "bad.yaml:5: unknown scriptlet 'nope'" in outcome.err
    assert "Traceback" not in outcome.err
    assert recorded.orch("graph", "demo.yaml", "--format", "png", cwd=tmp_path).exit_code == 2


def test_mermaid_ids_for_names_mermaid_cannot_take():
    graph = Graph("odd", [Node("end"), Node("fetch-data", ("end",)), Node('say"hi"', ("fetch-data",))])
    text = graph.mermaid()
    assert '    step_1["end<br/>plan"]' not in text  # a plan node has no status line
    assert '    step_1["end"]\n' in text and '    step_2["fetch-data"]\n' in text
    assert '    step_3["say#quot;hi#quot;"]\n' in text
    assert "    step_1 --> step_2\n    step_2 --> step_3\n" in text


def test_layers_follow_the_deepest_dependency_and_limit_crossings():
    graph = Graph("g", [Node("a"), Node("b"), Node("x", ("b",)), Node("y", ("a",)), Node("z", ("y", "b"))])
    assert layers(graph) == [["a", "b"], ["y", "x"], ["z"]]  # y under a, x under b: no crossing
    svg = draw(graph)
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert svg.count('<g class="node plan"') == 5 and svg.count('class="edge"') == 4
    long_edge = svg.split('data-from="b" data-to="z" d="', 1)[1].split('"', 1)[0]
    assert long_edge.count(" C ") == 2 and " L " in long_edge  # through a waypoint in the middle layer
    assert layout(graph).rows[1] == ["y", "x", "b z 1"]  # the waypoint sits beside x, not on a box
    assert "http://www.w3.org/2000/svg" in svg and "href" not in svg


def test_graph_as_svg_and_as_text_for_a_terminal(recorded, demo_recipe, tmp_path):
    svg = recorded.orch("graph", "demo.yaml", "--format", "svg", cwd=tmp_path).assert_success().out
    assert svg.startswith("<svg ") and svg.rstrip().endswith("</svg>")
    assert svg.count('<g class="node plan"') == 4 and svg.count('marker-end="url(#arrow)"') == 4
    text = recorded.orch("graph", "demo.yaml", "--format", "text", cwd=tmp_path).assert_success().out
    lines = text.splitlines()
    assert lines[0] == "report_demo: 4 steps in 3 layers"
    assert lines[1].split() == ["1", "load", "inline"]
    assert lines[2].split() == ["2", "left", "←", "load", "thread", "·", "parallel"]
    assert lines[3].split() == ["right", "←", "load", "thread", "·", "parallel"]
    assert lines[4].split() == ["3", "total", "←", "left,", "right", "inline", "·", "cached"]
