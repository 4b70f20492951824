"""``orch serve``: the state store over HTTP, with the live dashboard at ``/``."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import click

from orchestrator_core.cli.common import resolved_state_dir, state_dir_option

DEFAULT_PORT = 8765


def _sigterm_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to listen on; 0 picks a free one (the URL is printed on stderr).")
@click.option("--token", envvar="ORCH_TOKEN", default=None, metavar="TOKEN",
              help="Every request must send 'Authorization: Bearer TOKEN' (also $ORCH_TOKEN; printable "
                   "ASCII, no spaces); a browser opens /?token=TOKEN once.")
@click.option("--max-connections", type=click.IntRange(min=0), default=0, metavar="N",
              help="Connections served at once; one more is answered 503 (default: what the open-files "
                   "limit allows, at most 1000).")
@click.option("--idle-timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True, metavar="S",
              help="Close a connection idle this long between requests.")
@click.option("--request-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True, metavar="S",
              help="A request (line, headers and body) must arrive within this from its first byte, "
                   "and each answer be taken by the client within it.")
@state_dir_option
def serve(host: str, port: int, token: str | None, max_connections: int, idle_timeout: float,
          request_timeout: float, state_dir: Path | None) -> None:
    """Serve the state store: the runs, their steps and context, writes, live events, and a dashboard.

    \b
    GET  /                                  the dashboard (live, in the browser)
    GET  /api/runs                          recorded runs, newest first
    GET  /api/runs/RUN                      one run and each step of its plan
    GET  /api/runs/RUN/context[/KEY]        its context, or one key with its history
    PUT  /api/runs/RUN/context/KEY          write a key: {"value": ..., "who": "..."}
    GET  /api/events[?run=RUN]              run events as Server-Sent Events
    GET  /healthz                           liveness

    RUN is a run id, a unique prefix of one, or 'latest'. A running `orch run` sees a
    key written to it before its next step starts. Runs until Ctrl-C.
    Who can reach the server, and what it refuses: docs/server.md, "Threat model".
    """
    from orchestrator_core.server.connections import Limits
    from orchestrator_core.server.httpserver import start_server
    from orchestrator_core.state.store import StateStore

    directory = resolved_state_dir(state_dir)
    found = StateStore.open_for_reading(directory)  # a damaged store stops the server before it starts
    if found is not None:
        try:
            found.quick_check()
        finally:
            found.close()
    limits = Limits(max_connections=max_connections, idle_timeout=idle_timeout, request_timeout=request_timeout,
                    send_timeout=request_timeout)
    running = start_server(directory, host=host, port=port, token=token, limits=limits)
    # SIGHUP too: a closed terminal or SSH session stops the server like Ctrl-C does. Taken before
    # the URL is printed: whoever waits for it may stop the server at once, and it stops cleanly.
    previous = {signum: signal.signal(signum, _sigterm_as_interrupt) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        click.echo(f"orch serve: listening on {running.url} (state store {directory}); Ctrl-C stops", err=True)
        threading.Event().wait()  # until Ctrl-C, SIGTERM or SIGHUP
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        running.stop()
    click.echo("orch serve: stopped", err=True)


COMMANDS = (serve,)
