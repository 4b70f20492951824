"""Digests of texts: the same bytes as ``hashlib`` for every valid text, and a lone surrogate too."""

from __future__ import annotations

import hashlib
import os

from orchestrator_core.digest import sha256_hex


def test_a_valid_text_has_the_digest_of_its_utf8_bytes():
    for text in ("", "recipe", "naïve café — 日本語 🚀", "x" * 70_000):  # the last one through OpenSSL
        assert sha256_hex(text) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_lone_surrogate_is_hashed_the_same_way_every_time():
    # A file name in Latin-1 as Python sees it (PEP 383), and a surrogate no file name gives.
    latin = os.fsdecode(b"caf\xe9.csv")
    assert sha256_hex(latin) == hashlib.sha256(b"caf\xed\xb3\xa9.csv").hexdigest()
    assert sha256_hex(latin) != sha256_hex("café.csv") != sha256_hex("caf\ud800.csv")
    assert sha256_hex("x\ud800" * 40_000) == hashlib.sha256(b"x\xed\xa0\x80" * 40_000).hexdigest()
