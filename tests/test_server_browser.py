"""The dashboard in a real browser: headless Chromium sees a step go from running to ok, live.

Debian's ``chromium`` and ``chromedriver`` through selenium. Without them the test is
skipped, unless ``$ORCH_REQUIRE_BROWSER`` is set (then it fails).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator_core.testing import orch_executable

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

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


def browser_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists() and shutil.which(CHROMIUM) is not None


@pytest.fixture
def driver(tmp_path):
    if not browser_available():
        if os.environ.get("ORCH_REQUIRE_BROWSER"):
            pytest.fail(f"ORCH_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing")
        pytest.skip(f"{CHROMIUM} or {CHROMEDRIVER} is not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def test_the_dashboard_shows_a_step_go_from_running_to_ok(tmp_path, driver, orch_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    (tmp_path / "browser_steps.py").write_text(STEPS)
    (tmp_path / "recipe.yaml").write_text(RECIPE)
    env = {"PYTHONPATH": str(tmp_path)}
    url = orch_server(env=env).url
    driver.get(url)
    wait = WebDriverWait(driver, 20)
    wait.until(seen.text_to_be_present_in_element((By.ID, "live"), "live"))

    run = subprocess.Popen([orch_executable(), "run", "recipe.yaml"], cwd=tmp_path, env={**os.environ, **env},
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        running = wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-step="wait"][data-status="running"]')))
        assert "running" in running.text
        assert driver.find_element(By.CSS_SELECTOR, '#dag g.node[data-step="wait"]').get_attribute("data-status") == "running"
        assert driver.find_element(By.CSS_SELECTOR, 'tr[data-step="prepare"]').get_attribute("data-status") == "ok"
        assert driver.find_element(By.CSS_SELECTOR, '#dag g.node[data-step="finish"]') is not None
        (tmp_path / "gate").touch()
        done = wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-step="wait"][data-status="ok"]')))
        assert "ms" in done.find_element(By.CSS_SELECTOR, "td.duration").text
        wait.until(seen.text_to_be_present_in_element((By.ID, "run-status"), "ok"))
        wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, 'tr[data-key="gate.opened_v1"]')))
        assert run.wait(timeout=30) == 0, run.stderr.read()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
