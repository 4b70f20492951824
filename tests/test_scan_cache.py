"""The entry-point scan kept between starts: used while nothing changed, read again when something did.

Distributions here are folders laid out as pip lays them out (``NAME-VERSION.dist-info`` with
``entry_points.txt`` and ``METADATA``) in a folder of the test's own put on ``sys.path``.
A stamp is kept only once it is older than the file system's clock tick, so the tests wait
that long (:func:`settle`) where they need the cache to hold something.
"""

from __future__ import annotations

import json
import marshal
import os
import sys
import time
from pathlib import Path

import pytest

from orchestrator_core.plugin import scan_cache
from orchestrator_core.plugin.entrypoints import entry_points

GROUP = "orchestrator"


def distribution(site: Path, name: str, version: str, plugins: dict[str, str]) -> Path:
    folder = site / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nA pack.\n")
    lines = [f"[{GROUP}]", *(f"{plugin} = {value}" for plugin, value in plugins.items()), "",
             "[console_scripts]", f"{name} = {name.replace('-', '_')}:main", ""]
    (folder / "entry_points.txt").write_text("\n".join(lines))
    return folder


def settle() -> None:
    """Let every stamp made so far fall out of the window of a write in the same clock tick."""
    time.sleep(scan_cache_window_s() + 0.05)


def scan_cache_window_s() -> float:
    from orchestrator_core.run.file_digests import RACY_WINDOW_NS

    return RACY_WINDOW_NS / 1e9


