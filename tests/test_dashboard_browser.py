"""The dashboard as a person sees it, in headless Chromium at 900 and 1400 pixels wide.

Four recorded runs are served by one ``orch serve``: ``12_advanced_full``, a 60-step
recipe, a run whose shell step failed (with a hint and stderr), and three steps that
slept side by side. The tests open pages by their address, as a pasted link would,
and save a screenshot of each under the module's temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from orch_test_helpers import wait_for_url
from orchestrator_core.testing import orch_executable

STEPS = '''
import time
from orchestrator_core import BaseScriptlet

class Noop(BaseScriptlet):
    name = "noop"
    outputs = ()
    def run(self, ctx, params):
        pass

class Nap(BaseScriptlet):
    name = "nap"
    parallelizable = True
    outputs = ()
    def run(self, ctx, params):
        time.sleep(0.4)
'''

FAILING_SCRIPT = """#!/bin/sh
echo "reading input.csv" >&2
echo "columns found: a, b" >&2
echo '{"status":"error","reason":"the input table has no price column","details":{"columns":["a","b"],"hint":"add a price column to input.csv"}}'
exit 3
"""

FAILING_RECIPE = """
name: failing_demo
steps:
  - {name: prepare, module: dash_steps, function: Noop}
  - {name: check_prices, type: shell, script: check_prices.sh, depends_on: [prepare]}
  - {name: publish, module: dash_steps, function: Noop, depends_on: [check_prices]}
"""

PARALLEL_RECIPE = """
name: side_by_side
steps:
  - {name: start, module: dash_steps, function: Noop}
  - {name: nap_a, module: dash_steps, function: Nap, executor: thread, depends_on: [start]}
  - {name: nap_b, module: dash_steps, function: Nap, executor: thread, depends_on: [start]}
  - {name: nap_c, module: dash_steps, function: Nap, executor: thread, depends_on: [start]}
  - {name: join, module: dash_steps, function: Noop, depends_on: [nap_a, nap_b, nap_c]}
