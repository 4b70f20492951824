"""The stat fast path without a run: the signature a remembered digest is trusted at (the runs
are in test_cache_files.py)."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

from orchestrator_core.run.file_digests import signature


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
