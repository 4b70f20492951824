"""cleanup_intermediate: remove transient artifacts at the end of a pipeline (guide §17).

Params: ``files`` (list of file names under the data directory, default
``["normalized.json", "numbers_enriched.csv"]``); names may not leave the data directory.
Writes: ``cleanup.removed_v1`` (list of strings): the files it removed, relative to the
working directory, in the order given; the JSON line repeats them as ``removed``.
Idempotent: files already gone are not an error, so a second run removes nothing and
reports ``[]``.
"""

from __future__ import annotations

from pathlib import PurePath

from orchestrator_core import ScriptletError

from orchestrator_curriculum.base import CurriculumScriptlet

TRANSIENT = ["normalized.json", "numbers_enriched.csv"]


class CleanupIntermediate(CurriculumScriptlet):
    """Keep the data directory lean for long-lived pipelines, safely and repeatably."""

    name = "cleanup_intermediate"
    outputs = ("cleanup.removed_v1",)
    inputs = ()
    params_schema = {
        "type": "object",
        "properties": {
            "files": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": TRANSIENT,
                      "description": "file names under the data directory"},
        },
        "additionalProperties": False,
    }

    def validate(self, ctx, params):
        super().validate(ctx, params)
        outside = [name for name in self.param(params, "files")
                   if PurePath(name).is_absolute() or ".." in PurePath(name).parts]
        if outside:
            raise ScriptletError("Cleanup only removes files under the data directory",
                                 details={"files": outside})

    def run(self, ctx, params):
        removed = []
        for name in self.param(params, "files"):
            path = ctx.data_dir / name
            if path.is_file():
                path.unlink()
                removed.append(ctx.relative(path))
        ctx.set("cleanup.removed_v1", removed)
        return {"removed": removed}


if __name__ == "__main__":
    CleanupIntermediate.main()