"""


def sixty_step_recipe() -> str:
    """Six layers of ten steps; each step waits for two of the layer above."""
    lines = ["name: sixty_steps", "steps:"]
    for layer in range(6):
        for i in range(10):
            deps = [] if layer == 0 else [f"s{layer - 1}_{i}", f"s{layer - 1}_{(i + 3) % 10}"]
            lines.append(f"  - {{name: s{layer}_{i}, module: dash_steps, function: Noop, depends_on: {deps}}}")
    return "\n".join(lines) + "\n"


def orch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    env.pop("ORCH_LOG_LEVEL", None)
    return subprocess.run([orch_executable(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def last_run_id(cwd: Path) -> str:
    return json.loads(orch("runs", "list", "--json", "--limit", "1", cwd=cwd).stdout)[0]["id"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The four runs, recorded, and a server of their store: (url, {name: run id}, screenshot folder)."""
    root = tmp_path_factory.mktemp("dashboard")
    (root / "dash_steps.py").write_text(STEPS)
    (root / "check_prices.sh").write_text(FAILING_SCRIPT)
    (root / "check_prices.sh").chmod(0o755)
    (root / "failing.yaml").write_text(FAILING_RECIPE)
    (root / "parallel.yaml").write_text(PARALLEL_RECIPE)
    (root / "sixty.yaml").write_text(sixty_step_recipe())
    runs = {}
    exact = ["--set", f"v.big={10**30 + 1}", "--set", "v.negzero=-0.0", "--set", "v.onef=1.0", "--set",
             f"v.nested={{\"n\":{2**63}}}"]
    for name, args, code in (("values", ["parallel.yaml", *exact], 0),  # the oldest: the others stay the newest
                             ("advanced", ["12_advanced_full"], 0), ("sixty", ["sixty.yaml"], 0),
                             ("failing", ["failing.yaml"], 1), ("parallel", ["parallel.yaml", "--workers", "3"], 0)):
        done = orch("run", *args, cwd=root)
        assert done.returncode == code, done.stderr
        runs[name] = last_run_id(root)
    log = root / "serve.log"
    with open(log, "w", encoding="utf-8") as err:
        server = subprocess.Popen([orch_executable(), "serve", "--port", "0"], cwd=root, stdout=subprocess.DEVNULL,
                                  stderr=err)
    try:
        shots = root / "screenshots"
        shots.mkdir()
        yield wait_for_url(log, server), runs, shots
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory, chromium_starter):
    chromium = chromium_starter(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.quit()


def open_page(browser, url: str, width: int, ready_script: str):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.set_window_size(width, 1000)
    browser.get(url)
    WebDriverWait(browser, 20).until(lambda d: d.execute_script(ready_script))


def nodes_out_of_sight(browser) -> list[str]:
    """Steps of the DAG whose box is not wholly inside the drawing and the window."""
    return browser.execute_script("""
        const svg = document.getElementById("dag").getBoundingClientRect();
        const out = [];
        for (const node of document.querySelectorAll("#dag g.node")) {
          const r = node.getBoundingClientRect();
          const inside = (a, b) => r.left >= a.left - 1 && r.right <= a.right + 1 && r.top >= a.top - 1
                                   && r.bottom <= a.bottom + 1;
          const view = {left: 0, top: 0, right: window.innerWidth, bottom: window.innerHeight};
          if (!inside(svg, svg) || !inside(view, view) || r.width < 4) out.push(node.dataset.step);
        }
        return out;""")


@pytest.mark.parametrize("width", [900, 1400])
@pytest.mark.parametrize("run, count", [("advanced", 12), ("sixty", 60)])
def test_the_whole_dag_is_in_sight_after_fit(site, browser, width, run, count):
    url, runs, shots = site
    open_page(browser, f"{url}runs/{runs[run]}", width,
              f"return document.querySelectorAll('#dag g.node').length === {count}")
    assert nodes_out_of_sight(browser) == []
    assert len(browser.find_elements("css selector", '#dag path.edge[marker-end="url(#arrow)"]')) > 0
    browser.save_screenshot(str(shots / f"dashboard-{run}-{width}.png"))
    browser.find_element("id", "zoom-in").click()
    browser.find_element("id", "zoom-in").click()
    assert nodes_out_of_sight(browser), "zooming in shows a part of the graph"
    browser.find_element("id", "zoom-fit").click()
    assert nodes_out_of_sight(browser) == []


@pytest.mark.parametrize("width", [900, 1400])
def test_the_panel_of_a_failed_step_shows_its_details_hint_and_stderr(site, browser, width):
    url, runs, shots = site
    open_page(browser, f"{url}runs/{runs['failing']}/steps/check_prices", width,
              "const p = document.getElementById('step-panel'); return p && !p.hidden && p.textContent.length > 0")
    panel = browser.find_element("id", "step-panel").text
    assert "Step check_prices" in panel and "error" in panel
    assert "the input table has no price column" in panel
    assert "add a price column to input.csv" in panel  # the hint
    assert '"columns"' in panel  # the details
    assert "columns found: a, b" in panel  # the last stderr lines
    assert "exit code\n3" in panel
    browser.execute_script("document.getElementById('step-panel').scrollIntoView()")
    browser.save_screenshot(str(shots / f"failed-step-panel-{width}.png"))
    row = browser.find_element("css selector", '#steps tr[data-step="publish"]')
    assert row.get_attribute("data-status") == "not_run"


def test_a_run_address_opens_that_run_and_a_step_click_gets_an_address(site, browser):
    url, runs, _ = site
    older = runs["advanced"]  # not the newest run: the address, not "follow", decides
    open_page(browser, f"{url}runs/{older}", 1400, "return document.querySelectorAll('#dag g.node').length === 12")
    assert older in browser.find_element("id", "run-title").text
    selected = browser.find_element("css selector", "#runs li.selected")
    assert selected.get_attribute("data-run") == older
    assert not browser.find_element("id", "follow").is_selected()
    browser.find_element("css selector", '#dag g.node[data-step="compute_mean"]').click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda d: "Step compute_mean" in d.find_element("id", "step-panel").text)
    assert browser.current_url == f"{url}runs/{older}/steps/compute_mean"
    panel = browser.find_element("id", "step-panel").text
    assert "metrics.mean_v1" in panel and "thread" in panel  # a key it wrote, its executor


def test_the_timeline_shows_parallel_steps_side_by_side(site, browser):
    url, runs, shots = site
    open_page(browser, f"{url}runs/{runs['parallel']}", 1400,
              "return document.querySelectorAll('#timeline .bar').length === 5")
    spans = browser.execute_script("""
        const out = {};
        for (const row of document.querySelectorAll('#timeline .row')) {
          const bar = row.querySelector('.bar');
          out[row.dataset.step] = [Number(bar.getAttribute('x')), Number(bar.getAttribute('x')) + Number(bar.getAttribute('width'))];
        }
        return out;""")
    naps = [spans[name] for name in ("nap_a", "nap_b", "nap_c")]
    overlaps = [(a, b) for i, a in enumerate(naps) for b in naps[i + 1:] if a[0] < b[1] and b[0] < a[1]]
    assert overlaps, f"no two naps overlap on the timeline: {spans}"
    pixel_per_ms = 3  # times are journaled to the millisecond
    assert spans["join"][0] >= max(end for _, end in naps) - pixel_per_ms  # join starts after the naps
    assert spans["start"][1] <= min(start for start, _ in naps) + pixel_per_ms
    browser.save_screenshot(str(shots / "timeline-1400.png"))


