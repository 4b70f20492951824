"""Recipe files to :class:`~orchestrator_core.model.Recipe`, with every structural problem located.

The schema is small and fixed, so it is checked here directly: no validation
library to import at start-up, and each message says file, line, what was found
and what was expected. Checks that need the installed plugins (does the scriptlet
exist?) live in :mod:`orchestrator_core.recipe.prepare`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from orchestrator_core.digest import sha256_hex
from orchestrator_core.errors import Problem, RecipeError, did_you_mean
from orchestrator_core.model import RESERVED_PREFIX, Recipe, Step
from orchestrator_core.recipe.plan import find_cycle
from orchestrator_core.recipe.values import json_problems, retries_problem, seconds_problem
from orchestrator_core.surrogates import is_utf8

NUMBER = (int, float)

RECIPE_FIELDS: dict[str, Any] = {
    "name": str, "description": str, "merge": (str, dict), "context": dict, "steps": list, "version": (int, str),
}
STEP_FIELDS: dict[str, Any] = {
    "name": str, "uses": str, "type": str, "idx": int, "params": dict, "depends_on": (list, str),
    "parallelizable": bool, "executor": str, "cache": bool, "cache_key": str, "files": list, "timeout": NUMBER,
    "retries": int, "retry_delay": NUMBER, "description": str,
}
_CORE_KEYS = frozenset(STEP_FIELDS) - {"idx"}  # the keys a Step has a field for; the others go to its options
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               dict: "a mapping", list: "a list"}


def _expected(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if kinds == NUMBER:
        return "a number"
    return " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)


def _type_ok(value: Any, kind: Any) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


def read_recipe(path: str | Path, step_fields: Mapping[str, Mapping[str, Any]] | None = None) -> Recipe:
    """Read and check the recipe at ``path``.

    :param step_fields: step type name → extra keys it accepts (from the registered
        step types); keys no type accepts are reported as unknown.
    """
    path = Path(path)
    return recipe_from_bytes(read_recipe_bytes(path), path, step_fields)


def read_recipe_bytes(path: Path) -> bytes:
    """The bytes of the recipe file at ``path``; :class:`RecipeError` when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RecipeError([Problem(f"cannot read recipe: {exc.strerror}", str(path))]) from None


