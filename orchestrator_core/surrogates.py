"""Lone surrogates: the stand-ins for the bytes of a name that is not UTF-8, and where they may go.

A file name in another encoding (``caf\\xe9.csv``) reaches Python with a lone
surrogate in place of each byte that is not UTF-8 (PEP 383: ``os.listdir``,
``glob``, the command line), and a step may write such a name to the context. JSON
escapes them (``"caf\\udce9.csv"``) and a digest encodes them as they are
(digest.py), so a context value or a file's name in a fingerprint holds one without
harm. Strict UTF-8 refuses them, and so does SQLite's text: what the state store
keeps as text (a file's path, a context key, a recipe's name) is checked first.
"""

from __future__ import annotations


def is_utf8(text: str) -> bool:
    """Whether ``text`` encodes to UTF-8: it holds no lone surrogate."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
