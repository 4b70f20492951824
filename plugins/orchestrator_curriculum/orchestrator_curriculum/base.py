"""The base class of the curriculum scriptlets: params checked against one schema.

Each scriptlet declares its params once, as ``params_schema`` (types, limits and
defaults). ``orch validate`` checks recipes against that schema at the param's line;
:meth:`CurriculumScriptlet.validate` checks the same schema when the step runs (also
standalone, where no recipe was validated), and :meth:`CurriculumScriptlet.param`
reads a param or its schema default. So a param's type and default are written once.
"""

from __future__ import annotations

from typing import Any, ClassVar

from orchestrator_core import BaseScriptlet, ScriptletError
from orchestrator_core.recipe.params import surely_valid


def no_params() -> dict[str, Any]:
    """The schema of a scriptlet that takes no params."""
    return {"type": "object", "properties": {}, "additionalProperties": False}


class CurriculumScriptlet(BaseScriptlet):
    """A scriptlet whose ``validate`` enforces its ``params_schema``.

    Subclasses that check more (the context, files) call ``super().validate`` first.
    """

    params_schema: ClassVar[dict[str, Any] | None] = no_params()

    def validate(self, ctx: Any, params: dict[str, Any]) -> None:
        check_params(self.params_schema or no_params(), params)

    def param(self, params: dict[str, Any], name: str) -> Any:
        """``params[name]``, or the default the schema gives for it."""
        if name in params:
            return params[name]
        return (self.params_schema or {}).get("properties", {}).get(name, {}).get("default")


def check_params(schema: dict[str, Any], params: dict[str, Any]) -> None:
    """Raise a ``ScriptletError`` naming the first param that does not fit ``schema``."""
    if surely_valid(schema, params):
        return  # no reason to import jsonschema (60-100 ms) for valid params
    import jsonschema

    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(params), key=lambda e: list(e.path))
    if not errors:
        return
    error = errors[0]
    known = sorted(schema.get("properties", {}))
    if error.validator == "additionalProperties":
        unknown = sorted(set(params) - set(known))
        raise ScriptletError(f"Unknown param {unknown[0]!r}",
                             details={"unknown": unknown, "known": known})
    name = ".".join(str(part) for part in error.path) or "params"
    raise ScriptletError(f"Bad param {name!r}: {error.message}",
                         details={"param": name, "value": error.instance})
