"""A small scriptlet pack the core's tests run recipes with."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from orchestrator_core import BaseScriptlet, ScriptletError, hookimpl

KEYS = ("t.a_v1", "t.b_v1", "t.c_v1", "t.shared_v1")
_barriers: dict[str, threading.Barrier] = {}
_barrier_lock = threading.Lock()


class WriteKeys(BaseScriptlet):
    """Write the keys given in params ``values``, after an optional ``sleep``."""

    name = "write_keys"
    outputs = None  # it writes whatever keys its params name: conflicts are caught while running
    parallelizable = True

    def run(self, ctx, params):
        time.sleep(params.get("sleep", 0))
        barrier = params.get("barrier")
        if barrier:
            with _barrier_lock:
                wait = _barriers.setdefault(barrier, threading.Barrier(params["parties"], timeout=10))
            try:
                wait.wait()
            except threading.BrokenBarrierError:
                raise ScriptletError("barrier broken: steps did not run together") from None
        for key, value in params.get("values", {}).items():
            ctx.set(key, value)


class SumKeys(BaseScriptlet):
    """Sum the numeric context keys listed in params ``keys`` into ``t.sum_v1``."""

    name = "sum_keys"
    outputs = ("t.sum_v1",)

    def validate(self, ctx, params):
        if "keys" not in params:
            raise ScriptletError("keys required")

    def run(self, ctx, params):
        ctx.set("t.sum_v1", sum(ctx.get(k, 0) for k in params["keys"]))


class Fail(BaseScriptlet):
    """Fail with params ``reason`` and ``details``."""

    name = "fail"
    outputs = ()

    def run(self, ctx, params):
        raise ScriptletError(params.get("reason", "failed on purpose"), details=params.get("details", {}),
                             exit_code=params.get("exit_code", 1))


class Crash(BaseScriptlet):
    """Raise an unexpected exception."""

    name = "crash"
    outputs = ()

    def run(self, ctx, params):
        return {}["missing"]


class Flaky(BaseScriptlet):
    """Fail the first ``fail_times`` attempts (counted in a file under the data dir)."""

    name = "flaky"
    outputs = ("t.flaky_v1",)

    def run(self, ctx, params):
        counter = ctx.artifact_path(params.get("counter", "flaky.count"))
        attempts = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(attempts))
        if attempts <= params.get("fail_times", 1):
            raise ScriptletError(f"attempt {attempts} fails")
        ctx.set("t.flaky_v1", attempts)


class Sleepy(BaseScriptlet):
    """Sleep ``seconds`` in short naps, stopping early when the runner cancels the step."""

    name = "sleepy"
    outputs = ("t.slept_v1",)

    def run(self, ctx, params):
        end = time.monotonic() + params.get("seconds", 1)
        while time.monotonic() < end and not ctx.cancelled:
            time.sleep(0.01)
        ctx.set("t.slept_v1", not ctx.cancelled)


class Undeclared(BaseScriptlet):
    """Write a key it did not declare."""

    name = "undeclared"
    outputs = ("t.a_v1",)

    def run(self, ctx, params):
        ctx.set("t.not_declared_v1", 1)


class NotJson(BaseScriptlet):
    """Write a value JSON cannot represent."""

    name = "not_json"
    outputs = ("t.a_v1",)

    def run(self, ctx, params):
        ctx.set("t.a_v1", {1, 2, 3})


class Chatty(BaseScriptlet):
    """Print to stdout (which must not reach the JSON-line stream) and write a key."""

    name = "chatty"
    outputs = ("t.a_v1",)

    def run(self, ctx, params):
        print("hello from a step")
        os.system("echo hello from a child process")
        ctx.set("t.a_v1", "said hello")
        return {"artifact": "Data/hello.txt"}


class Noop(BaseScriptlet):
    """Do nothing."""

    name = "noop"
    outputs = ()

    def run(self, ctx, params):
        return None


@hookimpl
def orch_register_scriptlets():
    return [WriteKeys, SumKeys, Fail, Crash, Flaky, Sleepy, Undeclared, NotJson, Chatty, Noop]


@hookimpl
def orch_register_recipe_dirs():
    return [Path(__file__).parent / "recipes"]