def found(site: Path) -> dict[str, tuple[str, str, str]]:
    return {ep.name: (ep.value, ep.distribution, ep.version) for ep in entry_points(GROUP)}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.setattr(sys, "path", [str(folder)])
    monkeypatch.delenv(scan_cache.DISABLE_ENV, raising=False)
    return folder


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the scan opens, besides its own cache file."""
    names: list[str] = []
    real_open = open

    def counting(path, *args, **kwargs):
        if not str(path).endswith(".scan"):
            names.append(os.path.basename(str(path)))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(scan_cache, "open", counting, raising=False)
    return names


def cache_files(tmp_path: Path) -> list[Path]:
    return sorted(Path(os.environ["ORCH_CACHE_DIR"]).glob("entry-points/*.scan"))


def test_a_second_scan_reads_no_distribution_file_and_finds_the_same(site, opened, tmp_path):
    distribution(site, "orchestrator-weather", "0.3", {"weather": "orchestrator_weather"})
    distribution(site, "unrelated", "1.0", {})
    settle()
    first = found(site)
    assert first == {"weather": ("orchestrator_weather", "orchestrator-weather", "0.3")}
    assert sorted(opened) == ["METADATA", "entry_points.txt", "entry_points.txt"]
    assert len(cache_files(tmp_path)) == 1
    opened.clear()
    assert found(site) == first
    assert opened == []


def test_an_entry_points_file_rewritten_in_place_is_read_again(site, opened):
    dist = distribution(site, "orchestrator-weather", "0.3", {"weather": "orchestrator_weather"})
    settle()
    found(site)
    # The same size, written in place: the folder's listing does not change, the file's stamps do.
    (dist / "entry_points.txt").write_text((dist / "entry_points.txt").read_text().replace("weather =", "wetter  ="))
    settle()
    assert found(site) == {"wetter": ("orchestrator_weather", "orchestrator-weather", "0.3")}


def test_an_installed_and_an_uninstalled_distribution_are_seen(site):
    old = distribution(site, "orchestrator-weather", "0.3", {"weather": "orchestrator_weather"})
    settle()
    assert set(found(site)) == {"weather"}
    distribution(site, "orchestrator-tides", "1.0", {"tides": "orchestrator_tides"})
    assert set(found(site)) == {"weather", "tides"}  # at once, within the clock tick
    settle()
    assert set(found(site)) == {"weather", "tides"}
    for file in old.iterdir():
        file.unlink()
    old.rmdir()
    assert set(found(site)) == {"tides"}
    # An upgrade: a new version's folder in place of the old one.
    tides = site / "orchestrator_tides-1.0.dist-info"
    tides.rename(site / "orchestrator_tides-1.1.dist-info")
    (site / "orchestrator_tides-1.1.dist-info" / "METADATA").write_text("Name: orchestrator-tides\nVersion: 1.1\n\n")
    assert found(site) == {"tides": ("orchestrator_tides", "orchestrator-tides", "1.1")}


def test_a_damaged_cache_is_ignored_and_written_again(site, tmp_path):
    distribution(site, "orchestrator-weather", "0.3", {"weather": "orchestrator_weather"})
    settle()
    found(site)
    (cache,) = cache_files(tmp_path)
    for damage in (b"", b"\x00garbage", marshal.dumps(("orch entry-point scan 1", [1, 2])),
                   marshal.dumps(("orch entry-point scan 1", {"f:" + str(site): ("x", 3)})), cache.read_bytes()[:40]):
        cache.write_bytes(damage)
        assert set(found(site)) == {"weather"}
        assert marshal.loads(cache.read_bytes())[0] == "orch entry-point scan 1"


def forge(cache: Path) -> None:
    """Make the kept scan claim a plugin ``evil`` that no file declares, keeping every stamp."""
    fmt, kept = marshal.loads(cache.read_bytes())
    for key, (stamp, value) in list(kept.items()):
        if key.endswith("entry_points.txt") and value.get(GROUP):
            value[GROUP] = [*value[GROUP], ("evil", "evil_module")]
            kept[key] = (stamp, value)
    cache.write_bytes(marshal.dumps((fmt, kept)))


def test_a_cache_folder_others_may_write_is_not_trusted(site, tmp_path):
    distribution(site, "orchestrator-weather", "0.3", {"weather": "orchestrator_weather"})
    settle()
    found(site)
    (cache,) = cache_files(tmp_path)
    forge(cache)
    assert "evil" in found(site)  # what the cache says is used as it is: hence the folder must be private
    cache.parent.chmod(0o777)
    assert set(found(site)) == {"weather"}
    cache.parent.chmod(0o700)


def test_the_cache_can_be_turned_off(site, tmp_path, monkeypatch):
    distribution(site, "orchestrator-weather", "0.3", {"weather": "orchestrator_weather"})
    settle()
    found(site)
    (cache,) = cache_files(tmp_path)
    forge(cache)
    monkeypatch.setenv(scan_cache.DISABLE_ENV, "1")
    assert set(found(site)) == {"weather"}


def test_orch_sees_a_pack_installed_after_the_scan_was_kept(orch_cli, tmp_path):
    """The real ``orch``: a pack added to a ``PYTHONPATH`` folder after a start kept its scan is loaded."""
    site = tmp_path / "site"
    pack = site / "orchestrator_tides"
    pack.mkdir(parents=True)
    (pack / "__init__.py").write_text(
        "from orchestrator_core import BaseScriptlet, hookimpl\n\n"
        "class Tide(BaseScriptlet):\n    name = 'tide_hello'\n\n    def run(self, ctx, params):\n        pass\n\n"
        "@hookimpl\ndef orch_register_scriptlets():\n    return [Tide]\n")

    def plugins() -> set[str]:
        return {p["name"] for p in json.loads(orch_cli("plugins", "list", "--json", pythonpath=[site])
                                              .assert_success().out)}

    before = plugins()
    assert "tides" not in before
    time.sleep(scan_cache_window_s() + 0.05)
    assert plugins() == before  # now from the kept scan
    assert cache_files(tmp_path)
    distribution(site, "orchestrator-tides", "1.0", {"tides": "orchestrator_tides"})
    assert plugins() == before | {"tides"}
    steps = {s["name"] for s in json.loads(orch_cli("steps", "list", "--json", pythonpath=[site]).out)}
    assert "tide_hello" in steps
