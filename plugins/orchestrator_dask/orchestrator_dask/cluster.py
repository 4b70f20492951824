"""Getting a Dask client for one run: connect to a scheduler, or start a LocalCluster.

Imported only when a run first uses the ``dask`` executor, so ``orch`` itself never
pays for importing Dask.
"""

from __future__ import annotations

import logging
from typing import Any

import dask
from distributed import Client, LocalCluster

from orchestrator_core.errors import UsageError

logger = logging.getLogger("orchestrator.dask")

CONNECT_TIMEOUT_S = 10
CLOSE_TIMEOUT_S = 10

# The runner owns retries (``retries:`` in a recipe): a step that kills its worker must
# fail at once instead of being tried again on other workers of the run's own cluster.
LOCAL_CLUSTER_CONFIG = {"distributed.scheduler.allowed-failures": 0}


def connect(address: str | None, workers: int, worker_options: dict[str, Any] | None = None) -> tuple[Client, Any]:
    """A client of the scheduler at ``address``, or of a new LocalCluster of ``workers`` processes
    (started with ``worker_options``, Nanny arguments: ``output.WorkerOutputs.worker_options``).

    Returns the client and the cluster this run owns (``None`` for an outside scheduler).
    """
    # Dask logs at INFO by its own configuration; follow orch's level (WARNING unless asked).
    logging.getLogger("distributed").setLevel(logging.getLogger("orchestrator").getEffectiveLevel())
    if address:
        try:
            client = Client(address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            raise UsageError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        logger.info("dask: connected to %s (%d workers)", address, len(client.scheduler_info()["workers"]))
        return client, None
    with dask.config.set(LOCAL_CLUSTER_CONFIG):
        # ":0": the scheduler's HTTP endpoint takes a free port, so runs side by side never clash.
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=":0", **(worker_options or {}))
    logger.info("dask: started a LocalCluster of %d worker processes at %s", workers, cluster.scheduler_address)
    return Client(cluster), cluster


def close(client: Client, cluster: Any) -> None:
    """Close the client, then the cluster the run started (which stops its worker processes)."""
    try:
        client.close(timeout=CLOSE_TIMEOUT_S)
    finally:
        if cluster is not None:
            cluster.close(timeout=CLOSE_TIMEOUT_S)
