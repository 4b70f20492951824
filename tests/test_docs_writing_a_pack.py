"""Every shell block of docs/writing-a-pack.md runs, in order, and succeeds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "writing-a-pack.md"


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_the_guide_has_commands():
    commands = "".join(shell_blocks(DOC.read_text()))
    for command in ("orch new pack", "pip install -e", "orch new scriptlet", "python -m pytest", "pip uninstall"):
        assert command in commands


def environment_of_its_own(folder: Path) -> Path:
    """A virtual environment in ``folder`` that sees everything installed in this one (orch, pytest,
    pip) and installs into itself: its ``bin`` folder, with ``python``, ``pip`` and ``orch``.

    The guide installs a pack: installed into this environment, the pack would show (half-installed
    at first) in the ``orch`` of every test running meanwhile.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    python = folder / "bin" / "python"
    own = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    # Every site folder this interpreter reads: its venv's, and the system's when the venv sees them
    # (``--system-site-packages``) or when there is no venv, each with its ``.pth`` files (editable installs).
    paths = sysconfig.get_paths()
    these = dict.fromkeys([paths["purelib"], paths["platlib"],
                           *(entry for entry in sys.path if Path(entry).name in ("site-packages", "dist-packages"))])
    Path(own, "this_environment.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({this!r})" for this in these) + "\n")
    for name, main in (("pip", "from pip._internal.cli.main import main"),
                       ("orch", "from orchestrator_core.cli import main")):
        (folder / "bin" / name).write_text(f"#!{python}\nimport sys\n{main}\nsys.exit(main())\n")
        (folder / "bin" / name).chmod(0o755)
    return folder / "bin"


def test_every_command_of_the_guide_works(tmp_path):
    script = "set -euxo pipefail\n" + "\n".join(shell_blocks(DOC.read_text()))
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, PATH=f"{environment_of_its_own(tmp_path / 'env')}{os.pathsep}{os.environ['PATH']}")
    env.pop("ORCH_LOG_LEVEL", None)
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert '"outputs":["weather.greeting_v1"]' in done.stdout
    assert '"outputs":["weather.forecast_v1"]' in done.stdout
    assert "hello, Ada" in done.stderr
    assert "call orch_before_step" in done.stderr
    # "Coming from the guide": the guide's own class, its line adopted, its reason kept
    assert '{"status": "ok", "outputs": ["example.echo_v1"]}' in done.stdout  # python example_step.py
    assert "guide.yaml:3: warning: step 'echo': 'example_step' declares no outputs" in done.stderr
    assert '"reason":"input required"' in done.stdout and '"step":"echo_again"' in done.stdout