def recipe_from_bytes(data: bytes, path: Path, step_fields: Mapping[str, Mapping[str, Any]] | None = None) -> Recipe:
    """Read and check the recipe whose file at ``path`` holds ``data``.

    The text is what ``path.read_text(encoding="utf-8")`` gives: UTF-8, with ``\\r\\n`` and ``\\r``
    read as ``\\n`` (universal newlines).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise RecipeError([Problem(f"the recipe is not UTF-8 text (byte 0x{exc.object[exc.start]:02x})",
                                   str(path), line)]) from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return parse_recipe(text, str(path), step_fields, default_name=path.stem)


def resolved_path(filename: str) -> str | None:
    """``Recipe.path`` for a recipe read from ``filename``: the absolute path, ``None`` for ``<text>``."""
    return None if filename.startswith("<") else str(Path(filename).resolve())


def parse_recipe(
    text: str,
    filename: str = "<recipe>",
    step_fields: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    default_name: str = "recipe",
) -> Recipe:
    """Parse recipe ``text``; raise :class:`RecipeError` listing every problem found."""
    # Imported here: PyYAML costs every start ~10 ms, and a recipe read from the cache needs none of it.
    from orchestrator_core.recipe.yaml_lines import load_with_lines

    data, lines = load_with_lines(text, filename)
    problems: list[Problem] = []

    def problem(message: str, path: tuple) -> None:
        problems.append(Problem(message, filename, lines.get(path) or lines.get(path[:-1]) or 1))

    if not isinstance(data, dict):
        raise RecipeError([Problem("a recipe must be a mapping with a 'steps' list", filename, 1)])
    _check_fields(data, RECIPE_FIELDS, (), "recipe", problem)
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        if "steps" not in data or raw_steps == []:
            problem("the recipe has no steps: add a 'steps' list", ("steps",))
        raise RecipeError(problems)
    initial = data.get("context") or {}
    for key, value in initial.items() if isinstance(initial, dict) else ():
        if not key or key.startswith(RESERVED_PREFIX):
            problem(f"context key {key!r} is reserved: '{RESERVED_PREFIX}*' keys belong to the runner" if key
                    else "context keys must be non-empty strings",
                    ("context", key, "<key>"))
        for where, why in json_problems(value, ("context", key)):
            problem(f"context {'.'.join(map(str, where[1:]))!r}: {why}", where)

    merge, merge_keys, merge_lines = _merge_setting(data.get("merge"), lines, problem)
    type_fields = step_fields or {"python": {"module": str, "function": str}}
    fields_of: dict[str, dict[str, Any]] = {}  # step type → the keys its steps accept, merged once per type
    steps = [_parse_step(raw, i, type_fields, fields_of, lines, problem) for i, raw in enumerate(raw_steps)]
    steps = [s for s in steps if s is not None]
    steps = _check_names_and_dependencies(steps, problem)
    unique_names = len({s.name for s in steps}) == len(steps)  # with duplicates, the graph is not known
    cycle = find_cycle({s.name: s.depends_on for s in steps}) if unique_names else None
    if cycle:
        first = next(s for s in steps if s.name == cycle[0])
        problems.append(Problem(f"dependency cycle: {' → '.join(cycle)}", filename, first.line))
    recipe = Recipe(
        name=str(data.get("name") or default_name),
        steps=tuple(steps),
        path=resolved_path(filename),
        description=data.get("description"),
        merge=merge,
        context=dict(initial) if isinstance(initial, dict) else {},
        digest=sha256_hex(text),
        merge_keys=merge_keys,
        merge_lines=merge_lines,
    )
    if recipe.path is not None and not is_utf8(recipe.path):
        problems.append(Problem("the recipe's path is not UTF-8 text (a name in another encoding?), so the state "
                                "store cannot record its runs: rename what is not", filename, 1))
    if problems:
        raise RecipeError(sorted_problems(problems), partial=recipe)
    return recipe


def sorted_problems(problems: list[Problem]) -> list[Problem]:
    """``problems`` without repeats, in the order of their lines (file order)."""
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.file, p.line or 0))


def _merge_setting(raw: Any, lines: dict, problem: Any) -> tuple[str | None, dict[str, str], dict[str, int]]:
    """``merge``: a strategy for every key, or ``{default: ..., keys: {key: strategy}}``.

    Returns the default strategy (``None``: not given), the per-key ones and the line
    of each (``""`` for the default's). Whether a name is a registered strategy is
    checked later, against the installed plugins.
    """
    default: str | None = None
    keys: dict[str, str] = {}
    line_of = {"": lines.get(("merge", "<key>")) or lines.get(("merge",)) or 1}
    if isinstance(raw, str) and raw:
        return raw, keys, line_of
    if not isinstance(raw, dict):
        return default, keys, line_of
    _check_fields(raw, {"default": str, "keys": dict}, ("merge",), "merge", problem)
    if isinstance(raw.get("default"), str) and raw["default"]:
        default = raw["default"]
        line_of[""] = lines.get(("merge", "default"), line_of[""])
    for key, strategy in (raw.get("keys") or {}).items() if isinstance(raw.get("keys"), dict) else ():
        if not isinstance(strategy, str) or not strategy:
            problem(f"merge strategy of key {key!r} must be a strategy name, got {strategy!r}", ("merge", "keys", key))
            continue
        keys[str(key)] = strategy
        line_of[str(key)] = lines.get(("merge", "keys", key), line_of[""])
    return default, keys, line_of


def _check_fields(data: dict, fields: Mapping[str, Any], path: tuple, what: str, problem: Any) -> None:
    for key, value in data.items():
        if key not in fields:
            problem(f"unknown key {key!r} in {what}{did_you_mean(key, list(fields))}", path + (key, "<key>"))
        elif value is not None and type(value) is not fields[key] and not _type_ok(value, fields[key]):
            problem(
                f"{key!r} must be {_expected(fields[key])}, got {type(value).__name__} {value!r}",
                path + (key,),
            )


def _param_lines(value: Any, path: tuple, label: str, lines: dict, found: dict[str, int]) -> None:
    """Lines of the values inside a step's ``params`` (``value`` at ``path``), keyed ``params/a/0``
    (for schema errors). The values read are exactly the paths with a line: this walks them."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        where = path + (key,)
        inner = f"{label}/{key}"
        if key != "<key>" and where in lines:
            found[inner] = lines[where]
        _param_lines(item, where, inner, lines, found)


def _has_space_or_comma(name: str) -> bool:
    if name.isascii() and name.isprintable():  # the one ASCII whitespace that is printable is the space
        return " " in name or "," in name
    return any(c.isspace() for c in name) or "," in name


def _parse_step(
    raw: Any, i: int, type_fields: Mapping[str, Mapping[str, Any]], fields_of: dict[str, dict[str, Any]],
    lines: dict, problem: Any,
) -> Step | None:
    path = ("steps", i)
    if not isinstance(raw, dict):
        problem(f"step {i + 1} must be a mapping (name, uses, ...), got {type(raw).__name__}", path)
        return None
    step_type = raw.get("type") if isinstance(raw.get("type"), str) and raw.get("type") else "python"
    fields = fields_of.get(step_type)
    if fields is None:
        fields = fields_of[step_type] = {**STEP_FIELDS, **type_fields.get(step_type, {})}
    if step_type in type_fields:  # an unknown type is reported once, by the validator
        _check_fields(raw, fields, path, f"step {raw.get('name') or i + 1}", problem)
    name = raw.get("name") or raw.get("uses")
    if not name or not isinstance(name, str):
        problem(f"step {i + 1} needs a 'name' (or 'uses')", path)
        return None
    if _has_space_or_comma(name):
        problem(f"step name {name!r} may not contain spaces or commas", path + ("name",))
    for key in ("timeout", "retry_delay"):
        if key in raw and _type_ok(raw[key], NUMBER) and seconds_problem(key, raw[key]):
            problem(seconds_problem(key, raw[key]), path + (key,))
            raw = {k: v for k, v in raw.items() if k != key}
    if isinstance(raw.get("files"), list) and not all(isinstance(f, str) and f for f in raw["files"]):
        problem("'files' must be a list of paths or globs (relative to the working directory)", path + ("files",))
    if "retries" in raw and _type_ok(raw["retries"], int) and retries_problem(raw["retries"]):
        problem(retries_problem(raw["retries"]), path + ("retries",))
    params = raw.get("params")
    if params:
        for where, why in json_problems(params, path + ("params",)):
            problem(f"params {'.'.join(map(str, where[3:]))!r}: {why}" if len(where) > 3 else f"params: {why}",
                    where)
    deps = raw.get("depends_on", ...)
    if isinstance(deps, str):
        deps = [deps]
    elif isinstance(deps, list) and not all(isinstance(d, str) for d in deps):
        problem("'depends_on' must be a list of step names", path + ("depends_on",))
        deps = [d for d in deps if isinstance(d, str)]
    elif deps is not ... and not isinstance(deps, list):
        deps = []
    line = lines.get(path)
    step_lines = {key: lines.get(path + (key,), line) for key in raw}
    if isinstance(params, (dict, list)):
        _param_lines(params, path + ("params",), "params", lines, step_lines)
    for j in range(len(deps) if deps is not ... else 0):
        step_lines[f"depends_on[{j}]"] = lines.get(path + ("depends_on", j), step_lines.get("depends_on"))
    # The values of the right type (as declared in ``fields``); a wrong one was reported above, and reads as unset.
    typed = {key: value for key, value in raw.items()
             if key in _CORE_KEYS and (type(value) is fields[key] or _type_ok(value, fields[key]))}
    get = typed.get
    return Step(
        name=name,
        index=i,
        type=get("type") or "python",
        uses=get("uses"),
        params=get("params") or {},
        depends_on=tuple(deps) if deps is not ... else None,  # type: ignore[arg-type]
        parallelizable=get("parallelizable"),
        executor=get("executor"),
        cache=bool(get("cache") or get("cache_key")),
        cache_key=get("cache_key"),
        files=tuple(f for f in get("files") or () if isinstance(f, str)),
        timeout=float(get("timeout")) if get("timeout") else None,
        retries=get("retries") or 0,
        retry_delay=float(get("retry_delay") or 0.5),
        description=get("description"),
        options={k: v for k, v in raw.items() if k not in _CORE_KEYS},
        line=line,
        lines=step_lines,
    )


def _check_names_and_dependencies(steps: list[Step], problem: Any) -> list[Step]:
    """Report duplicate names and unknown dependencies; fill in implicit dependencies.

    A step without ``depends_on`` depends on the step before it; ``depends_on: []``
    makes a root.
    """
    seen: dict[str, Step] = {}
    for step in steps:
        if step.name in seen:
            problem(
                f"duplicate step name {step.name!r} (first defined at line {seen[step.name].line})",
                ("steps", step.index),
            )
        seen.setdefault(step.name, step)
    resolved = []
    for pos, step in enumerate(steps):
        if step.depends_on is None:
            # A step made just now and seen by nothing else: filled in place (a copy costs as much as reading it).
            object.__setattr__(step, "depends_on", (steps[pos - 1].name,) if pos else ())
            resolved.append(step)
            continue
        for j, dep in enumerate(step.depends_on):
            where = ("steps", step.index, "depends_on", j)
            if dep == step.name:
                problem(f"step {step.name!r} depends on itself", where)
            elif dep not in seen:
                problem(f"step {step.name!r} depends on unknown step {dep!r}{did_you_mean(dep, list(seen))}", where)
        resolved.append(step)
    return resolved
