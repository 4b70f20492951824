"""Writing a new scriptlet pack, or a new scriptlet into a pack, from the templates.

Templates live in ``orchestrator_core/templates``; ``{{name}}`` placeholders are filled
in, ``__package__`` and ``__name__`` in file names too. Nothing that exists is
overwritten unless asked (``force``): the whole set of files is checked first, so a
refusal writes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from orchestrator_core._markers import __version__
from orchestrator_core.errors import UsageError

TEMPLATES = Path(__file__).parent / "templates"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class PackNames:
    """The names of one pack, derived from its short name (``demo``)."""

    name: str

    @property
    def dist(self) -> str:
        return f"orchestrator-{self.name.replace('_', '-')}"

    @property
    def package(self) -> str:
        return f"orchestrator_{self.name}"

    def variables(self) -> dict[str, str]:
        return {"name": self.name, "dist": self.dist, "package": self.package,
                "title": self.name.replace("_", " ").title(), "core_version": __version__,
                "core_minor": ".".join(__version__.split(".")[:2]) + ".0"}


def _check_name(name: str, what: str) -> str:
    name = name.strip().lower().replace("-", "_")
    if not _NAME.match(name):
        raise UsageError(f"{what} name {name!r}: use lowercase letters, digits and '_' and start with a letter")
    return name


def _render(text: str, variables: dict[str, str]) -> str:
    for key, value in variables.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _write_all(files: dict[Path, str], force: bool) -> list[Path]:
    existing = [path for path in files if path.exists()]
    if existing and not force:
        listed = ", ".join(str(p) for p in existing)
        raise UsageError(f"refusing to overwrite existing files: {listed} (use --force to replace them)")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


def _scriptlet_files(pack_root: Path, names: PackNames, scriptlet: str) -> dict[Path, str]:
    module = scriptlet.removeprefix(f"{names.name}_") or scriptlet
    variables = {
        **names.variables(), "scriptlet": scriptlet, "module": module,
        "class": "".join(part.title() for part in scriptlet.split("_")),
        "key": f"{names.name}.{'greeting' if module == 'hello' else module}_v1",
    }
    return {
        pack_root / names.package / "steps" / f"{module}.py": _render((TEMPLATES / "scriptlet" / "step.py").read_text(), variables),
        pack_root / "tests" / f"test_{module}.py": _render((TEMPLATES / "scriptlet" / "test_step.py").read_text(), variables),
    }


def new_pack(name: str, directory: Path, *, force: bool = False) -> list[Path]:
    """Write a ready-to-install pack named ``name`` into ``directory/<distribution>``."""
    names = PackNames(_check_name(name, "pack"))
    root = directory / names.dist
    variables = names.variables()
    files: dict[Path, str] = {}
    for template in sorted((TEMPLATES / "pack").rglob("*")):
        if template.is_dir() or "__pycache__" in template.parts:
            continue
        relative = str(template.relative_to(TEMPLATES / "pack"))
        relative = relative.replace("__package__", names.package).replace("__name__", names.name)
        relative = ".gitignore" if relative == "gitignore" else relative
        files[root / relative] = _render(template.read_text(), variables)
    files.update(_scriptlet_files(root, names, f"{names.name}_hello"))
    return _write_all(files, force)


def find_pack(start: Path) -> tuple[Path, PackNames]:
    """The pack that ``start`` is in: the folder with an ``orchestrator_*/steps`` package."""
    for folder in [start, *start.parents]:
        candidates = sorted(p.parent.parent for p in folder.glob("orchestrator_*/steps/__init__.py"))
        if len(candidates) == 1:
            return folder, PackNames(candidates[0].name.removeprefix("orchestrator_"))
    raise UsageError(f"no scriptlet pack found at {start} (expected an orchestrator_<name>/steps/ package; "
                     "create one with `orch new pack NAME`)")


def new_scriptlet(name: str, start: Path, *, force: bool = False) -> list[Path]:
    """Add scriptlet ``name`` to the pack at (or above) ``start``: module, test, recipe step."""
    root, names = find_pack(start)
    scriptlet = _check_name(name, "scriptlet")
    written = _write_all(_scriptlet_files(root, names, scriptlet), force)
    recipes = sorted((root / names.package / "recipes").glob("*.yaml"))
    if recipes and f"uses: {scriptlet}\n" not in recipes[0].read_text():
        with recipes[0].open("a", encoding="utf-8") as recipe:
            recipe.write(f"  - name: {scriptlet}\n    uses: {scriptlet}\n    params: {{who: world}}\n")
        written.append(recipes[0])
    return written
