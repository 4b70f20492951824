"""The dashboard in a real browser: headless Chromium sees a step go from running to ok, live.

Debian's ``chromium`` and ``chromedriver`` through selenium (the ``driver`` fixture of
conftest.py). Without them the test is skipped, unless ``$ORCH_REQUIRE_BROWSER`` is set
(then it fails).
"""

from __future__ import annotations

import os
import subprocess
from typing import Any, Callable

from orchestrator_core.testing import orch_executable

STEPS = '''
import time
from pathlib import Path
from orchestrator_core import BaseScriptlet, ScriptletError

class WaitGate(BaseScriptlet):
    name = "wait_gate"
    outputs = ("gate.opened_v1",)
    def run(self, ctx, params):
        gate = Path(ctx.workdir) / "gate"
        deadline = time.monotonic() + 60
        while not gate.exists():
            if time.monotonic() > deadline:
                raise ScriptletError("the gate was never opened")
            time.sleep(0.01)
        ctx.set("gate.opened_v1", "opened")

class Done(BaseScriptlet):
    name = "done"
    outputs = ("done.flag_v1",)
    def run(self, ctx, params):
        ctx.set("done.flag_v1", True)
'''

RECIPE = """
name: browser_demo
steps:
  - {name: prepare, module: browser_steps, function: Done}
  - {name: wait, module: browser_steps, function: WaitGate}
  - {name: finish, module: browser_steps, function: Done, depends_on: [prepare]}
"""


def test_the_dashboard_shows_a_step_go_from_running_to_ok(tmp_path, driver, orch_server):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    (tmp_path / "browser_steps.py").write_text(STEPS)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    env = {"PYTHONPATH": str(tmp_path)}
    url = orch_server(env=env).url
    driver.get(url)
    wait = WebDriverWait(driver, 20)

    def read(selector: str, what: Callable[[Any], Any]) -> Any:
        """``what`` of the element ``selector`` finds, or None. The page redraws as events arrive: an
        element found may be gone by the time it is read, and is then looked up afresh."""
        for _ in range(100):
            found = driver.find_elements(By.CSS_SELECTOR, selector)
            try:
                return what(found[0]) if found else None
            except StaleElementReferenceException:
                continue
        raise AssertionError(f"{selector} was redrawn each of 100 times it was read")

    def status(selector: str) -> str | None:
        return read(selector, lambda element: element.get_attribute("data-status"))

    def text(selector: str) -> str:
        return read(selector, lambda element: element.text) or ""

    wait.until(lambda d: text("#live") == "live")
    run = subprocess.Popen([orch_executable(), "run", "recipe.yaml"], cwd=tmp_path, env={**os.environ, **env},
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait.until(lambda d: status('tr[data-step="wait"]') == "running")
        wait.until(lambda d: "running" in text('tr[data-step="wait"]'))
        assert status('#dag g.node[data-step="wait"]') == "running"
        assert status('tr[data-step="prepare"]') == "ok" and status('#dag g.node[data-step="finish"]')
        elapsed = text("#run-elapsed")  # the run's time so far ticks, the running step's bar grows
        assert elapsed.startswith("elapsed: ")
        wait.until(lambda d: text("#run-elapsed") != elapsed)
        assert status('#timeline g.row[data-step="wait"]') == "running"
        driver.save_screenshot(str(tmp_path / "dashboard-running.png"))
        (tmp_path / "gate").touch()
        wait.until(lambda d: status('tr[data-step="wait"]') == "ok")
        wait.until(lambda d: text('tr[data-step="wait"] td.duration').endswith(" ms") or
                   text('tr[data-step="wait"] td.duration').endswith(" s"))
        assert status('#dag g.node[data-step="wait"]') == "ok"
        wait.until(lambda d: status("#run-status") == "ok")
        wait.until(lambda d: text("#run-elapsed").startswith("duration: "))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-key="gate.opened_v1"]'))
        assert run.wait(timeout=30) == 0, run.stderr.read()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