def test_the_dashboard_formats_durations_as_the_core_does(site, browser):
    from orchestrator_core.display.durations import format_duration

    url, _, _ = site
    open_page(browser, url, 1400, "return typeof formatDuration === 'function'")
    values = [0, 0.04, 4.24, 9.99, 10, 42.4, 999.4, 1000, 6007, 12000, 59990, 60000, 125000, 3599999, 3600000,
              7500000]
    assert browser.execute_script("return arguments[0].map(formatDuration)", values) == \
        [format_duration(v) for v in values]
    assert browser.execute_script("return formatDuration(null)") == format_duration(None)


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.headers.get("Content-Type"), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), error.read()


def test_pages_favicon_and_the_step_document(site):
    url, runs, _ = site
    status, kind, body = get(f"{url}favicon.ico")
    assert (status, kind) == (200, "image/svg+xml") and body.startswith(b"<svg")
    status, kind, body = get(f"{url}runs/{runs['failing']}/steps/check_prices")
    assert status == 200 and kind.startswith("text/html") and b"dashboard.js" in body
    status, _, body = get(f"{url}api/runs/{runs['failing']}/steps/check_prices")
    document = json.loads(body)
    assert status == 200 and document["step"]["status"] == "error"
    assert document["step"]["error"]["details"]["hint"] == "add a price column to input.csv"
    assert document["depends_on"] == ["prepare"] and document["params"] == {}
    status, _, body = get(f"{url}api/runs/{runs['failing']}/steps/check_price")
    assert status == 404 and "did you mean 'check_prices'?" in json.loads(body)["message"]
    run = json.loads(get(f"{url}api/runs/{runs['advanced']}")[2])
    assert set(run["layout"]["boxes"]) == {step["step"] for step in run["steps"]}
    assert len(run["layout"]["edges"]) == 14


def test_the_html_report_draws_the_same_timeline(site, browser):
    url, runs, shots = site
    root = shots.parent
    done = orch("report", runs["parallel"], "--format", "html", "--out", str(root / "report"), cwd=root)
    assert done.returncode == 0, done.stderr
    open_page(browser, (root / "report" / "report.html").as_uri(), 1200,
              "return document.querySelectorAll('#timeline .bar').length === 5")
    spans = browser.execute_script("""
        const out = {};
        for (const row of document.querySelectorAll('#timeline g.row')) {
          const r = row.querySelector('rect.bar').getBoundingClientRect();
          out[row.dataset.step] = [r.left, r.right];
        }
        return out;""")
    naps = [spans[name] for name in ("nap_a", "nap_b", "nap_c")]
    assert all(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(naps) for b in naps[i + 1:])
    assert browser.find_element("css selector", "details#step-nap_a summary").text.startswith("nap_a ok")
    browser.execute_script("document.querySelector('.dag-box').scrollIntoView()")  # the graph, then the timeline
    browser.save_screenshot(str(shots / "report-1200.png"))


def test_an_address_of_an_unknown_run_says_so(site, browser):
    url, _, _ = site
    open_page(browser, f"{url}runs/no-such-run", 1400,
              "return document.getElementById('run-title').textContent.startsWith('cannot load')")
    assert "no run 'no-such-run'" in browser.find_element("id", "run-title").text


def test_the_context_shows_values_as_stored_not_as_javascript_numbers(site, browser):
    """10**30 + 1, -0.0, 1.0 and 2**63 pass through the page as the text the store holds (a JavaScript
    number would show 1e+30, 0, 1 and 9223372036854776000)."""
    url, runs, _ = site
    open_page(browser, f"{url}runs/{runs['values']}", 1400,
              "return document.querySelector('#context tr[data-key=\\'v.big\\']') !== null")
    shown = browser.execute_script("""
        const out = {};
        for (const row of document.querySelectorAll('#context tr[data-key^="v."]'))
          out[row.dataset.key] = row.querySelector('td.value').textContent;
        return out;""")
    assert shown == {"v.big": str(10**30 + 1), "v.negzero": "-0.0", "v.onef": "1.0", "v.nested": f'{{"n":{2**63}}}'}
