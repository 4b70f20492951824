"""The release metadata of the project's distributions: one version, pins that agree, a licence,
and package pages that work on an index (absolute links)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
PROJECTS = [REPOSITORY] + sorted(p.parent for p in (REPOSITORY / "plugins").glob("*/pyproject.toml"))


def metadata(project: Path) -> dict:
    return tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))


def version_of(project: Path) -> str:
    source = (project / metadata(project)["tool"]["hatch"]["version"]["path"]).read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"', source, re.M).group(1)


NAMES = {metadata(p)["project"]["name"] for p in PROJECTS}
VERSION = version_of(REPOSITORY)


def test_one_version_across_the_set_and_the_pins_between_them_agree():
    assert {project.name: version_of(project) for project in PROJECTS} == {p.name: VERSION for p in PROJECTS}
    major, minor, _ = VERSION.split(".")
    pins = {}
    for project in PROJECTS:
        for requirement in metadata(project)["project"]["dependencies"]:
            name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)
            if name in NAMES:
                pins[(project.name, name)] = requirement
    assert pins and all(pin.endswith(f"~={major}.{minor}.0") for pin in pins.values()), pins
    curriculum = metadata(REPOSITORY / "plugins" / "orchestrator_curriculum")["project"]["dependencies"]
    assert f"orchestrator-process~={major}.{minor}.0" in curriculum


def test_the_changelog_has_a_section_for_the_version():
    assert f"## [{VERSION}]" in (REPOSITORY / "CHANGELOG.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_release_metadata(project: Path):
    meta = metadata(project)["project"]
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"]
    assert (project / "LICENSE").read_bytes() == (REPOSITORY / "LICENSE").read_bytes()
    assert meta["requires-python"] == ">=3.10" and meta["authors"]
    assert {"Homepage", "Documentation", "Repository", "Changelog"} <= set(meta["urls"])
    assert {"Programming Language :: Python :: 3.10", "Development Status :: 4 - Beta"} <= set(meta["classifiers"])
    sdist = metadata(project)["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]
    assert "LICENSE" in sdist


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_readmes_that_become_package_pages_link_absolutely(project: Path):
    text = (project / metadata(project)["project"]["readme"]).read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]+)\)", text)
    relative = [link for link in links if not link.startswith(("https://", "http://", "#", "mailto:"))]
    assert not relative