ATTACK_PAGE = """<!doctype html>
<title>loading</title>
<script>
const target = "http://127.0.0.1:PORT";
const value = JSON.stringify({value: "pwned", who: "evil"});
const inner = "PUT /api/runs/latest/context/evil.key_v1 HTTP/1.1\\r\\nHost: 127.0.0.1:PORT\\r\\n" +
              "Content-Type: application/json\\r\\nContent-Length: " + value.length + "\\r\\n\\r\\n" + value;
async function attack() {
  const results = [];
  // "simple" requests: sent without asking first; the body is a complete write, smuggled
  for (const path of ["/nope", "/api/runs", "/api/runs/latest/context/evil.key_v1"]) {
    try { await fetch(target + path, {method: "POST", mode: "no-cors", body: inner}); results.push("sent"); }
    catch (error) { results.push("failed"); }
  }
  // a write as the API wants it: the browser asks the server first, which refuses
  try {
    await fetch(target + "/api/runs/latest/context/evil.key_v1",
                {method: "PUT", headers: {"Content-Type": "application/json"}, body: value});
    results.push("put answered");
  } catch (error) { results.push("put refused"); }
  document.title = "done " + results.join(",");
}
attack();
</script>
"""


def test_a_page_of_another_origin_cannot_write_to_the_server(tmp_path, driver, orch_server, orch_cli):
    """The page is served from a second local server (another port): another origin, as an attacker's."""
    import http.server
    import json
    import threading
    import urllib.error
    import urllib.request
    from functools import partial
    from urllib.parse import urlsplit

    from selenium.webdriver.support.ui import WebDriverWait

    (tmp_path / "browser_steps.py").write_text(STEPS)
    (tmp_path / "one.yaml").write_text("name: one\nsteps:\n  - {name: prepare, module: browser_steps, function: Done}\n")
    env = {"PYTHONPATH": str(tmp_path), "ORCH_LOG_LEVEL": "DEBUG"}  # DEBUG: the server logs each request line
    orch_cli("run", "one.yaml", env=env).assert_success()
    served = orch_server(env=env)
    port = urlsplit(served.url).port
    site = tmp_path / "site"
    site.mkdir()
    (site / "attack.html").write_text(ATTACK_PAGE.replace("PORT", str(port)))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=attacker.serve_forever, daemon=True)
    thread.start()
    try:
        driver.get(f"http://127.0.0.1:{attacker.server_address[1]}/attack.html")
        WebDriverWait(driver, 20).until(lambda d: d.title.startswith("done"))
        assert driver.title == "done sent,sent,sent,put refused"
    finally:
        attacker.shutdown()
        attacker.server_close()
        thread.join(5)

    try:
        urllib.request.urlopen(served.url + "api/runs/latest/context/evil.key_v1", timeout=10)
        raise AssertionError("the key was written")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404 and json.loads(exc.read())["error"] == "unknown_key"
    shown = orch_cli("context", "show", "evil.key_v1", "--history", "--json", env=env)
    assert "pwned" not in shown.out and "evil" not in shown.out
    # every request reached the server and was refused; the smuggled PUT was never parsed
    requests = [line.split('"')[1:3] for line in served.log.read_text().splitlines() if 'HTTP/1.1" ' in line]
    assert [(line, status.split()[0]) for line, status in requests] == [
        ("POST /nope HTTP/1.1", "403"), ("POST /api/runs HTTP/1.1", "403"),
        ("POST /api/runs/latest/context/evil.key_v1 HTTP/1.1", "403"),
        ("OPTIONS /api/runs/latest/context/evil.key_v1 HTTP/1.1", "403"),
        ("GET /api/runs/latest/context/evil.key_v1 HTTP/1.1", "404")]


def test_with_a_token_the_browser_signs_in_once_and_the_live_dashboard_works(tmp_path, driver, orch_server, orch_cli):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    (tmp_path / "browser_steps.py").write_text(STEPS)
    (tmp_path / "one.yaml").write_text("name: one\nsteps:\n  - {name: prepare, module: browser_steps, function: Done}\n")
    env = {"PYTHONPATH": str(tmp_path), "ORCH_TOKEN": "browser-s3cret"}
    orch_cli("run", "one.yaml", env=env).assert_success()
    url = orch_server(env=env).url
    driver.get(url)  # no token: refused, the page says how to get in
    assert "unauthorized" in driver.page_source and "token" in driver.page_source
    driver.get(url + "?token=browser-s3cret")
    wait = WebDriverWait(driver, 20)
    wait.until(lambda d: d.current_url == url)  # the token left the address bar
    wait.until(lambda d: d.find_element(By.ID, "live").text == "live")  # the event stream, on the cookie
    assert len(driver.find_elements(By.CSS_SELECTOR, "#runs li[data-run]")) == 1
    orch_cli("run", "one.yaml", env=env).assert_success()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#runs li[data-run]")) == 2)  # live, signed in
    assert driver.save_screenshot(str(tmp_path / "signed-in.png"))
