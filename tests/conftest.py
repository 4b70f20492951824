"""Shared fixtures of the core's tests: the sample pack, in-process and as an installable folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SAMPLE_ROOT = Path(__file__).parent / "sample_pack"
if str(SAMPLE_ROOT) not in sys.path:
    sys.path.insert(0, str(SAMPLE_ROOT))

import orch_sample  # noqa: E402
from orch_test_helpers import start_chromium  # noqa: E402


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
