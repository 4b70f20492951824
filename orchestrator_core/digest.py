"""SHA-256 hex digests of texts, without loading OpenSSL for the short ones.

Importing ``hashlib`` loads OpenSSL's libcrypto (``_hashlib``), which costs every
``orch`` start 5-12 ms: more than reading and checking a small recipe. The texts a run
digests are mostly short (the recipe, a scriptlet's source, a fingerprint's inputs),
and CPython's own SHA-256 module computes the same digest for them at no start-up
cost. Long texts still go through ``hashlib``, whose OpenSSL code is faster per byte.
"""

from __future__ import annotations

from typing import Any

try:
    from _sha256 import sha256 as _builtin_sha256  # CPython 3.11
except ImportError:  # pragma: no cover - depends on the interpreter
    try:
        from _sha2 import sha256 as _builtin_sha256  # CPython 3.12+
    except ImportError:
        _builtin_sha256 = None

_LONG = 1 << 16  # bytes from which OpenSSL's speed pays for loading it


def _sha256(data: bytes) -> Any:
    if _builtin_sha256 is None or len(data) >= _LONG:
        import hashlib

        return hashlib.sha256(data)
    return _builtin_sha256(data)


def sha256_hex(text: str) -> str:
    """Hex SHA-256 of ``text`` encoded as UTF-8 (the same value as ``hashlib.sha256``).

    A lone surrogate, which strict UTF-8 refuses, is encoded as its three bytes
    (``surrogatepass``): a file name that is not UTF-8 holds them (surrogates.py), in a
    fingerprint's files or in a context value. Every valid text keeps its bytes, so its
    digest (a cache key, a recipe's digest) is the one it always had.
    """
    return _sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def builtin_sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data`` by CPython's own module whatever its length.

    For a digest computed to skip work (the key of a cached recipe): there, loading
    OpenSSL would cost more than the faster hashing of a long text saves.
    """
    return (_builtin_sha256(data) if _builtin_sha256 is not None else _sha256(data)).hexdigest()
