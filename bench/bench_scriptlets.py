"""Scriptlets the benchmarks run; importable by worker processes (bench/ on PYTHONPATH)."""

import time

from orchestrator_core import BaseScriptlet, hookimpl


class Noop(BaseScriptlet):
    """Does nothing: what is left is the framework's cost."""

    name = "bench_noop"
    outputs = ()

    def run(self, ctx, params):
        return None


class ParallelNoop(Noop):
    name = "bench_parallel_noop"
    parallelizable = True


class Nap(BaseScriptlet):
    """Sleeps ``seconds``: an I/O-bound step."""

    name = "bench_nap"
    outputs = ()
    parallelizable = True

    def run(self, ctx, params):
        time.sleep(params.get("seconds", 0.2))


class Busy(BaseScriptlet):
    """Burns CPU for ``ms`` milliseconds of wall time: a cached step worth skipping."""

    name = "bench_busy"
    outputs = ("bench.busy_v1",)

    def run(self, ctx, params):
        end = time.perf_counter() + params.get("ms", 10) / 1000
        n = 0
        while time.perf_counter() < end:
            n += 1
        ctx.set("bench.busy_v1", params.get("tag", 0))


def noop_function(ctx, params):
    """The baseline: the same call without the framework."""
    return None


@hookimpl
def orch_register_scriptlets():
    return [Noop, ParallelNoop, Nap, Busy]


class Chatty(BaseScriptlet):
    """Prints ``lines`` lines to stdout and as many to stderr: a step that logs a lot."""

    name = "bench_chatty"
    outputs = ()

    def run(self, ctx, params):
        import sys

        for i in range(params.get("lines", 2000)):
            print(f"chatty line {i} of a step that logs a lot")
            print(f"chatty log line {i}", file=sys.stderr)
