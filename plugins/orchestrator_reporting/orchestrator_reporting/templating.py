"""Rendering report templates with Jinja2, strictly, with errors a user can act on.

Templates are rendered with ``StrictUndefined``: a misspelt variable fails the
render instead of leaving a silent gap in a report. Every failure of a template
(a syntax error, an unknown variable, an error inside an expression) becomes a
:class:`ReportTemplateError` that names the template file and the line in it, so
the command line prints one line instead of a traceback through Jinja2.

The filters below are available to every template, built-in or a user's own.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from orchestrator_core import OrchError
from orchestrator_core.display.durations import format_duration

from . import numbers
from .markdown_text import markdown_code, markdown_text

if TYPE_CHECKING:
    import jinja2

BUILTIN_DIR = Path(__file__).parent / "templates"


class ReportTemplateError(OrchError):
    """A template cannot be rendered; ``template`` and ``line`` say where the problem is."""

    exit_code = 2

    def __init__(self, template: str, line: int | None, message: str):
        self.template = template
        self.line = line
        self.message = message
        where = f"{template}:{line}" if line else template
        super().__init__(f"report template {where}: {message}")


# -- filters -------------------------------------------------------------------------------
def format_ms(value: Any) -> str:
    """Milliseconds for people: ``0.5 ms``, ``42 ms``, ``1.25 s``; ``-`` when unknown (the core's one format)."""
    return format_duration(value)


def format_kib(value: Any) -> str:
    """KiB as MiB with one decimal (``30.2 MiB``); ``-`` when unknown."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value:
        return "-"
    return f"{value / 1024:.1f} MiB"


def format_number(value: Any, decimals: int | None = None, digits: int = numbers.SIGNIFICANT_DIGITS) -> str:
    """A number shown short but never as a different number (:mod:`.numbers`): ``digits`` significant
    digits, or at most ``decimals`` decimals when given (``num(4)``); other values as text or JSON."""
    if not numbers.is_number(value):
        return value if isinstance(value, str) else json.dumps(value, default=str)
    return numbers.format_number(value, digits, decimals=decimals)


def number_title(value: Any, decimals: int | None = None, digits: int = numbers.SIGNIFICANT_DIGITS) -> str:
    """Every digit of a number that ``num`` rounds (same arguments), for an HTML ``title``; else ``""``."""
    return numbers.rounded_digits(value, digits, decimals=decimals)


def short_json(value: Any, width: int = 80) -> str:
    """Compact JSON cut to ``width`` characters (context values can be long lists); a number too long
    for ``width`` as ``num`` shows it (``1e+400``), not as its first digits."""
    text = json.dumps(value, separators=(",", ":"), default=str)
    if len(text) <= width:
        return text
    return numbers.format_number(value) if numbers.is_number(value) else text[:width - 1] + "…"


def pretty_json(value: Any) -> str:
    """Indented JSON with its characters as they are (Jinja's ``tojson`` writes ``<`` as ``\\u003c``, for
    scripts): shown in a ``<pre>``, which escapes it, or a fenced Markdown block, which shows it as text."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def markdown_cell(value: Any) -> str:
    """Text safe inside a Markdown table cell: no pipes, no line breaks."""
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


FILTERS = {"ms": format_ms, "kib": format_kib, "num": format_number, "num_title": number_title, "short": short_json,
           "pretty": pretty_json, "cell": markdown_cell, "md": markdown_text, "code": markdown_code}


# -- rendering -------------------------------------------------------------------------------
def environment(search_path: Sequence[Path] = ()) -> jinja2.Environment:
    """A strict Jinja2 environment over ``search_path`` then the built-in templates.

    HTML templates (``*.html``, ``*.html.j2``) are autoescaped; Markdown is not.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in (*search_path, BUILTIN_DIR)]),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "html.j2"),
                                            default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    return env


def render_template(template: str | Path, variables: Mapping[str, Any]) -> str:
    """Render the template file at ``template`` with ``variables``.

    Templates it includes or extends are looked up next to it, then among the
    built-in templates. Raises :class:`ReportTemplateError` (template and line).
    """
    path = Path(template).resolve()
    if not path.is_file():
        raise ReportTemplateError(str(template), None, "no such template file")
    return render_named(path.name, variables, search_path=[path.parent])


def render_builtin(name: str, variables: Mapping[str, Any]) -> str:
    """Render one of the templates shipped in this package (``report.md.j2``...)."""
    return render_named(name, variables)


def render_named(name: str, variables: Mapping[str, Any], *, search_path: Sequence[Path] = ()) -> str:
    """Load template ``name`` from ``search_path`` (then the built-ins) and render it."""
    import jinja2

    env = environment(search_path)
    try:
        return env.get_template(name).render(**variables)
    except jinja2.TemplateSyntaxError as exc:
        raise ReportTemplateError(exc.filename or exc.name or name, exc.lineno, exc.message or str(exc)) from None
    except jinja2.TemplateNotFound as exc:
        raise ReportTemplateError(name, None, f"template {exc.name!r} not found") from None
    except jinja2.UndefinedError as exc:
        where, line = _template_frame(exc.__traceback__, name)
        raise ReportTemplateError(where, line, f"unknown variable: {exc.message}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
        where, line = _template_frame(exc.__traceback__, name)
        if line is None:
            raise
        raise ReportTemplateError(where, line, f"{type(exc).__name__}: {exc}") from None


def _template_frame(tb: TracebackType | None, fallback: str) -> tuple[str, int | None]:
    """The template file and line where an error was raised while rendering.

    Jinja2 rewrites the traceback of a render so that the frames inside templates
    carry the template's file name and line; those frames are marked by the
    ``__jinja_exception__`` global. The innermost one is where the error is.
    """
    found: tuple[str, int | None] = (fallback, None)
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    return found
