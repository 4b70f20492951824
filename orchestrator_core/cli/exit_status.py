"""How a command of ``orch`` ends: the errors orch raises on purpose become a message on stderr and an exit status.

Shared by the click commands and the plain path of ``orch run``, and click-free, so both
end the same way: a recipe's problems one ``FILE:LINE`` line each (exit 2), any other
``OrchError`` one line (its own exit status; with ``--traceback`` its traceback), Ctrl-C 130.
stdout is flushed before the command counts as done, so output that cannot be written (a
full disk) is an ``OutputError`` reported here rather than lost when Python exits.
"""

from __future__ import annotations

import sys
from typing import Callable

from orchestrator_core.display.streams import check_written
from orchestrator_core.errors import OrchError, RecipeError, folded

INTERRUPTED = 130


def say(message: str) -> None:
    """One line ``orch: MESSAGE`` on stderr (``error: ...``, ``warning: ...``).

    A stderr that cannot take it (a full disk) loses the line, not the exit status: the
    status is then all that tells, so it must stay the one the message went with.
    """
    try:
        sys.stderr.write(f"orch: {message}\n")
        sys.stderr.flush()
    except OSError:
        pass


def exit_status(command: Callable[[], int], *, traceback: bool = False) -> int:
    """The exit status of ``command()``, an error orch raised on purpose reported on stderr."""
    try:
        code = command()
        check_written(sys.stdout)  # what is still buffered fails here, where it is reported, not at exit
        return code
    except RecipeError as exc:
        for line in folded(exc.problems):
            say(f"error: {line}")
        return exc.exit_code
    except OrchError as exc:
        if traceback:
            raise
        say(f"error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        say("interrupted")
        return INTERRUPTED


def aborted() -> int:
    """Ctrl-C before a run started (click's ``Abort``): its message and exit status."""
    say("aborted")
    return INTERRUPTED
