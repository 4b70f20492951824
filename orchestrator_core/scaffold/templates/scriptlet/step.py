"""{{class}}: one scriptlet of {{dist}}.

Params: ``who`` (string, required): whom to greet.
Writes: ``{{key}}`` (string): the greeting.
"""

from orchestrator_core import BaseScriptlet, ScriptletError


class {{class}}(BaseScriptlet):
    """Greet ``who`` and write the greeting to ``{{key}}``."""

    name = "{{scriptlet}}"
    outputs = ("{{key}}",)
    params_schema = {
        "type": "object",
        "properties": {"who": {"type": "string", "minLength": 1}},
        "required": ["who"],
    }

    def validate(self, ctx, params):
        if not params.get("who"):
            raise ScriptletError("param 'who' is required", details={"params": sorted(params)})

    def run(self, ctx, params):
        ctx.set("{{key}}", f"hello, {params['who']}")


if __name__ == "__main__":
    {{class}}.main()
