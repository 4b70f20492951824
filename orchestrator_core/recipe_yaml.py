"""YAML to plain data, remembering the line of every value.

PyYAML's composer keeps a mark on each node; building the data from the nodes
ourselves lets every later problem point at ``file:line``, and catches what
``yaml.safe_load`` silently accepts (a key given twice).
"""

from __future__ import annotations

from typing import Any

import yaml

from .errors import Problem, RecipeError

Path_ = tuple  # a path into the document: ("steps", 2, "timeout")

# libyaml's loader is ~10x faster on large recipes and keeps the same node marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"  # most scalars of a recipe: taken as they are, without the constructor


def load_with_lines(text: str, filename: str) -> tuple[Any, dict[Path_, int]]:
    """Parse ``text``; return the data and a map from each value's path to its line (1-based)."""
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        what = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"YAML syntax error: {what}" + (f" ({context})" if context else "")
        raise RecipeError([Problem(message, filename, mark.line + 1 if mark else None)]) from None
    lines: dict[Path_, int] = {}
    problems: list[Problem] = []
    if root is None:
        raise RecipeError([Problem("the recipe is empty", filename, 1)])
    constructor = yaml.SafeLoader("")
    data = _build(root, (), lines, problems, constructor, filename)
    if problems:
        raise RecipeError(problems)
    return data, lines


def _build(node: yaml.Node, path: Path_, lines: dict, problems: list, constructor: Any, filename: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _STR and isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
            else:
                key = _build(key_node, path + ("<key>",), {}, problems, constructor, filename)
            if not isinstance(key, str):
                problems.append(Problem(f"keys must be strings, got {key!r}", filename, key_node.start_mark.line + 1))
                continue
            if key in result:
                problems.append(Problem(f"key {key!r} is given twice", filename, key_node.start_mark.line + 1))
                continue
            result[key] = _build(value_node, path + (key,), lines, problems, constructor, filename)
            lines.setdefault(path + (key, "<key>"), key_node.start_mark.line + 1)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(item, path + (i,), lines, problems, constructor, filename)
            for i, item in enumerate(node.value)
        ]
    if node.tag == _STR:
        return node.value
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problems.append(Problem(f"cannot read value: {exc}", filename, node.start_mark.line + 1))
        return None
