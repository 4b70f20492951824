"""The quick params check never says yes where jsonschema says no, and says yes to the usual params."""

from __future__ import annotations

import itertools

import jsonschema
import pytest

from orchestrator_core.recipe.params import surely_valid

SCHEMAS = [
    {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"],
     "additionalProperties": False},
    {"type": "object", "properties": {"xs": {"type": "array", "items": {"type": "number"}, "minItems": 1}}},
    {"type": "object", "properties": {"mode": {"enum": ["a", "b", 1]}, "flag": {"type": "boolean"}},
     "additionalProperties": {"type": "string", "maxLength": 3}},
    {"type": "object", "properties": {"name": {"type": ["string", "null"], "minLength": 2}},
     "minProperties": 1, "maxProperties": 2},
    {"type": "object", "properties": {"ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}}},
    {"type": "object", "properties": {"key": {"type": "string", "pattern": "_v[0-9]+$"}}},  # unknown: asks jsonschema
    {"type": "object", "patternProperties": {"^x": {"type": "integer"}}},
    {"type": "object", "properties": {"deep": {"type": "object", "properties": {"k": {"type": "integer"}},
                                               "required": ["k"]}}},
]
VALUES = [
    {}, {"n": 1}, {"n": 0}, {"n": 1.0}, {"n": 1.5}, {"n": True}, {"n": "1"}, {"n": 2, "extra": 1},
    {"xs": []}, {"xs": [1, 2.5]}, {"xs": [True]}, {"xs": ["1"]}, {"xs": 3},
    {"mode": "a"}, {"mode": 1.0}, {"mode": True}, {"mode": "c"}, {"mode": ["a"]}, {"flag": 0}, {"other": "abc"},
    {"other": "abcd"}, {"other": 1},
    {"name": None}, {"name": "x"}, {"name": "xy", "a": 1, "b": 2},
    {"ratio": 0}, {"ratio": 0.5}, {"ratio": 1}, {"ratio": "0.5"},
    {"key": "a_v1"}, {"key": "a"}, {"x1": 1}, {"x1": "1"},
    {"deep": {"k": 1}}, {"deep": {}}, {"deep": {"k": "1"}}, [], "params", None,
]


@pytest.mark.parametrize("schema, value", list(itertools.product(SCHEMAS, VALUES)))
def test_a_yes_is_always_right(schema, value):
    if surely_valid(schema, value):
        assert jsonschema.Draft202012Validator(schema).is_valid(value)


def test_it_says_yes_to_the_usual_params():
    assert surely_valid(SCHEMAS[0], {"n": 3})
    assert surely_valid(SCHEMAS[1], {"xs": [1, 2.5]})
    assert surely_valid(SCHEMAS[2], {"mode": "b", "flag": False, "x": "ab"})
    assert not surely_valid(SCHEMAS[5], {"key": "a_v1"})  # pattern: left to jsonschema
