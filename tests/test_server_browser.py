"""The dashboard in a real browser: headless Chromium sees a step go from running to ok, live.

Debian's ``chromium`` and ``chromedriver`` through selenium (the ``driver`` fixture of
conftest.py). Without them the test is skipped, unless ``$ORCH_REQUIRE_BROWSER`` is set
(then it fails).
"""

from __future__ import annotations

import os
import subprocess

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
    # the page redraws as events arrive: look elements up afresh each time
    wait = WebDriverWait(driver, 20, ignored_exceptions=(StaleElementReferenceException,))

    def status(selector: str) -> str | None:
        found = driver.find_elements(By.CSS_SELECTOR, selector)
        return found[0].get_attribute("data-status") if found else None

    def text(selector: str) -> str:
        found = driver.find_elements(By.CSS_SELECTOR, selector)
        return found[0].text if found else ""

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
