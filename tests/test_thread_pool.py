"""The thread pool's futures share one Condition (PoolFuture) and still behave as ``Future`` does."""

from __future__ import annotations

import threading
import time
from concurrent.futures import CancelledError, Future, TimeoutError, as_completed, wait

import pytest

from orchestrator_core.builtin.threads import DaemonPool


@pytest.fixture
def pool():
    pool = DaemonPool(2, name="test-pool")
    yield pool
    pool.shutdown()


def napping(task, flag):
    time.sleep(task)
    return task


def test_waiting_on_one_future_outlasts_the_others_finishing(pool):
    gate = threading.Event()
    held = pool.submit(5.0, run=lambda task, flag: gate.wait(task) and "released")
    quick = [pool.submit(0.01 * i, run=napping) for i in range(1, 6)]  # each notifies the shared condition
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        held.result(timeout=0.3)
    assert time.monotonic() - started >= 0.29, "woken by another future, it must wait again"
    assert [f.result(timeout=5) for f in quick] == [0.01 * i for i in range(1, 6)]
    gate.set()
    assert held.result(timeout=5) == "released" and held.exception(timeout=0) is None
    assert isinstance(held, Future)


def test_wait_as_completed_cancel_and_exceptions(pool):
    def boom(task, flag):
        raise ValueError(task)

    blocker = threading.Event()
    busy = [pool.submit(5.0, run=lambda task, flag: blocker.wait(task)) for _ in range(2)]  # both threads
    queued = pool.submit(0.0, run=napping)
    assert queued.cancel() and queued.cancelled()
    with pytest.raises(CancelledError):
        queued.result(timeout=1)
    blocker.set()
    failing = pool.submit("bad", run=boom)
    fine = pool.submit(0.05, run=napping)
    done, pending = wait([*busy, failing, fine], timeout=5)
    assert not pending and len(done) == 4
    assert {f for f in as_completed([failing, fine], timeout=5)} == {failing, fine}
    assert isinstance(failing.exception(timeout=1), ValueError)
    with pytest.raises(ValueError, match="bad"):
        failing.result()
