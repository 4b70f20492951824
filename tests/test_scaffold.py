"""``orch new pack`` gives a pack that installs, passes its own tests and runs; nothing is overwritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_new_pack_installs_passes_its_tests_and_runs(orch_cli, tmp_path):
    created = orch_cli("new", "pack", "demo_pack", "--dir", str(tmp_path)).assert_success()
    pack = tmp_path / "orchestrator-demo-pack"
    assert f"created {pack / 'pyproject.toml'}" in created.out
    added = orch_cli("new", "scriptlet", "shout", "--pack", str(pack)).assert_success()
    assert "steps/shout.py" in added.out and "test_shout.py" in added.out
    # The generated tests use the documented surface only: orch's fixtures and run_scriptlet.
    imported = {line.split()[1] for path in (pack / "tests").glob("*.py")
                for line in path.read_text().splitlines() if line.startswith(("import orchestrator_core",
                                                                              "from orchestrator_core"))}
    assert imported == {"orchestrator_core.scriptlet.standalone"}

    # Installed into a folder of this test's own (orch being installed already: no dependencies),
    # on PYTHONPATH of the commands below only. Installed into the environment, the pack showed in
    # the orch of every test running meanwhile, half-installed (not importable) at first.
    site = tmp_path / "site"
    install = pip("install", "--quiet", "--no-deps", "--target", str(site), str(pack))
    assert install.returncode == 0, install.stderr
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=pack,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
                               str(site), os.environ.get("PYTHONPATH")]))},
                           capture_output=True, text=True, timeout=300)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "7 passed" in tests.stdout

    listed = orch_cli("plugins", "list", "--json", pythonpath=[site]).assert_success().out
    plugins = {p["name"]: p for p in json.loads(listed)}
    assert plugins["demo_pack"]["distribution"] == "orchestrator-demo-pack"
    assert plugins["demo_pack"]["version"] == "0.1.0"

    run = orch_cli("run", "demo_pack_hello", pythonpath=[site]).assert_success()
    assert [line["step"] for line in run.lines] == ["hello", "shout"]
    assert run.lines[1]["outputs"] == ["demo_pack.shout_v1"]


def test_existing_files_are_not_overwritten_without_force(orch_cli, tmp_path):
    orch_cli("new", "pack", "keep", "--dir", str(tmp_path)).assert_success()
    module = tmp_path / "orchestrator-keep" / "orchestrator_keep" / "steps" / "hello.py"
    module.write_text("# my own work\n")
    again = orch_cli("new", "pack", "keep", "--dir", str(tmp_path))
    assert again.exit_code == 2 and "refusing to overwrite existing files" in again.err and "--force" in again.err
    assert module.read_text() == "# my own work\n"
    orch_cli("new", "scriptlet", "extra", "--pack", str(tmp_path / "orchestrator-keep")).assert_success()
    twice = orch_cli("new", "scriptlet", "extra", "--pack", str(tmp_path / "orchestrator-keep"))
    assert twice.exit_code == 2
    orch_cli("new", "pack", "keep", "--dir", str(tmp_path), "--force").assert_success()
    assert "class KeepHello" in module.read_text()


def test_bad_names_and_missing_pack(orch_cli, tmp_path):
    assert "use lowercase letters" in orch_cli("new", "pack", "9lives", "--dir", str(tmp_path)).err
    lost = orch_cli("new", "scriptlet", "x", "--pack", str(tmp_path))
    assert lost.exit_code == 2 and "no scriptlet pack found" in lost.err
