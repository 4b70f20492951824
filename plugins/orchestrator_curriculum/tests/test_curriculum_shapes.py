"""``orch steps check`` after the curriculum's modules 01-08, run twice: every key kept its shape.

The runs differ in what they load (the enriched CSV of module 04 has more columns), in
which steps ran, in rows skipped or not: data, not shape. A real change is still caught.
"""

from __future__ import annotations

import json

import orchestrator_shell.plugin

MODULES = ["01_basic_number", "02_basic_mixed", "03_validation_errors", "04_artifacts_pipeline",
           "05_metrics_versioned", "06_parallel_fan_in", "07_cpu_process", "08_versioning_wrapper"]


def test_modules_01_to_08_twice_leave_no_shape_warning(curriculum_pm, register_plugin, run_curriculum, orch_cli,
                                                       tmp_path):
    register_plugin(orchestrator_shell.plugin, "shell")
    for _ in range(2):
        outcomes = {name: run_curriculum(name) for name in MODULES}
        assert [name for name, o in outcomes.items() if o.error is not None] == ["03_validation_errors"]
    checked = orch_cli("steps", "check", "--strict")
    assert checked.exit_code == 0, checked.err
    assert checked.err.strip() == "ok: every recorded key kept its shape"

    # A write of another shape under a recorded key is still a change.
    (tmp_path / "shape_probe.py").write_text(
        "from orchestrator_core import BaseScriptlet\n\n"
        "class Flatten(BaseScriptlet):\n"
        "    outputs = ('numbers.raw_v1',)\n\n"
        "    def run(self, ctx, params):\n"
        "        ctx.set('numbers.raw_v1', [1, 2])\n")
    (tmp_path / "changed.yaml").write_text("steps:\n  - {name: change, module: shape_probe, function: Flatten}\n")
    changed = orch_cli("run", "changed.yaml", "--no-progress", pythonpath=[tmp_path])
    assert changed.exit_code == 0, changed.err
    changes = json.loads(orch_cli("steps", "check", "--json").out)
    assert [(c["key"], c["after"]) for c in changes] == [("numbers.raw_v1", "[number]")]
