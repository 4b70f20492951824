"""The recipe loader composes exactly the nodes PyYAML's safe loader composes (it only skips two
calls per node that do nothing while no path resolver is registered)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings

from orchestrator_core.recipe import yaml_lines
from test_recipe_fuzz import documents

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "recipes").glob("*.yaml"))]


def shape(node: yaml.Node | None, seen: dict | None = None) -> object:
    """Everything of a node tree: kinds, tags, values, styles, marks, and which nodes are one (aliases)."""
    seen = {} if seen is None else seen
    if node is None:
        return None
    if id(node) in seen:
        return ("alias", seen[id(node)])
    seen[id(node)] = len(seen)
    marks = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, node.style, marks)
    if isinstance(node, yaml.SequenceNode):
        return ("seq", node.tag, node.flow_style, marks, [shape(item, seen) for item in node.value])
    return ("map", node.tag, node.flow_style, marks, [(shape(k, seen), shape(v, seen)) for k, v in node.value])


def same_composition(text: str) -> None:
    try:
        expected = shape(yaml.compose(text, Loader=yaml_lines._LOADER))
    except yaml.YAMLError as error:
        with pytest.raises(type(error)) as again:
            yaml.compose(text, Loader=yaml_lines._loader())
        assert str(again.value) == str(error)
        return
    except RecursionError:
        return
    assert shape(yaml.compose(text, Loader=yaml_lines._loader())) == expected


@pytest.mark.parametrize("text", TEXTS)
def test_the_curriculum_composes_the_same(text):
    assert yaml_lines._loader() is yaml_lines._RecipeLoader
    same_composition(text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents)
def test_any_document_composes_the_same(text):
    same_composition(text)


def test_a_registered_path_resolver_is_honoured(monkeypatch):
    monkeypatch.setattr(yaml_lines._LOADER, "yaml_path_resolvers", {((None, "steps"),): "tag:example,2026:steps"})
    assert yaml_lines._loader() is yaml_lines._LOADER  # PyYAML's own loader: it follows path resolvers
