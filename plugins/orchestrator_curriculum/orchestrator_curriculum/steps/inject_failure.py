"""inject_failure: a step that fails on purpose, to practise the resilience controls (guide §14).

Params:
  ``fail`` (boolean, default true): fail with a structured error; false lets it pass.
  ``reason`` (string, default "Injected failure"): the error's reason.
Writes: ``resilience.inject_ok_v1`` (true) when it passes.
Fails (by default): ``Injected failure`` with details ``{"injected": true, "hint": ...}``.
Recover with ``orch run RECIPE --skip inject_failure`` or ``--resume-from <next step>``,
or set ``fail: false`` in the recipe.
"""

from __future__ import annotations

from orchestrator_core import ScriptletError

from orchestrator_curriculum.base import CurriculumScriptlet


class InjectFailure(CurriculumScriptlet):
    """Fail predictably, so skipping and resuming can be tried on a real failed run."""

    name = "inject_failure"
    outputs = ("resilience.inject_ok_v1",)
    inputs = ()
    params_schema = {
        "type": "object",
        "properties": {
            "fail": {"type": "boolean", "default": True, "description": "fail (true) or pass (false)"},
            "reason": {"type": "string", "minLength": 1, "default": "Injected failure",
                       "description": "the error's reason"},
        },
        "additionalProperties": False,
    }

    def run(self, ctx, params):
        if self.param(params, "fail"):
            raise ScriptletError(self.param(params, "reason"), details={
                "injected": True,
                "hint": "rerun with --skip inject_failure or --resume-from the next step, or set params.fail: false",
            })
        ctx.set("resilience.inject_ok_v1", True)


if __name__ == "__main__":
    InjectFailure.main()
