"""The stat fast path's two decisions, without a run: the signature a remembered digest is
trusted at, and when a digest may be remembered at all (the runs are in test_cache_files.py)."""

from __future__ import annotations

import os
import sqlite3
from types import SimpleNamespace

import pytest

from orchestrator_core.run.file_digests import settled, signature
from orchestrator_core.state.digests import DigestTable
from orchestrator_core.state.store import StateStore

SECOND = 1_000_000_000
NOW = 1_800_000_000 * SECOND + 400_000_000  # when the file is read


@pytest.mark.parametrize("mtime, ctime, remembered", [
    (NOW - 50_000_000 - 7, NOW - 50_000_000 - 7, False),  # fine stamps, written 50 ms ago
    (NOW - 200_000_000 - 7, NOW - 200_000_000 - 7, True),  # fine stamps, 200 ms ago
    (NOW - 200_000_000 - 7, NOW - 50_000_000 - 7, False),  # its ctime is recent
    # touch -d @1700000000: a whole-second mtime, but the kernel's ctime has nanoseconds
    (1_700_000_000 * SECOND, NOW - 200_000_000 - 7, True),
    # a file system keeping seconds: both stamps whole, so they must be more than 3 s old
    (NOW // SECOND * SECOND - SECOND, NOW // SECOND * SECOND - SECOND, False),  # 1.4 s ago
    (NOW // SECOND * SECOND - 2 * SECOND, NOW // SECOND * SECOND - 2 * SECOND, False),  # 2.4 s ago
    (NOW // SECOND * SECOND - 4 * SECOND, NOW // SECOND * SECOND - 4 * SECOND, True),  # 4.4 s ago
    (1_700_000_000 * SECOND, NOW // SECOND * SECOND - SECOND, False),  # an old mtime, a recent ctime
])
def test_a_digest_is_remembered_only_once_a_later_write_would_change_the_stamps(mtime, ctime, remembered):
    assert settled(mtime, ctime, NOW) is remembered


def test_the_signature_names_the_file_and_fits_in_sqlite_whatever_its_inode():
    def stat(ino: int, dev: int) -> SimpleNamespace:
        return SimpleNamespace(st_size=3, st_mtime_ns=10, st_ctime_ns=20, st_ino=ino, st_dev=dev)

    assert signature(stat(7, 8)) == (3, 10, 20, 7, 8)
    assert signature(stat(7, 8)) != signature(stat(9, 8)) != signature(stat(9, 5))
    top = signature(stat(2**64 - 1, 2**63))  # an overlayfs or NFS inode may use the top bit
    assert top[3:] == (-1, -(2**63)) and top != signature(stat(2**63 - 1, 2**63))
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (ino INTEGER, dev INTEGER)")
    conn.execute("INSERT INTO t VALUES (?, ?)", top[3:])
    assert conn.execute("SELECT ino, dev FROM t").fetchone() == top[3:]


def test_a_path_that_is_not_utf8_is_neither_remembered_nor_looked_up(tmp_path):
    # SQLite's text cannot hold it; the file is read at every run instead of failing the run.
    latin = os.fsdecode(b"/in/caf\xe9.csv")
    StateStore.open(tmp_path).close()
    table = DigestTable.open(tmp_path)
    try:
        table.remember([(latin, 1, 2, 3, 4, 5, "d1", 1.0), ("/in/cafe.csv", 1, 2, 3, 4, 5, "d2", 1.0)])
        assert table.get(latin) is None and table.get("/in/cafe.csv") == (1, 2, 3, 4, 5, "d2")
        assert table.get_many([latin, "/in/cafe.csv"]) == {"/in/cafe.csv": (1, 2, 3, 4, 5, "d2")}
        assert table.all_if_fewer_than(10) == {"/in/cafe.csv": (1, 2, 3, 4, 5, "d2")}
    finally:
        table.close()
