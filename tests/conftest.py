"""Shared fixtures of the core's tests: the sample pack, in-process and as an installable folder."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

SAMPLE_ROOT = Path(__file__).parent / "sample_pack"
if str(SAMPLE_ROOT) not in sys.path:
    sys.path.insert(0, str(SAMPLE_ROOT))

import orch_sample  # noqa: E402


@pytest.fixture
def sample_pm(orch_pm, register_plugin):
    """The built-in plugins plus the sample pack, registered in-process."""
    register_plugin(orch_sample, "sample")
    return orch_pm


@pytest.fixture
def sample_pack_path(make_pack) -> Path:
    """The sample pack as a folder with distribution metadata, for ``PYTHONPATH``."""
    package = SAMPLE_ROOT / "orch_sample"
    modules = {f"orch_sample/{p.relative_to(package)}": p.read_text() for p in package.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    return make_pack("orch-sample", modules, {"sample": "orch_sample"}, version="1.2.3")


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser_available() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists() and shutil.which(CHROMIUM) is not None


def start_chromium(profile: Path):
    """Headless Chromium through selenium; skips the test when it is missing, unless $ORCH_REQUIRE_BROWSER."""
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
                 "--hide-scrollbars", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="session")
def chromium_starter():
    """:func:`start_chromium`, for fixtures of a wider scope than one test."""
    return start_chromium


@pytest.fixture
def driver(tmp_path):
    """A headless Chromium for one test, quit at teardown."""
    browser = start_chromium(tmp_path / "chromium-profile")
    try:
        yield browser
    finally:
        browser.quit()
