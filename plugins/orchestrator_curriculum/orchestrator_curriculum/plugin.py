"""The orch plugin of orchestrator-curriculum: its scriptlets, its recipes and its shell scripts.

Registered through the entry point ``curriculum = "orchestrator_curriculum.plugin"``.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator_core import LazyScriptlet, hookimpl

PACKAGE_DIR = Path(__file__).resolve().parent

# Each scriptlet's name and class; its module is ``orchestrator_curriculum.steps.<name>``.
# Registered lazily: every ``orch`` start builds the registry, and importing the 19 modules
# (with their helpers: csv, the numbers I/O) cost every run ~6 ms whether it used them or not.
# A test holds this table to what ``discover_scriptlets`` finds in ``steps/``.
SCRIPTLETS = {
    "aggregate_metrics": "AggregateMetrics",
    "cache_numbers": "CacheNumbers",
    "cleanup_intermediate": "CleanupIntermediate",
    "compute_mean": "ComputeMean",
    "compute_median": "ComputeMedian",
    "compute_metrics_v1": "ComputeMetricsV1",
    "compute_metrics_v2": "ComputeMetricsV2",
    "compute_numbers": "ComputeNumbers",
    "compute_std": "ComputeStd",
    "demo_update_state": "DemoUpdateState",
    "generate_report": "GenerateReport",
    "inject_failure": "InjectFailure",
    "load_numbers": "LoadNumbers",
    "normalize_numbers": "NormalizeNumbers",
    "prime_factor_analysis": "PrimeFactorAnalysis",
    "publish_stats": "PublishStats",
    "resource_audit": "ResourceAudit",
    "start_context_server_v2": "StartContextServerV2",
    "validate_numbers": "ValidateNumbers",
}


def recipes_dir() -> Path:
    """The recipes folder: inside the package when installed from a wheel, else the source tree's.

    The wheel carries a copy of the repository's ``recipes/`` folder; an editable install
    runs from the source tree, where the one copy is ``recipes/`` at the repository root.
    """
    packaged = PACKAGE_DIR / "recipes"
    if packaged.is_dir():
        return packaged
    return PACKAGE_DIR.parents[2] / "recipes"


@hookimpl
def orch_register_scriptlets() -> list[LazyScriptlet]:
    return [LazyScriptlet(name, f"orchestrator_curriculum.steps.{name}:{cls}") for name, cls in SCRIPTLETS.items()]


def scripts_dir() -> Path:
    """The shell scriptlets (``sanitize_csv.sh``, ``enrich_csv.sh``), run by ``type: shell`` steps by name."""
    return PACKAGE_DIR / "scripts"


@hookimpl
def orch_register_recipe_dirs():
    return [recipes_dir(), scripts_dir()]
