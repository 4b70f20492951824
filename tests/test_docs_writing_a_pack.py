"""Every shell block of docs/writing-a-pack.md runs, in order, and succeeds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).parents[1] / "docs" / "writing-a-pack.md"


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_the_guide_has_commands():
    commands = "".join(shell_blocks(DOC.read_text()))
    for command in ("orch new pack", "pip install -e", "orch new scriptlet", "python -m pytest", "pip uninstall"):
        assert command in commands


def test_every_command_of_the_guide_works(tmp_path):
    script = "set -euxo pipefail\n" + "\n".join(shell_blocks(DOC.read_text()))
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("ORCH_LOG_LEVEL", None)
    try:
        done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
    finally:
        subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "-q", "orchestrator-weather"],
                       capture_output=True)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert '"outputs":["weather.greeting_v1"]' in done.stdout
    assert '"outputs":["weather.forecast_v1"]' in done.stdout
    assert "hello, Ada" in done.stderr
    assert "call orch_before_step" in done.stderr
    # "Coming from the guide": the guide's own class, its line adopted, its reason kept
    assert '{"status": "ok", "outputs": ["example.echo_v1"]}' in done.stdout  # python example_step.py
    assert "guide.yaml:3: warning: step 'echo': 'example_step' declares no outputs" in done.stderr
    assert '"reason":"input required"' in done.stdout and '"step":"echo_again"' in done.stdout
