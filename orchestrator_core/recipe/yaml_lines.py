"""YAML to plain data, remembering the line of every value.

PyYAML's composer keeps a mark on each node; building the data from the nodes
ourselves lets every later problem point at ``file:line``, and catches what
``yaml.safe_load`` silently accepts (a key given twice).

Building it ourselves also bounds what a hostile document can cost: aliases are
expanded against a node budget (a few hundred bytes of nested aliases would
otherwise expand to gigabytes), nesting is limited, a recursive alias and a tag on
a mapping or list (which would be silently dropped) are refused, each at its line.
"""

from __future__ import annotations

from typing import Any

import yaml

from orchestrator_core.errors import Problem, RecipeError

Path_ = tuple  # a path into the document: ("steps", 2, "timeout")

# libyaml's loader is ~10x faster on large recipes and keeps the same node marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR = "tag:yaml.org,2002:str"  # most scalars of a recipe: taken as they are, without the constructor
_SCALAR = yaml.ScalarNode
_COLLECTION_TAGS = {yaml.MappingNode: "tag:yaml.org,2002:map", yaml.SequenceNode: "tag:yaml.org,2002:seq"}
# Values reached again through aliases, in all: far above any real recipe's reuse, far below a bomb.
ALIAS_NODE_BUDGET = 100_000
MAX_DEPTH = 100  # nested mappings and lists


class _Budget(Exception):
    """Stops building once the document is hostile (too many aliased nodes)."""

    def __init__(self, problem: Problem):
        self.problem = problem


class _Walk:
    """What building one document keeps: the nodes seen, those being built, the alias budget."""

    def __init__(self, filename: str):
        self.filename = filename
        self.seen: set[int] = set()
        self.active: set[int] = set()
        self.aliased = 0


def load_with_lines(text: str, filename: str) -> tuple[Any, dict[Path_, int]]:
    """Parse ``text``; return the data and a map from each value's path to its line (1-based).

    The line of a mapping's key is at the value's path plus ``"<key>"`` when it is not the
    value's own line; look it up with a fallback to the value's path.
    """
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except RecursionError:
        raise RecipeError([Problem(f"YAML nested too deeply (more than {MAX_DEPTH} levels)", filename, None)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        what = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        message = f"YAML syntax error: {what}" + (f" ({context})" if context else "")
        if mark is not None and _tab_at(text, mark):
            message += "; YAML indents with spaces, not tabs"
        raise RecipeError([Problem(message, filename, mark.line + 1 if mark else None)]) from None
    lines: dict[Path_, int] = {}
    problems: list[Problem] = []
    if root is None:
        raise RecipeError([Problem("the recipe is empty", filename, 1)])
    constructor = yaml.SafeLoader("")
    try:
        data = _build(root, (), lines, problems, constructor, _Walk(filename))
    except _Budget as stop:
        raise RecipeError([*problems, stop.problem]) from None
    if problems:
        raise RecipeError(problems)
    return data, lines


def _tab_at(text: str, mark: Any) -> bool:
    """Whether the parser stopped at a tab in the line's indentation (PyYAML then speaks of a
    character that "cannot start any token", which does not say what to change)."""
    lines = text.splitlines()
    if not 0 <= mark.line < len(lines):
        return False
    line = lines[mark.line]
    return "\t" in line[:len(line) - len(line.lstrip())] or line[mark.column:mark.column + 1] == "\t"


def _build(node: yaml.Node, path: Path_, lines: dict, problems: list, constructor: Any, walk: _Walk) -> Any:
    line = lines[path] = node.start_mark.line + 1
    filename = walk.filename
    if id(node) in walk.seen:  # reached again through an alias
        walk.aliased += 1
        if walk.aliased > ALIAS_NODE_BUDGET:
            raise _Budget(Problem(f"YAML aliases expand to more than {ALIAS_NODE_BUDGET:,} values; "
                                  "write the values out or use fewer nested aliases", filename, line))
    walk.seen.add(id(node))
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        if id(node) in walk.active:
            problems.append(Problem("recursive YAML alias: a value contains itself", filename, line))
            return None
        if len(walk.active) >= MAX_DEPTH:
            raise _Budget(Problem(f"YAML nested too deeply (more than {MAX_DEPTH} levels)", filename, line))
        if node.tag != _COLLECTION_TAGS[type(node)]:
            problems.append(Problem(f"YAML tag {node.tag!r} is not supported on a "
                                    f"{'mapping' if isinstance(node, yaml.MappingNode) else 'list'}",
                                    filename, line))
            return None
        walk.active.add(id(node))
        try:
            return _build_collection(node, path, lines, problems, constructor, walk)
        finally:
            walk.active.discard(id(node))
    if node.tag == _STR:
        return node.value
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problems.append(Problem(f"cannot read value: {exc}", filename, line))
        return None


def _build_collection(node: yaml.Node, path: Path_, lines: dict, problems: list, constructor: Any,
                      walk: _Walk) -> Any:
    # A plain string seen for the first time (most values of a recipe) is taken here as _build would
    # take it, without a call per value.
    filename = walk.filename
    seen = walk.seen
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _STR and isinstance(key_node, yaml.ScalarNode):
                key = key_node.value
            else:
                key = _build(key_node, path + ("<key>",), {}, problems, constructor, walk)
            if not isinstance(key, str):
                problems.append(Problem(f"keys must be strings, got {key!r}", filename, key_node.start_mark.line + 1))
                continue
            if key in result:
                problems.append(Problem(f"key {key!r} is given twice", filename, key_node.start_mark.line + 1))
                continue
            where = path + (key,)
            if value_node.tag == _STR and type(value_node) is _SCALAR and id(value_node) not in seen:
                seen.add(id(value_node))
                lines[where] = value_node.start_mark.line + 1
                result[key] = value_node.value
            else:
                result[key] = _build(value_node, where, lines, problems, constructor, walk)
            key_line = key_node.start_mark.line + 1
            if key_line != lines[where]:  # on the value's line (most keys), a key's line is found from its value's
                lines.setdefault(where + ("<key>",), key_line)
        return result
    items = []
    for i, item in enumerate(node.value):
        if item.tag == _STR and type(item) is _SCALAR and id(item) not in seen:
            seen.add(id(item))
            lines[path + (i,)] = item.start_mark.line + 1
            items.append(item.value)
        else:
            items.append(_build(item, path + (i,), lines, problems, constructor, walk))
    return items
