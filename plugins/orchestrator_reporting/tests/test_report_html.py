"""The HTML report: one self-contained file, opened in a real headless browser.

The browser is Debian's ``chromium``. This test skips only when chromium is missing
and ``ORCH_REQUIRE_BROWSER`` is unset; with ``ORCH_REQUIRE_BROWSER`` set (as in CI) a
missing browser fails it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest


def chromium(known: tuple[str, ...] = ("/usr/bin/chromium",)) -> str:
    """The browser's path; skips the test when there is none, or fails it when one is required."""
    found = shutil.which("chromium") or next((path for path in known if Path(path).exists()), None)
    if found:
        return found
    if os.environ.get("ORCH_REQUIRE_BROWSER"):
        pytest.fail("chromium is not installed and ORCH_REQUIRE_BROWSER is set")
    pytest.skip("chromium is not installed (set ORCH_REQUIRE_BROWSER=1 to make this a failure)")


def dump_dom(html_file: Path, profile: Path) -> str:
    """The DOM of ``html_file`` after chromium loaded it (the browser is stopped on every path)."""
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--dump-dom", html_file.as_uri()]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    assert proc.returncode == 0, err
    return out


class Tables(HTMLParser):
    """Rows of cell texts of each ``<table id=...>``, and every URL-bearing attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.urls: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]
        if tag == "table":
            self._table = attributes.get("id") or f"table{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def test_html_report_in_a_headless_browser(recorded, tmp_path):
    outcome = recorded.orch("report", recorded.failed, "--format", "html", "--out", str(tmp_path / "html"))
    report = tmp_path / "html" / "report.html"
    assert str(report) in outcome.assert_success().out.splitlines()
    source = report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", source)  # one file, nothing fetched
    dom = dump_dom(report, tmp_path / "profile")
    page = Tables()
    page.feed(dom)
    assert [url for url in page.urls if not url.startswith("#")] == []  # links within the page only
    steps = page.tables["steps"]
    assert steps[0] == ["Step", "Status", "Duration", "CPU", "Peak memory", "Cache", "Attempts", "Executor"]
    assert [row[:2] for row in steps[1:]] == [["load", "ok"], ["explode", "error"], ["after", "not run"]]
    assert steps[1][7] == "inline" and re.fullmatch(r"\d+(\.\d)? ms", steps[1][2])
    assert dict(page.tables["run"])["Status"] == "error"
    assert page.tables["metrics"][1:] == [["metrics.mean_v1", "1"]]
    # the DAG: drawn inline as SVG, one box per step, coloured by outcome; the Mermaid text alongside
    nodes = {attrs["data-step"]: attrs["class"] for tag, attrs in page.elements
             if tag == "g" and "data-step" in attrs and attrs["class"].startswith("node")}
    assert nodes == {"load": "node ok", "explode": "node error", "after": "node not_run"}
    edges = [(attrs["data-from"], attrs["data-to"]) for tag, attrs in page.elements
             if tag == "path" and "data-from" in attrs]
    assert edges == [("load", "explode"), ("explode", "after")]
    assert '<pre class="mermaid">flowchart TD' in dom
    assert "Too few numbers (min=5)" in dom and "&quot;seen&quot;" not in dom  # details shown as JSON text
    # the timeline: a row per step, a bar for each step that ran; the failed step's details open
    rows = [attrs["data-step"] for tag, attrs in page.elements if tag == "g" and attrs.get("class") == "row"]
    assert rows == ["load", "explode", "after"]
    bars = [attrs for tag, attrs in page.elements if tag == "rect" and attrs.get("class") == "bar"]
    assert len(bars) == 2 and all(float(bar["width"]) >= 2 for bar in bars)
    opened = [attrs["id"] for tag, attrs in page.elements if tag == "details" and "open" in attrs]
    assert opened == ["step-explode"]


def test_a_missing_browser_skips_only_when_not_required(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("ORCH_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception):
        chromium(known=(str(tmp_path / "no-chromium"),))
    monkeypatch.setenv("ORCH_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="ORCH_REQUIRE_BROWSER"):
        chromium(known=(str(tmp_path / "no-chromium"),))


# -- a run's hostile text, long names and extreme numbers, in a real browser -----------------------
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from orch_test_helpers import start_chromium

    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


def open_at_width(browser, page: Path, width: int, height: int = 900) -> None:
    """Open ``page`` in a viewport ``width`` CSS pixels wide (a window cannot be made narrower than 500)."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
    browser.get(page.as_uri())


def test_the_runs_text_is_shown_as_text_in_the_html_report(hostile, browser):
    recipe = hostile.recipe
    steps = [step["name"] for step in recipe["steps"]]
    open_at_width(browser, hostile.html, 1280)
    run = browser.execute_script
    assert run("return document.querySelectorAll('script, img, b, iframe, object').length") == 0
    assert run("return [...document.querySelectorAll('*')].filter(e => [...e.attributes]"
               ".some(a => a.name.startsWith('on'))).length") == 0
    assert run("return document.querySelector('h1').textContent") == f"Run report: {recipe['name']}"
    assert run("return document.querySelector('p.muted').textContent") == recipe["description"]
    assert run("return [...document.querySelectorAll('#steps tbody tr')].map(r => r.cells[0].textContent)") == steps
    reason = recipe["steps"][2]["params"]["reason"]
    error = run("return document.querySelector('.error-box strong').textContent")
    assert error == f"{steps[2]}: {reason}"
    assert "</pre><script>alert(7)</script>" in run("return document.querySelector('.error-box pre').textContent")
    cells = run("return [...document.querySelectorAll('#metrics tbody tr')].map("
                "r => [r.cells[0].textContent, r.cells[1].textContent, r.cells[1].title])")
    metrics = recipe["steps"][0]["params"]["values"]
    hostile_key = next(key for key in metrics if "<" in key)
    assert {key: (shown, title) for key, shown, title in cells} == {
        "metrics.big_int": ("1e+400", str(metrics["metrics.big_int"])),  # every digit, on hover
        "metrics.big": ("1.23457e+19", "1.2345678901234567e+19"),
        "metrics.huge": ("1e+308", ""), "metrics.small": ("1e-07", ""), "metrics.tiny": ("5e-324", ""),
        hostile_key: (metrics[hostile_key], ""),
    }


@pytest.mark.parametrize("width", [1280, 400])
def test_long_names_and_numbers_keep_the_html_report_in_the_window(hostile, browser, width, tmp_path_factory):
    open_at_width(browser, hostile.html, width)
    run = browser.execute_script
    assert run("return document.documentElement.scrollWidth") <= width  # no sideways scrolling of the page
    # the run's summary and the metrics fit as they are; a wide table scrolls in its own box
    assert run("return [...document.querySelectorAll('#run, #metrics')].map(t => t.getBoundingClientRect().right)"
               ".every(right => right <= window.innerWidth)")
    if width >= 1000:
        assert run("return [...document.querySelectorAll('.table-box')].every(b => b.scrollWidth <= b.clientWidth)")
    long_cell = run("var c = document.querySelector('#steps tbody tr:nth-child(2) td');"
                    "var r = c.getBoundingClientRect();"
                    "return [r.width, r.height]")
    assert long_cell[0] < 700 and long_cell[1] > 40  # the 305-character name wraps in its cell
    height = run("return document.documentElement.scrollHeight")
    open_at_width(browser, hostile.html, width, height=min(height, 6000))
    shot = tmp_path_factory.getbasetemp() / f"report-hostile-{width}.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
