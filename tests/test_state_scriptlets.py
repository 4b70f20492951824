"""Scriptlets the state, cache and resume tests run (no tests here).

The tests copy this file into their working directory under another module name and
name its classes in recipes with the guide's form (``module: ...``, ``function: ...``),
so a real ``orch`` process imports them from ``PYTHONPATH`` without registration, and
a test can edit the copy to change a scriptlet's source. Every step appends its name
to ``calls.log`` in the working directory: the proof of whether it really ran.
"""

import time
from pathlib import Path

from orchestrator_core import BaseScriptlet, ScriptletError

KEYS = ("t.a_v1", "t.b_v1", "t.c_v1", "t.d_v1", "t.e_v1")


def called(ctx):
    with open(Path(ctx.workdir) / "calls.log", "a", encoding="utf-8") as log:
        log.write(ctx.step + "\n")


class Emit(BaseScriptlet):
    """Write every key of params ``values``, after sleeping ``sleep`` seconds."""

    name = "state_emit"
    outputs = None  # it writes whatever keys its params name: conflicts are caught while running

    def run(self, ctx, params):
        called(ctx)
        time.sleep(params.get("sleep", 0))
        for key, value in params.get("values", {}).items():
            ctx.set(key, value)


class Sum(BaseScriptlet):
    """Write the sum of the context keys listed in params ``keys`` to ``t.sum_v1``."""

    name = "state_sum"
    outputs = ("t.sum_v1",)

    def run(self, ctx, params):
        called(ctx)
        ctx.set("t.sum_v1", sum(ctx.get(key, 0) for key in params["keys"]))


class Gate(BaseScriptlet):
    """Wait while the file params ``gate`` exists (at most ``limit`` seconds), then write ``t.c_v1``."""

    name = "state_gate"
    outputs = ("t.c_v1",)

    def run(self, ctx, params):
        called(ctx)
        gate = Path(ctx.workdir) / params["gate"]
        end = time.monotonic() + params.get("limit", 60)
        while gate.exists() and time.monotonic() < end:
            time.sleep(0.02)
        ctx.set("t.c_v1", params.get("value", 3))


class FailIf(BaseScriptlet):
    """Fail while the file params ``flag`` exists; otherwise write ``t.d_v1``."""

    name = "state_fail_if"
    outputs = ("t.d_v1",)

    def run(self, ctx, params):
        called(ctx)
        if (Path(ctx.workdir) / params["flag"]).exists():
            raise ScriptletError("flag file present", details={"flag": params["flag"]})
        ctx.set("t.d_v1", params.get("value", 4))
