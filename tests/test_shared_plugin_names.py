"""Two distributions that declare one plugin name: real distributions, installed with pip into
one folder (as into a ``site-packages``), then the real ``orch``.

The name belongs to the distribution the naming rule gives it (``orchestrator-<name>``),
whichever folder comes first on disk; the other is reported and listed, never silently
dropped. When none of them is that distribution, none is loaded. One distribution seen
twice on ``sys.path`` is no second claim.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def project(root: Path, distribution: str, package: str, scriptlet: str) -> Path:
    """A tiny pack's source: ``package`` registers one scriptlet, ``scriptlet``, writing ``seen.by_v1``;
    its entry point is ``weather``."""
    folder = root / distribution
    (folder / package).mkdir(parents=True)
    (folder / "pyproject.toml").write_text(textwrap.dedent(f"""
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"

        [project]
        name = "{distribution}"
        version = "0.1"

        [project.entry-points.orchestrator]
        weather = "{package}"

        [tool.hatch.build.targets.wheel]
        packages = ["{package}"]
    """))
    (folder / package / "__init__.py").write_text(textwrap.dedent(f"""
        from orchestrator_core import BaseScriptlet, hookimpl


        class Step(BaseScriptlet):
            name = "{scriptlet}"
            outputs = ("seen.by_v1",)

            def run(self, ctx, params):
                ctx.set("seen.by_v1", "{distribution}")


        @hookimpl
        def orch_register_scriptlets():
            return [Step]
    """))
    return folder


def install(target: Path, *projects: Path) -> Path:
    """``pip install --target`` of ``projects``, built with the hatchling installed here (no index)."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-index",
                           "--no-deps", "--no-compile", "--target", str(target), *map(str, projects)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return target


def weather_rows(outcome) -> list[dict]:
    return [p for p in json.loads(outcome.assert_success().out) if p["name"] == "weather"]


@pytest.mark.parametrize("impostor", ["orch-weather-impostor", "zz-weather-impostor"])
def test_the_name_goes_to_orchestrator_name_whichever_folder_comes_first(orch_cli, tmp_path, impostor):
    site = install(tmp_path / "site", project(tmp_path / "src", "orchestrator-weather", "orchestrator_weather",
                                              "weather_hello"),
                   project(tmp_path / "src", impostor, "impostor_pkg", "impostor_hello"))
    folders = sorted(p.name for p in site.glob("*.dist-info"))
    assert len(folders) == 2  # one before, one after the real pack's folder, by the parametrization

    listed = orch_cli("plugins", "list", "--json", pythonpath=[site])
    real, passed_over = weather_rows(listed)
    assert (real["distribution"], real["error"]) == ("orchestrator-weather", None)
    assert real["hooks"] == ["orch_register_scriptlets"] and real["module"] == "orchestrator_weather"
    assert passed_over["distribution"] == impostor and passed_over["hooks"] == []
    assert passed_over["error"].startswith("orchestrator-weather 0.1 declares the plugin name 'weather' too, "
                                           "and orchestrator-weather is used")
    warnings = [line for line in listed.err.splitlines() if "weather" in line]
    assert warnings == [f"orch: warning: plugin 'weather' from {impostor} 0.1 was not loaded: "
                        f"{passed_over['error']}"]
    assert f"uninstall orchestrator-weather" in warnings[0]

    table = orch_cli("plugins", "list", pythonpath=[site]).assert_success().out.splitlines()
    rows = [line.split() for line in table if line.startswith("weather ")]
    assert [row[2] for row in rows] == ["orchestrator-weather", impostor] and rows[1][4] == "ERROR:"

    steps = {s["name"] for s in json.loads(orch_cli("steps", "list", "--json", pythonpath=[site]).out)}
    assert "weather_hello" in steps and "impostor_hello" not in steps
    (tmp_path / "r.yaml").write_text("steps:\n  - {name: a, uses: weather_hello}\n")
    ran = orch_cli("run", "r.yaml", "--no-progress", pythonpath=[site]).assert_success()
    assert ran.lines[0]["status"] == "ok"


def test_when_no_claimant_is_orchestrator_name_none_is_loaded_and_both_say_so(orch_cli, tmp_path):
    site = install(tmp_path / "site", project(tmp_path / "src", "weather-pack", "weather_pack", "weather_hello"),
                   project(tmp_path / "src", "orch-weather-impostor", "impostor_pkg", "impostor_hello"))
    listed = orch_cli("plugins", "list", "--json", pythonpath=[site])
    rows = weather_rows(listed)
    assert [r["distribution"] for r in rows] == ["orch-weather-impostor", "weather-pack"]
    for row, other in zip(rows, ("weather-pack", "orch-weather-impostor")):
        assert row["error"] == (f"{other} 0.1 declares the plugin name 'weather' too, so none of them is loaded "
                                "(of distributions that share a plugin name, orch loads orchestrator-weather, and "
                                "it is not one of them); uninstall one of them")
        assert f"orch: warning: plugin 'weather' from {row['distribution']} 0.1 was not loaded: {row['error']}" \
            in listed.err
    (tmp_path / "r.yaml").write_text("steps:\n  - {name: a, uses: weather_hello}\n")
    refused = orch_cli("run", "r.yaml", "--no-progress", pythonpath=[site])
    assert refused.exit_code == 2 and "unknown scriptlet 'weather_hello'" in refused.err
    assert "Traceback" not in refused.err

    # Blocking the name blocks every claimant, and with them the warnings.
    quiet = orch_cli("-p", "no:weather", "plugins", "list", "--json", pythonpath=[site])
    assert weather_rows(quiet) == [] and "weather" not in quiet.err


def test_one_distribution_seen_twice_on_sys_path_is_one_plugin_and_no_warning(orch_cli, tmp_path):
    """An installed copy and a second folder holding the same distribution (an editable install
    beside a build folder): the first on ``sys.path`` is the one Python imports, and the one used."""
    source = project(tmp_path / "src", "orchestrator-weather", "orchestrator_weather", "weather_hello")
    first = install(tmp_path / "site", source)
    second = tmp_path / "build"
    shutil.copytree(first, second)
    (dist_info,) = second.glob("*.dist-info")
    dist_info.rename(second / "Orchestrator.Weather-0.1.dist-info")  # another spelling of the same name
    (second / "orchestrator_weather" / "__init__.py").write_text("raise ImportError('the second copy was imported')")
    listed = orch_cli("plugins", "list", "--json", pythonpath=[first, second])
    (row,) = weather_rows(listed)
    assert (row["distribution"], row["error"]) == ("orchestrator-weather", None)
    assert "warning" not in listed.err

    # A distribution that declares its name twice claims it once.
    (installed,) = first.glob("*.dist-info")
    with open(installed / "entry_points.txt", "a", encoding="utf-8") as entry_points:
        entry_points.write("weather = orchestrator_weather\n")
    listed = orch_cli("plugins", "list", "--json", pythonpath=[first])
    assert [r["error"] for r in weather_rows(listed)] == [None] and "warning" not in listed.err
