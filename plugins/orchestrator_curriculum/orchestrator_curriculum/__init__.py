"""orchestrator-curriculum: the scriptlets, sample data and recipes of the orch curriculum.

The plugin itself is :mod:`orchestrator_curriculum.plugin`; the scriptlets live one per
module in :mod:`orchestrator_curriculum.steps`.
"""

__version__ = "0.2.0"
