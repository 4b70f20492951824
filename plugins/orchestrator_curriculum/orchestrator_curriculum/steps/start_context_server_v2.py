"""start_context_server_v2: make sure the run has a context server, and say where it is (guide §8).

Params:
  ``host`` (string, default ``127.0.0.1``): where to listen when this step starts the server.
  ``port`` (integer 0-65535, default 0: a free port).
Writes: ``context_server.url_v1`` (the base URL, ``http://127.0.0.1:PORT/``) and
``context_server.status_v1`` = ``{"url", "started_by", "healthy", "run"}``:
``started_by`` is ``"step"`` when this step started the server, ``"--serve"`` when
``orch run --serve`` had (then ``host`` and ``port`` are not used).
The server serves the run's state store (API and live dashboard) from a thread of the
run's process and is stopped when the run ends, whether it succeeded or not.
Fails: run alone or out of the run's process (there is no run to serve), an address
that cannot be bound, a non-loopback host (that needs a token: use ``orch serve``).
"""

from __future__ import annotations

from orchestrator_core import ScriptletError
from orchestrator_core.errors import UsageError

from orchestrator_curriculum import context_client
from orchestrator_curriculum.base import CurriculumScriptlet


class StartContextServerV2(CurriculumScriptlet):
    """Give the run's clients and dashboards one URL to reach the run at, for as long as it runs."""

    name = "start_context_server_v2"
    outputs = ("context_server.url_v1", "context_server.status_v1")
    inputs = ()
    params_schema = {
        "type": "object",
        "properties": {
            "host": {"type": "string", "minLength": 1, "default": "127.0.0.1",
                     "description": "address to listen on (loopback)"},
            "port": {"type": "integer", "minimum": 0, "maximum": 65535, "default": 0,
                     "description": "port; 0 picks a free one"},
        },
        "additionalProperties": False,
    }

    def run(self, ctx, params):
        from orchestrator_core import serve_run

        try:
            url, started = serve_run(ctx.run_id, host=self.param(params, "host"), port=self.param(params, "port"))
        except UsageError as exc:
            raise ScriptletError(str(exc), details={"run": ctx.run_id}) from None
        healthy = context_client.health(url).get("status") == "ok"
        ctx.set("context_server.url_v1", url)
        ctx.set("context_server.status_v1", {"url": url, "started_by": "step" if started else "--serve",
                                             "healthy": healthy, "run": ctx.run_id})


if __name__ == "__main__":
    StartContextServerV2.main()
