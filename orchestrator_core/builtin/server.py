"""The built-in plugin ``server``: a context server for a run, stopped when the run ends.

Two ways to get one: ``orch run --serve [--port N]`` starts it when the run starts,
and the curriculum's ``start_context_server_v2`` step asks for one from inside the run
(:func:`serve_run`), getting the ``--serve`` one when it exists. Either way the server
lives on a thread of the run's process and is stopped in ``orch_run_finish``, which
the runner calls also when a step failed or the run was interrupted (Ctrl-C, SIGTERM).

A step cannot see the plugin manager, so the runs of this process and their servers
are kept in a module-level table, keyed by run id, for :func:`serve_run` to find.
Only this module is imported when ``orch`` starts; the server is imported when one
is started.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from orchestrator_core._markers import hookimpl
from orchestrator_core.errors import UsageError
from orchestrator_core.plugin.interfaces import RunOption
from orchestrator_core.records import Record

SERVE_OPTION = RunOption(
    flag="--serve", dest="serve", type=bool, default=False, is_flag=True,
    help="Serve the run (API and live dashboard) on 127.0.0.1 while it runs; the URL goes to stderr.",
)
PORT_OPTION = RunOption(flag="--port", dest="serve_port", type=int, default=0,
                        help="With --serve: the port (default: a free one).")


class _ServedRun(Record):
    __slots__ = ("state_dir", "server")

    def __init__(self, state_dir: Path, server: Any = None):
        self.state_dir = state_dir
        self.server = server  # a RunningServer once started


_RUNS: dict[str, _ServedRun] = {}
_LOCK = threading.Lock()


def serve_run(run_id: str | None, *, host: str = "127.0.0.1", port: int = 0) -> tuple[str, bool]:
    """The URL of the server of run ``run_id`` (started now if it has none), and whether it was started now.

    Raises :class:`UsageError` when ``run_id`` is not a run of this process (a step
    run alone, or in a worker process).
    """
    with _LOCK:
        served = _RUNS.get(run_id or "")
        if served is None:
            raise UsageError(
                f"run {run_id!r} is not running in this process: a context server serves a run from the "
                "run's own process (run the step in a recipe, on the inline or thread executor)"
            )
        if served.server is not None:
            return served.server.url, False
        from orchestrator_core.server.httpserver import start_server

        served.server = start_server(served.state_dir, host=host, port=port)
    _announce(run_id or "", served.server.url)
    return served.server.url, True


def _announce(run_id: str, url: str) -> None:
    sys.stderr.write(f"orch: serving run {run_id} at {url} (dashboard; the API under {url}api/) until the run "
                     "ends; `orch serve` serves the state store after it\n")
    sys.stderr.flush()


class RunServers:
    """Keeps each run of this process known to :func:`serve_run`; stops its server when it ends.

    Declares ``orch run --serve [--port N]`` (:attr:`run_options`); the values reach
    it as ``config.options["serve"]`` and ``config.options["serve_port"]``.
    """

    run_options = (SERVE_OPTION, PORT_OPTION)

    @hookimpl
    def orch_configure(self, config: Any) -> None:
        if not config.options.get(SERVE_OPTION.dest):
            return
        port = config.options.get(PORT_OPTION.dest) or 0
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise UsageError(f"{PORT_OPTION.flag} must be a port number from 0 to 65535, got {port!r}")
        pm = config.pluginmanager
        if pm is not None and not pm.has_plugin("state"):
            raise UsageError(f"{SERVE_OPTION.flag} serves the run from the state store: it cannot run with "
                             "-p no:state")

    @hookimpl(tryfirst=True)  # a --port that cannot be bound stops the run before anything is recorded
    def orch_run_start(self, run: Any) -> None:
        with _LOCK:
            _RUNS[run.id] = _ServedRun(Path(run.config.state_dir))
        if not run.config.options.get(SERVE_OPTION.dest):
            return
        try:
            serve_run(run.id, port=run.config.options.get(PORT_OPTION.dest) or 0)
        except BaseException:
            with _LOCK:
                _RUNS.pop(run.id, None)
            raise

    @hookimpl(trylast=True)  # after the state recorder: run_finish is journaled, streams send it
    def orch_run_finish(self, run: Any) -> None:
        with _LOCK:
            served = _RUNS.pop(run.id, None)
        if served is not None and served.server is not None:
            url = served.server.url
            served.server.stop()
            # Said, not logged: a dashboard open in a browser stops answering now.
            sys.stderr.write(f"orch: stopped the context server of run {run.id} ({url}); "
                             f"`orch serve --state-dir {run.config.state_dir}` serves its runs\n")
            sys.stderr.flush()
