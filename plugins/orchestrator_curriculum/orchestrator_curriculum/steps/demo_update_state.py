"""demo_update_state: write keys to the running run through the context server, as a client (guide §8).

Params:
  ``updates`` (object, key → any JSON value; default two ``demo_update_state.*_v1``
  keys): the keys to write. Keys are versioned (end in ``_vN``); ``_runner.*`` keys
  are the runner's and the server refuses them.
Reads: ``context_server.url_v1`` (from ``start_context_server_v2``).
Writes, through the server's API (``PUT /api/runs/RUN/context/KEY``, attributed to
``demo_update_state``): every key of ``updates``. The run merges them into its context
before its next step starts, so later steps read them.
Writes, as its own output: ``demo_update_state.ack_v1`` = ``{"url", "written",
"ids", "verified"}``: the keys written, the server's write ids, and whether reading
each key back through the API gave the value written.
Fails: no ``context_server.url_v1``, a server that cannot be reached or refuses a write.
"""

from __future__ import annotations

from orchestrator_curriculum import context_client
from orchestrator_curriculum.base import CurriculumScriptlet

DEFAULT_UPDATES = {
    "demo_update_state.greeting_v1": "hello from a context server client",
    "demo_update_state.counter_v1": 1,
}


class DemoUpdateState(CurriculumScriptlet):
    """Show that the context is reachable from outside the run, and that the run sees what is written."""

    name = "demo_update_state"
    outputs = ("demo_update_state.ack_v1",)
    inputs = (context_client.URL_KEY,)
    params_schema = {
        "type": "object",
        "properties": {
            "updates": {"type": "object", "minProperties": 1, "default": DEFAULT_UPDATES,
                        "propertyNames": {"pattern": r"^(?!_runner\.).+_v[0-9]+$"},
                        "description": "versioned keys to write through the server, with their values"},
        },
        "additionalProperties": False,
    }

    def validate(self, ctx, params):
        super().validate(ctx, params)
        context_client.server_url(ctx)

    def run(self, ctx, params):
        url = context_client.server_url(ctx)
        updates = self.param(params, "updates")
        ids, verified = [], True
        for key, value in updates.items():
            ids.append(context_client.write_key(url, ctx.run_id, key, value, who=self.name)["id"])
            back = context_client.read_key(url, ctx.run_id, key)
            verified = verified and back["value"] == value and back["who"] == self.name
        ctx.set("demo_update_state.ack_v1", {"url": url, "written": list(updates), "ids": ids, "verified": verified})


if __name__ == "__main__":
    DemoUpdateState.main()
