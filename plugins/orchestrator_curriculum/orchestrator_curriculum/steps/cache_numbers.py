"""cache_numbers: fingerprint the numbers source, and say whether the framework's cache served it (guide §13).

Params: ``path`` / ``data_file`` / ``sample``, the same as ``load_numbers`` (default: the packaged
``numbers.csv``).
Writes:
  ``cache.numbers_hash_v1`` (string): hex SHA-256 of the source file's bytes.
  ``cache.numbers_hit_v1`` (boolean): ``true`` when the step was a cache hit in this run,
  ``false`` when it ran.
With a ``cache_key: K`` in the recipe the step is cached: its fingerprint covers the
source file's content (the scriptlet declares the file it reads), so editing the CSV
is a miss, and a hit also needs the marker ``.cache/K.done`` that the runner writes after a
stored miss. On a hit the step does not run: the runner replays its stored hash and
calls :meth:`CacheNumbers.on_cache_hit`, which sets ``cache.numbers_hit_v1`` to ``true``;
its JSON line says ``"cache":"hit"``. Run alone or without a ``cache_key``, it always runs
and says ``false``.
"""

from __future__ import annotations

from orchestrator_curriculum import numbers_io
from orchestrator_curriculum.base import CurriculumScriptlet

HASH_KEY = "cache.numbers_hash_v1"
HIT_KEY = "cache.numbers_hit_v1"


class CacheNumbers(CurriculumScriptlet):
    """Identify the numbers by content, and record whether this run reused the cached answer."""

    name = "cache_numbers"
    outputs = (HASH_KEY, HIT_KEY)
    inputs = ()
    params_schema = {
        "type": "object",
        "properties": {**numbers_io.SOURCE_PARAMS},
        "additionalProperties": False,
    }

    @classmethod
    def files(cls, params, workdir, data_dir):
        return numbers_io.source_files(params, workdir, data_dir)

    def validate(self, ctx, params):
        super().validate(ctx, params)
        numbers_io.source_path(params, ctx.workdir, ctx.data_dir)

    def run(self, ctx, params):
        path = numbers_io.source_path(params, ctx.workdir, ctx.data_dir)
        ctx.set(HASH_KEY, numbers_io.file_sha256(path))
        ctx.set(HIT_KEY, False)

    def on_cache_hit(self, ctx, params):
        ctx.set(HIT_KEY, True)


if __name__ == "__main__":
    CacheNumbers.main()
