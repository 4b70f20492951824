"""A quick yes to "are these params valid?", so most runs never import ``jsonschema``.

Importing ``jsonschema`` costs ``orch`` 60–100 ms, more than the rest of a small run.
Most params schemas use a handful of keywords and most recipes give valid params, so
:func:`surely_valid` checks that subset itself and answers ``True`` only when the
params are valid for certain. Any other answer, including a schema keyword it does not
know, sends the check to ``jsonschema``, which also writes the error messages: this
module never has to agree with it on anything but a plain yes.
"""

from __future__ import annotations

from typing import Any

ANNOTATIONS = frozenset({"description", "title", "default", "examples", "$comment", "$schema", "deprecated"})
TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


def surely_valid(schema: Any, value: Any) -> bool:
    """``True`` only if ``value`` is valid under ``schema``; ``False`` means "ask jsonschema"."""
    if schema is True or schema == {}:
        return True
    if not isinstance(schema, dict):
        return False
    for keyword, expected in schema.items():
        if keyword in ANNOTATIONS:
            continue
        if keyword == "additionalProperties":
            if not _additional(expected, value, schema.get("properties", {})):
                return False
            continue
        check = _KEYWORDS.get(keyword)
        if check is None or not check(expected, value):
            return False
    return True


def _type(expected: Any, value: Any) -> bool:
    names = expected if isinstance(expected, list) else [expected]
    return any(name in TYPES and TYPES[name](value) for name in names)


def _properties(expected: Any, value: Any) -> bool:
    if not isinstance(value, dict):
        return True
    return isinstance(expected, dict) and all(
        surely_valid(expected[key], item) for key, item in value.items() if key in expected)


def _additional(expected: Any, value: Any, properties: Any) -> bool:
    """Keys not named in ``properties`` must each satisfy ``additionalProperties``."""
    if not isinstance(value, dict):
        return True
    if not isinstance(properties, dict):
        return False
    return all(surely_valid(expected, item) for key, item in value.items() if key not in properties)


def _required(expected: Any, value: Any) -> bool:
    return not isinstance(value, dict) or (isinstance(expected, list) and all(k in value for k in expected))


def _items(expected: Any, value: Any) -> bool:
    return not isinstance(value, list) or all(surely_valid(expected, item) for item in value)


def _bound(test: Any) -> Any:
    def check(expected: Any, value: Any) -> bool:
        if not TYPES["number"](value):
            return True
        return isinstance(expected, (int, float)) and not isinstance(expected, bool) and test(value, expected)
    return check


def _size(kind: type, test: Any) -> Any:
    def check(expected: Any, value: Any) -> bool:
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return True
        return isinstance(expected, int) and not isinstance(expected, bool) and test(len(value), expected)
    return check


def _enum(expected: Any, value: Any) -> bool:
    """Scalars only: Python's ``==`` would take ``[True]`` for ``[1]``, which JSON does not."""
    if isinstance(value, (list, dict)) or not isinstance(expected, list):
        return False
    return any(_same_scalar(value, option) for option in expected)


def _same_scalar(a: Any, b: Any) -> bool:
    """JSON equality of scalars: ``True`` is not ``1``, while ``1`` is ``1.0``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


_KEYWORDS = {
    "type": _type,
    "properties": _properties,
    "required": _required,
    "items": _items,
    "minimum": _bound(lambda v, e: v >= e),
    "maximum": _bound(lambda v, e: v <= e),
    "exclusiveMinimum": _bound(lambda v, e: v > e),
    "exclusiveMaximum": _bound(lambda v, e: v < e),
    "minItems": _size(list, lambda n, e: n >= e),
    "maxItems": _size(list, lambda n, e: n <= e),
    "minLength": _size(str, lambda n, e: n >= e),
    "maxLength": _size(str, lambda n, e: n <= e),
    "minProperties": _size(dict, lambda n, e: n >= e),
    "maxProperties": _size(dict, lambda n, e: n <= e),
    "enum": _enum,
}
