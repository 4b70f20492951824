"""The Markdown report shows the run's own text as text, whatever it holds.

The report of a run whose recipe, step names, failure and context hold markup,
Markdown punctuation and line breaks is rendered by a real Markdown renderer
(markdown-it, CommonMark with GitHub's tables, raw HTML allowed as GitHub allows it
before sanitizing): no element the text spells may come out, every table keeps its
columns, and each cell reads exactly as the text it shows.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from orchestrator_reporting.markdown_text import markdown_code, markdown_text

# What the report's own Markdown makes; anything else came from the run's text.
OWN_ELEMENTS = {"h1", "h2", "h3", "p", "br", "table", "thead", "tbody", "tr", "th", "td", "code", "strong", "pre",
                "ul", "li", "blockquote", "sub"}


class Rendered(HTMLParser):
    """The elements of rendered HTML, and the text of its headings, paragraphs and table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.blocks: list[tuple[str, str]] = []  # (h1/h2/h3/p, text)
        self.tables: list[list[list[str]]] = []
        self._text: list[str] | None = None
        self._block: str | None = None
        self._in_pre = False

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "pre":
            self._in_pre = True
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th", "h1", "h2", "h3", "p") and not self._in_pre:
            self._text, self._block = [], tag
        elif tag == "br" and self._text is not None:
            self._text.append("\n")

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_pre = False
        elif tag == self._block and self._text is not None:
            text = "".join(self._text)
            if tag in ("td", "th"):
                self.tables[-1][-1].append(text.strip())
            else:
                self.blocks.append((tag, text))
            self._text = self._block = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def render(markdown: str) -> Rendered:
    page = Rendered()
    page.feed(MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown))
    return page


# Text made mostly of what means something to Markdown or HTML, with any other character mixed in.
MEANINGFUL = st.sampled_from([*"\\`*_[]<>&|#!~()-+=.:'\" \n\r\t1a", "```", "&amp;", "&#60;", "<br>", "<script>",
                              "](x)", "    ", "1. ", "- ", "> ", "**", "__", "\\|", "`|`", "<img src=x onerror=y>"])
TEXTS = st.lists(st.one_of(MEANINGFUL, MEANINGFUL, st.characters(codec="utf-8", exclude_characters="\x00")),
                 max_size=30).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXTS)
@pytest.mark.parametrize("where", ["cell", "paragraph", "code span"])
def test_any_text_renders_as_itself(where, text):
    if where == "cell":
        source = f"| a |\n|---|\n| {markdown_text(text)} |\n"
    elif where == "paragraph":
        source = markdown_text(text, paragraph=True) + "\n"
    else:
        source = f"| a |\n|---|\n| {markdown_code(text)} |\n"
    page = render(source)
    assert {tag for tag, _ in page.elements} <= {"table", "thead", "tbody", "tr", "th", "td", "p", "br", "code"}
    shown = page.tables[0][1][0] if where != "paragraph" else "".join(text for _, text in page.blocks)
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    if where == "code span":
        expected = expected.replace("\n", " ")  # a code span is one line
    assert shown.split() == expected.split()  # the renderer's whitespace aside, every character


def test_the_runs_text_stays_text_when_the_markdown_is_rendered(hostile):
    recipe = hostile.recipe
    steps = [step["name"] for step in recipe["steps"]]
    metrics = recipe["steps"][0]["params"]["values"]
    long_key, long_value = next(iter(recipe["steps"][1]["params"]["values"].items()))
    reason = recipe["steps"][2]["params"]["reason"]
    page = render(hostile.md.read_text(encoding="utf-8"))

    made = {tag for tag, _ in page.elements}
    assert made <= OWN_ELEMENTS, made - OWN_ELEMENTS  # no <img>, <script>, <b>, <a>, <em> from the text
    assert not [attrs for _, attrs in page.elements if any(name.startswith("on") for name in attrs)]
    blocks = dict(reversed(page.blocks))  # the first of each kind
    assert page.blocks[0] == ("h1", f"Run report: {recipe['name']}")
    assert page.blocks[1] == ("p", recipe["description"])  # every character, line breaks as <br>
    assert ("h3", f"{steps[2]}: {reason}") in page.blocks
    assert blocks["h2"] == "Steps"

    run_table, steps_table, metrics_table, context_table = page.tables
    assert dict(run_table[1:])["Recipe"].startswith(recipe["name"] + " (")
    assert [row[0] for row in steps_table[1:]] == steps
    assert all(len(row) == 8 for row in steps_table)  # no "|" in a name split a row
    assert [row[1] for row in steps_table[1:]] == ["ok", "ok", "error", "not run"]
    shown = dict(row for row in metrics_table[1:])
    assert all(len(row) == 2 for row in metrics_table)
    assert shown == {"metrics.big_int": "1e+400", "metrics.big": "1.23457e+19", "metrics.huge": "1e+308",
                     "metrics.small": "1e-07", "metrics.tiny": "5e-324",
                     "metrics.<script>alert(4)</script>": metrics["metrics.<script>alert(4)</script>"]}
    assert all(len(row) == 4 for row in context_table)
    context = {row[0]: row for row in context_table[1:]}
    assert context[long_key][1:] == [f'"{long_value}'[:69] + "…", "put", steps[1]]  # shortened, as the docs say
    hostile_value = metrics["metrics.<script>alert(4)</script>"]
    assert context["metrics.<script>alert(4)</script>"][1] == '"' + hostile_value.replace("\n", "\\n") + '"'
    assert context["metrics.big_int"][1] == "1e+400" and context["metrics.big_int"][3] == steps[0]  # not "1000…"


def test_a_code_span_holds_any_backticks_and_the_mermaid_block_stays_closed(hostile):
    text = hostile.md.read_text(encoding="utf-8")
    mermaid = text.split("```mermaid\n", 1)[1].split("\n```\n", 1)[0]
    assert "<" not in mermaid.replace("<br/>", "") and "`" not in mermaid  # labels spell markup as entities
    assert "explode_*now*" in mermaid and "never_#lt;b#gt;run#lt;/b#gt;" in mermaid
    page = render(text)
    pre = [tag for tag, _ in page.elements if tag == "pre"]
    assert len(pre) == 2  # the diagram and the failed step's details, nothing more
