"""The project's own test helpers, shared by ``tests/`` and ``plugins/*/tests`` (not shipped).

Looking at processes through ``/proc`` so tests can prove nothing was left running, a
running ``orch serve``, a mount namespace of its own for a script that mounts a full
disk, a headless Chromium, and the screen a terminal shows. The fixtures built on them live in the repository's ``conftest.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest


@dataclass
class ServedStore:
    """A running ``orch serve`` subprocess: its base ``url`` (ending in ``/``) and process."""

    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> int:
        """Stop it as Ctrl-C would; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Return once ``condition()`` holds; fail the test, naming ``what``, after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_for_url(log: Path, process: subprocess.Popen, timeout: float = 30) -> str:
    """The first ``http://`` URL written to ``log`` by ``process`` (which prints it on stderr)."""
    import re
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        found = re.search(r"http://\S+/", text)
        if found:
            return found.group(0)
        if process.poll() is not None:
            raise AssertionError(f"the process exited {process.returncode} before printing its URL:\n{text}")
        time.sleep(0.02)
    raise AssertionError(f"no URL printed within {timeout} s:\n{log.read_text() if log.exists() else ''}")


def mount_namespaces_allowed() -> bool:
    import shutil

    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


def in_mount_namespace(script: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a shell ``script`` in a new mount namespace (mounts made there vanish with it).

    Mounting needs root, as in CI (``.ci/run``): without it the test is skipped, unless
    ``ORCH_REQUIRE_MOUNT_NAMESPACE`` is set, which makes it fail.
    """
    import pytest

    if not mount_namespaces_allowed():
        if os.environ.get("ORCH_REQUIRE_MOUNT_NAMESPACE"):
            pytest.fail("ORCH_REQUIRE_MOUNT_NAMESPACE is set but unshare -m is not permitted here")
        pytest.skip("unshare -m is not permitted here (it needs root); .ci/run as root requires this test")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH", "")]))
    env.pop("ORCH_STATE_DIR", None)
    return subprocess.run(["unshare", "-m", "sh", "-ec", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


class Processes:
    """Looking at processes through ``/proc``: so tests can prove nothing was left running."""

    @staticmethod
    def alive(pid: int) -> bool:
        """Whether ``pid`` is a live process (a zombie waiting to be reaped counts as gone)."""
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return False
        return fields[0] not in ("Z", "X")

    @staticmethod
    def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return True
            time.sleep(0.02)
        return condition()

    @classmethod
    def marked(cls, marker: str) -> list[int]:
        """Pids of live processes whose environment holds ``ORCH_TEST_MARK=marker``."""
        found = []
        needle = f"ORCH_TEST_MARK={marker}".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if needle in environ.split(b"\0") and cls.alive(int(entry.name)):
                found.append(int(entry.name))
        return found

    @classmethod
    def kill_marked(cls, marker: str) -> None:
        for pid in cls.marked(marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    @classmethod
    def pids(cls, path: Path, count: int = 1, timeout: float = 10.0) -> list[int]:
        """The pids a process wrote to ``path`` (one per line), once it has written ``count``."""
        def ready() -> bool:
            return path.exists() and len(path.read_text().split()) >= count

        assert cls.wait_until(ready, timeout), f"{path} was not written"
        return [int(p) for p in path.read_text().split()]


WIDE_STEPS = '''
import os
import time

from orchestrator_core import BaseScriptlet


class Quick(BaseScriptlet):
    outputs = ()
    parallelizable = True

    def run(self, ctx, params):
        return None


class Gate(BaseScriptlet):
    """Waits until the file ``opened`` exists (at most a minute)."""

    outputs = ()

    def run(self, ctx, params):
        end = time.monotonic() + 60
        while not os.path.exists(params["opened"]) and time.monotonic() < end:
            time.sleep(0.02)
'''


def write_wide_fan(folder: Path, width: int, *, gate: Path | None = None) -> Path:
    """``wide.yaml`` in ``folder`` (its scriptlets in ``wide_steps.py``, for ``PYTHONPATH``): a serial
    ``root``, then ``width`` quick parallel steps ``q0``, ``q1``..., then, when ``gate`` is given,
    a step ``gate`` that, once they all finished, waits until the file ``gate`` exists."""
    (folder / "wide_steps.py").write_text(WIDE_STEPS)
    steps = ["  - {name: root, module: wide_steps, function: Quick, parallelizable: false}"]
    steps += [f"  - {{name: q{i}, module: wide_steps, function: Quick, depends_on: [root]}}" for i in range(width)]
    if gate is not None:
        steps.append(f"  - {{name: gate, module: wide_steps, function: Gate, params: {{opened: '{gate}'}}, "
                     f"depends_on: [{', '.join(f'q{i}' for i in range(width))}]}}")
    recipe = folder / "wide.yaml"
    recipe.write_text("name: wide\nsteps:\n" + "\n".join(steps) + "\n")
    return recipe


LEFT_CHILDREN_STEPS = '''
import os
import subprocess
import time

from orchestrator_core import BaseScriptlet


class LeaveChildren(BaseScriptlet):
    """Starts a ``sleep`` in its own group and one in a session of its own (deaf to SIGTERM), writes
    their pids to ``children.pids``, then outlives its timeout."""

    parallelizable = True

    def run(self, ctx, params):
        plain = subprocess.Popen(["sleep", "600"])
        escaped = subprocess.Popen(["sh", "-c", "trap '' TERM INT; sleep 600; echo"], start_new_session=True)
        with open(os.path.join(params["folder"], "children.pids"), "w") as out:
            out.write(f"{plain.pid} {escaped.pid}\\n")
        time.sleep(600)
'''


def run_left_children(folder: Path, env: dict[str, str], *args: str, timeout: float = 60) -> tuple[str, int]:
    """``orch run`` of one step (``LeaveChildren``, timeout 1 s) as ``orch run R 2>&1 | cat`` would see
    it: its output, once every process holding the pipe closed it (within ``timeout`` seconds), and its
    exit status. The step's children are then in ``children.pids``."""
    (folder / "left_children.py").write_text(LEFT_CHILDREN_STEPS)
    (folder / "left.yaml").write_text(
        f"steps:\n  - {{name: kids, module: left_children, function: LeaveChildren, timeout: 1, "
        f"params: {{folder: '{folder}'}}}}\n")
    env = dict(env, PYTHONPATH=os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")])))
    orch = str(Path(__import__("sys").executable).parent / "orch")
    with subprocess.Popen([orch, "run", "left.yaml", "--no-progress", *args], cwd=folder, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True) as proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("the pipe stayed open: processes the run started still hold it") from None
    return out, proc.returncode


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


def screen_when_done(child, seen) -> list[str]:
    """The non-empty lines of the screen once the pexpect ``child`` (its output logged to ``seen``)
    ended, which it must with exit status 0."""
    import pexpect

    try:
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, seen.getvalue()[-3000:]
    return [line for line in screen_of(seen.getvalue()) if line.strip()]


def screen_of(raw: str) -> list[str]:
    """The lines left on a terminal after it received ``raw``."""
    lines: list[str] = [""]
    row = col = 0
    i = 0
    while i < len(raw):
        char = raw[i]
        if char == "\x1b":
            match = re.match(r"\x1b\[([0-9;?]*)([A-Za-z])", raw[i:]) or re.match(r"\x1b.", raw[i:])
            assert match is not None
            if match.re.pattern.startswith("\\x1b\\["):
                args, command = match.group(1), match.group(2)
                count = int(args) if args.isdigit() else 1
                if command == "K":
                    lines[row] = lines[row][:col] if args in ("", "0") else ""
                elif command == "A":
                    row = max(0, row - count)
                elif command == "G":
                    col = count - 1
            i += len(match.group(0))
            continue
        if char == "\r":
            col = 0
        elif char == "\n":
            row += 1
            col = 0
            if row == len(lines):
                lines.append("")
        else:
            line = lines[row].ljust(col)
            lines[row] = line[:col] + char + line[col + 1:]
            col += 1
        i += 1
    return [line.rstrip() for line in lines]


# Steps for the worker executors' terminal tests (process, Dask): what a worker prints, and a
# worker that stays busy.
TALK_STEPS = '''
import os
import sys
import time

from orchestrator_core import BaseScriptlet


class Talk(BaseScriptlet):
    """Prints to stdout and stderr, has a program print, around naps that let the bar redraw."""

    name = "talk"

    def run(self, ctx, params):
        who = params["who"]
        time.sleep(0.3)
        print(f"{who} says hello from pid {os.getpid()}")
        print(f"{who} warns on stderr (fd 2 is a terminal: {os.isatty(2)})", file=sys.stderr)
        if params.get("program", True):
            os.system(f"echo {who}s child speaks")
        if params.get("unfinished"):
            sys.stdout.write(f"{who} leaves a line without its newline")
        time.sleep(0.3)


class Nap(BaseScriptlet):
    """Writes its worker's pid to ``pid_dir``, prints, then sleeps."""

    name = "nap"

    def run(self, ctx, params):
        print(f"{params['who']} is napping", flush=True)
        with open(os.path.join(params["pid_dir"], f"{os.getpid()}.pid"), "w") as pidfile:
            pidfile.write("")
        time.sleep(60)
'''
