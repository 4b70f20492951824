"""A scriptlet module runnable on its own: ``python -m orch_sample.standalone_sum --params '{...}'``."""

from orchestrator_core import BaseScriptlet, ScriptletError


class AddNumbers(BaseScriptlet):
    """Add the numbers in params ``numbers`` into ``t.total_v1``."""

    name = "add_numbers"
    outputs = ("t.total_v1",)

    def validate(self, ctx, params):
        if "numbers" not in params:
            raise ScriptletError("numbers required", details={"params": sorted(params)})

    def run(self, ctx, params):
        ctx.set("t.total_v1", sum(params["numbers"]))


if __name__ == "__main__":
    AddNumbers.main()
