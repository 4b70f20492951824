"""Text of a run (recipe and step names, descriptions, reasons, keys) made safe for Markdown.

A Markdown report is rendered by GitHub, a docs site or an editor's preview, and
Markdown lets HTML through: a step description ``<img src=x onerror=alert(1)>`` put
raw into ``report.md`` becomes an element there, a ``|`` in a step name splits its
table row, a line break ends it, and ``*``, ``_``, `````, ``[`` change the text into
emphasis, code or a link. So every text that comes from a recipe, a step or the
context goes through one of these two filters:

- :func:`markdown_text` (``md``): HTML's special characters as entities, Markdown's
  punctuation escaped with a backslash where it would mean something (``_`` only at a
  word's edge, so ``load_numbers`` stays as it is), line breaks as ``<br>``;
  ``paragraph=True`` also escapes what would start a block (``-``, ``+``, ``1.``...).
- :func:`markdown_code` (``code``): a code span that no backtick in the text closes,
  for a table cell (``|`` escaped, line breaks as spaces). Inside a code span HTML is
  shown as text, so nothing else needs escaping there.
"""

from __future__ import annotations

import re
from typing import Any

_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_HTML_CHARS = re.compile("[&<>]")
_PUNCTUATION = re.compile(r"[\\`*\[\]~|#]")  # backslash-escaped wherever they are
_EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # "_" not between two letters or digits
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BLOCK_MARKER = re.compile(r"^([+\-=])|^(\d+)([.)])")  # a list item, a setext underline


def markdown_text(value: Any, paragraph: bool = False) -> str:
    """``value`` as Markdown inline text that shows exactly ``value``, on one line."""
    text = _HTML_CHARS.sub(lambda m: _HTML[m.group()], str(value))
    text = _PUNCTUATION.sub(r"\\\g<0>", text)
    text = _EDGE_UNDERSCORE.sub(r"\\_", text)
    if paragraph:
        text = _BLOCK_MARKER.sub(lambda m: f"\\{m.group(1)}" if m.group(1) else f"{m.group(2)}\\{m.group(3)}",
                                 text.lstrip())
    return _LINE_BREAK.sub("<br>", text)


def markdown_code(value: Any) -> str:
    """``value`` as a Markdown code span for a table cell: ``|`` escaped, line breaks as spaces."""
    text = _LINE_BREAK.sub(" ", str(value)).replace("|", "\\|")
    if not text:
        return ""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    padded = text[0] == "`" or text[-1] == "`" or (text[0] == text[-1] == " " and text.strip())
    pad = " " if padded else ""
    return f"{fence}{pad}{text}{pad}{fence}"
