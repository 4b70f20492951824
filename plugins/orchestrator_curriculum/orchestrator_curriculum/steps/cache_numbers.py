"""cache_numbers: fingerprint the numbers source and remember it with a marker (guide §13).

Params: ``path`` / ``data_file`` / ``sample``, the same as ``load_numbers`` (default: the packaged
``numbers.csv``); ``cache_dir`` (string, default ``.cache``, relative to the working
directory).
Writes:
  ``cache.numbers_hash_v1`` (string): hex SHA-256 of the source file's bytes.
  ``cache.numbers_hit_v1`` (boolean): whether the marker ``<cache_dir>/numbers-<hash>.done``
  already existed before this step; the step creates it, so the next run with the same
  content is a hit and any edit to the file is a miss.
The JSON line carries the marker's path as ``marker``.
When the recipe also gives the step a ``cache_key``, the framework's cache may skip the
step altogether; its line then says ``"cache": "hit"`` and the keys are the stored ones.
"""

from __future__ import annotations

import json

from orchestrator_curriculum import numbers_io
from orchestrator_curriculum.base import CurriculumScriptlet


class CacheNumbers(CurriculumScriptlet):
    """Tell whether these exact numbers were seen before, by content rather than by file name."""

    name = "cache_numbers"
    outputs = ("cache.numbers_hash_v1", "cache.numbers_hit_v1")
    inputs = ()
    params_schema = {
        "type": "object",
        "properties": {
            **numbers_io.SOURCE_PARAMS,
            "cache_dir": {"type": "string", "minLength": 1, "default": ".cache",
                          "description": "marker folder, relative to the working directory"},
        },
        "additionalProperties": False,
    }

    def validate(self, ctx, params):
        super().validate(ctx, params)
        numbers_io.source_path(params, ctx.workdir, ctx.data_dir)

    def run(self, ctx, params):
        path = numbers_io.source_path(params, ctx.workdir, ctx.data_dir)
        digest = numbers_io.file_sha256(path)
        marker = ctx.workdir / self.param(params, "cache_dir") / f"numbers-{digest}.done"
        hit = marker.is_file()
        if not hit:
            marker.parent.mkdir(parents=True, exist_ok=True)
            source = numbers_io.source_label(params, path, ctx)
            marker.write_text(json.dumps({"source": source, "sha256": digest}) + "\n", encoding="utf-8")
        ctx.set("cache.numbers_hash_v1", digest)
        ctx.set("cache.numbers_hit_v1", hit)
        return {"marker": ctx.relative(marker)}


if __name__ == "__main__":
    CacheNumbers.main()
