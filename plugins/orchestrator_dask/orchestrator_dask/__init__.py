"""orchestrator-dask: the ``dask`` executor of orch, steps on a Dask distributed cluster.

The plugin is :mod:`orchestrator_dask.plugin`; connecting to (or starting) a cluster
is :mod:`orchestrator_dask.cluster` and turning Dask futures into the runner's
futures is :mod:`orchestrator_dask.futures`.
"""

__version__ = "0.2.0"
