"""Running one attempt of one step, wherever it runs.

:func:`execute_task` is the single harness every executor calls (inline, on a
thread, in a pool process, on a Dask worker): it builds the step's context view,
measures the work, and turns whatever happened into a :class:`StepResult`. An
executor only decides *where* this function runs.
"""

from __future__ import annotations

import threading
import traceback
from typing import Any

from orchestrator_core.scriptlet.adopted_line import adopt, capture_status_line
from orchestrator_core.run.context import StepContext, json_safe
from orchestrator_core.errors import ContextError, error_from_exception, error_record
from orchestrator_core.model import STATUS_ERROR, STATUS_OK, StepResult, StepTask
from orchestrator_core.run.resources import measure

RESERVED_FIELDS = frozenset({"status", "outputs", "step", "metrics", "cache", "reason", "exit_code"})


def execute_task(task: StepTask, cancel_event: threading.Event | None = None) -> StepResult:
    """Run ``task`` once and describe the outcome; never raises for a step's own failure.

    ``cancel_event`` is what ``ctx.cancelled`` reads: anything with ``is_set()`` (a
    ``threading.Event``, the thread pool's ``CancelFlag``).
    """
    handler = task.handler
    ctx = StepContext(
        task.context,
        step=task.step,
        who=handler.who,
        run_id=task.run_id,
        outputs=handler.outputs,
        data_dir=task.data_dir,
        workdir=task.workdir,
        cancel_event=cancel_event,
        accumulates=getattr(handler, "accumulates", None) or frozenset(),
    )
    error = None
    extras: dict[str, Any] = {}
    code = 0  # what a scriptlet written as in the guide returned or exited with
    with measure() as figures, capture_status_line() as printed:
        try:
            returned = handler.execute(ctx, dict(task.params))
            if returned is not None:
                extras = _extras(task.step, returned)
        except SystemExit as exc:
            # As Python reads it: no code (``sys.exit()``) is 0, a message is printed and is 1.
            code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
            if code:
                reason = (f"scriptlet exited: {exc.code}" if isinstance(exc.code, str) and exc.code
                          else f"scriptlet exited with code {code}")
                error = error_record(task.step, reason, exit_code=code)
        except KeyboardInterrupt:
            raise  # Ctrl-C (SIGTERM in a worker process): it stops the run, not this step alone
        except BaseException as exc:  # noqa: BLE001 - a step's failure is data, not a crash
            # Whatever its class: a GeneratorExit or a BaseException of the scriptlet's own
            # would otherwise leave the harness, and on the inline executor end the run.
            error = error_from_exception(task.step, exc)
            if not isinstance(exc, ContextError) and "type" in error["details"]:
                error["details"]["where"] = _where(exc)
    if ctx.metrics:
        figures.extra.update(ctx.metrics)
    if error is None and type(extras) is not dict:
        code, extras = extras, {}
        error = error_record(task.step, f"scriptlet returned exit code {code}", exit_code=code)
    if printed.status is not None:
        error, extras = _adopt(task.step, printed, error, extras, code)
    if error is not None:
        return StepResult(task.step, STATUS_ERROR, error=error, metrics=figures.as_dict(), attempts=task.attempt)
    return StepResult(
        task.step, STATUS_OK, delta=ctx.delta, extras=extras,
        metrics=figures.as_dict(), attempts=task.attempt,
    )


def _adopt(step: str, printed: capture_status_line, error: dict | None, extras: dict, code: int) -> tuple:
    """``(error, extras)`` with the status line the scriptlet printed adopted into them.

    The line is adopted when the scriptlet's return value (or exit code) decided the
    outcome; when the step failed otherwise (an exception), the line is passed on as it was.
    """
    if error is not None and not code:
        printed.release()
        return error, extras
    adopted = adopt(step, printed.status or {}, exit_code=code)
    try:
        if code:
            return {k: json_safe(k, v, step=step) for k, v in adopted.items()}, extras
        return None, {**_extras(step, adopted), **extras}
    except ContextError as exc:
        return error_from_exception(step, exc), extras


def _extras(step: str, returned: Any) -> Any:
    """Validate what ``run`` returned: nothing, extra JSON-line fields, or a legacy exit code."""
    if returned is None or returned == 0 and not isinstance(returned, bool):
        return {}
    if isinstance(returned, int) and not isinstance(returned, bool):
        return returned
    if not isinstance(returned, dict):
        raise ContextError(
            f"step {step!r}: run() must return None or a dict of extra fields, got {type(returned).__name__}"
        )
    clash = RESERVED_FIELDS.intersection(returned)
    if clash:
        raise ContextError(f"step {step!r}: run() may not set the framework's fields {sorted(clash)}")
    return {key: json_safe(key, value, step=step) for key, value in returned.items()}


def _where(exc: BaseException) -> str:
    """The innermost frame of ``exc`` as ``file:line in function``."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"{last.filename}:{last.lineno} in {last.name}"
