"""publish_stats: publish a summary of context keys to the context server, as a client (guide §8).

Params:
  ``keys`` (list of strings, default ``["metrics.aggregate_v1", "numbers.stats_v1"]``):
  the context keys to publish; those missing are listed, not an error, unless all are.
  ``as_key`` (string, default ``publish_stats.stats_v1``): the versioned key to publish under.
Reads: ``context_server.url_v1`` and the ``keys``.
Writes, through the server's API (attributed to ``publish_stats``): ``as_key`` =
``{"values": {key: value}, "missing": [...]}``, which dashboards and later steps read.
Writes, as its own output: ``publish_stats.ack_v1`` = ``{"url", "key", "published",
"missing", "id", "ts"}``: the server's acknowledgement of the write.
Fails: no ``context_server.url_v1``, none of ``keys`` in the context, a refused write.
"""

from __future__ import annotations

from orchestrator_core import ScriptletError

from orchestrator_curriculum import context_client
from orchestrator_curriculum.base import CurriculumScriptlet



class PublishStats(CurriculumScriptlet):
    """Hand a run's headline figures to whoever watches the server, without them reading every key."""

    name = "publish_stats"
    outputs = ("publish_stats.ack_v1",)
    params_schema = {
        "type": "object",
        "properties": {
            "keys": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                     "default": ["metrics.aggregate_v1", "numbers.stats_v1"],
                     "description": "context keys to publish"},
            "as_key": {"type": "string", "pattern": r"^(?!_runner\.).+_v[0-9]+$",
                       "default": "publish_stats.stats_v1", "description": "versioned key to publish under"},
        },
        "additionalProperties": False,
    }

    def validate(self, ctx, params):
        super().validate(ctx, params)
        context_client.server_url(ctx)

    def run(self, ctx, params):
        url = context_client.server_url(ctx)
        keys = self.param(params, "keys")
        target = self.param(params, "as_key")
        values = {key: ctx.get(key) for key in keys if key in ctx}
        missing = [key for key in keys if key not in values]
        if not values:
            raise ScriptletError("None of the keys to publish is in the context", details={"missing": missing})
        answer = context_client.write_key(url, ctx.run_id, target, {"values": values, "missing": missing},
                                          who=self.name)
        ctx.set("publish_stats.ack_v1", {"url": url, "key": target, "published": sorted(values),
                                         "missing": missing, "id": answer["id"], "ts": answer["ts"]})


if __name__ == "__main__":
    PublishStats.main()
