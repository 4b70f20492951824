"""Running a shell step: the script's inputs, its status line, and its writes to the context.

The script gets its params twice, as ``--params JSON`` (the first two arguments,
before the recipe's ``args``) and in ``ORCH_PARAMS``; the context keys the step lists
in ``inputs`` as a JSON object in ``ORCH_CTX``; the working and data directories in
``ORCH_WORKDIR`` and ``ORCH_DATA_DIR``. What it writes comes back in the ``ctx`` of its
status line and becomes the step's delta, attributed to the script, like a Python
scriptlet's ``ctx.set``. Every failure is a :class:`ScriptletError` with an
``error_type``, so the framework reports it as the guide's error JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator_core.errors import ScriptletError

from .contract import ContractViolation, StatusLine, excerpt, parse_status_line
from .running import ScriptOutcome, run_script

# error_type of each way a shell step fails.
CANNOT_START = "cannot_start"
CONTRACT = "contract_violation"
NONZERO_EXIT = "nonzero_exit"
SCRIPT_ERROR = "script_error"
TIMEOUT = "timeout"
CANCELLED = "cancelled"

TIMEOUT_EXIT_CODE = 124  # as the engine reports timeouts (and as timeout(1) does)
# Largest JSON text passed in one environment variable or argument (Linux refuses
# single strings over 128 KiB); larger inputs belong in a file whose path is passed.
ARG_LIMIT = 120 * 1024


def _json(value: Any) -> str:
    """``value`` as JSON for a script: UTF-8, or ASCII (``\\uXXXX``) when it holds a lone surrogate.

    A file name that is not UTF-8 reaches Python with lone surrogates (PEP 383), and a
    step may write one to the context; as UTF-8 such a text cannot be passed at all.
    Escaped, it is the same JSON value, and a Python script gets the name back exactly.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text


@dataclass(frozen=True)
class ShellHandler:
    """Runs one script; plain data, so it pickles to a worker process unchanged."""

    script: str  # absolute path
    reference: str  # ``script:`` as the recipe gives it
    args: tuple[str, ...] = ()
    input_keys: tuple[str, ...] = ()
    declared_outputs: tuple[str, ...] | None = None
    timeout: float | None = None

    parallelizable = False
    requires_process = False
    # The handler stops the script at ``timeout`` itself and reports its exit status and
    # last stderr lines; the engine's own deadline is only a backstop.
    enforces_timeout = True

    @property
    def identity(self) -> str:
        return "shell:" + " ".join([self.reference, *self.args])

    @property
    def who(self) -> str:
        """Whom the step's writes are attributed to: the script's file name."""
        return Path(self.script).name

    @property
    def outputs(self) -> frozenset[str] | None:
        return frozenset(self.declared_outputs) if self.declared_outputs is not None else None

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.input_keys

    def source_digest(self) -> str:
        """Digest of the script's bytes and its arguments: editing either re-runs a cached step."""
        digest = hashlib.sha256()
        try:
            digest.update(Path(self.script).read_bytes())
        except OSError:
            digest.update(os.fsencode(self.script))  # the path's bytes, whatever their encoding
        digest.update(_json(list(self.args)).encode())
        return digest.hexdigest()

    # -- running -------------------------------------------------------------------------------
    def execute(self, ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
        params_json = _json(params)
        inputs_json = _json({key: ctx.get(key) for key in self.input_keys if key in ctx})
        for what, text in (("params", params_json), ("context inputs", inputs_json)):
            if len(text.encode()) > ARG_LIMIT:
                raise ScriptletError(f"the step's {what} are too large to pass to a script "
                                     f"({len(text.encode())} bytes; at most {ARG_LIMIT})",
                                     details={"script": self.script}, error_type=CANNOT_START)
        env = {
            **os.environ,
            "ORCH_PARAMS": params_json,
            "ORCH_CTX": inputs_json,
            "ORCH_WORKDIR": str(ctx.workdir),
            "ORCH_DATA_DIR": str(ctx.data_dir),
            "ORCH_STEP": ctx.step,
            "ORCH_RUN_ID": str(ctx.run_id or ""),
        }
        argv = [self.script, "--params", params_json, *self.args]
        try:
            outcome = run_script(argv, env=env, cwd=str(ctx.workdir), label=ctx.step, timeout=self.timeout,
                                 cancelled=lambda: ctx.cancelled)
        except OSError as exc:
            raise ScriptletError(f"cannot start script {self.script}: {_start_problem(exc)}",
                                 details={"script": self.script, "errno": exc.errno}, error_type=CANNOT_START) from None
        except (ValueError, UnicodeError) as exc:  # an argument or variable the OS cannot take (a NUL...)
            raise ScriptletError(f"cannot start script {self.script}: {exc}",
                                 details={"script": self.script}, error_type=CANNOT_START) from None
        if outcome.cpu_ms is not None:
            ctx.metrics.update(cpu_ms=outcome.cpu_ms, peak_rss_kb=outcome.peak_rss_kb)
        line = self._status_line(outcome)
        return self._apply(ctx, line)

    def _status_line(self, outcome: ScriptOutcome) -> StatusLine:
        """The script's status line, or the error its ending calls for."""
        details: dict[str, Any] = {"script": self.script, "exit_code": outcome.returncode,
                                   "stderr_tail": outcome.stderr_tail}
        if outcome.returncode < 0:
            details["signal"] = _signal_name(-outcome.returncode)
        if outcome.cancelled:
            raise ScriptletError("step cancelled; the script was stopped", details=details, exit_code=130,
                                 error_type=CANCELLED)
        if outcome.timed_out:
            raise ScriptletError(f"step timed out after {self.timeout:g} s",
                                 details={"timeout_s": self.timeout, **details},
                                 exit_code=TIMEOUT_EXIT_CODE, error_type=TIMEOUT)
        if outcome.stdout_truncated:
            violation: ContractViolation | None = ContractViolation("stdout is larger than the 16 MiB a status "
                                                                    "line may take; write large data to a file")
            line = None
        else:
            try:
                line, violation = parse_status_line(outcome.stdout), None
            except ContractViolation as exc:
                line, violation = None, exc
        if outcome.returncode != 0:
            reason = _ending(outcome.returncode)
            if line is not None and not line.ok:
                reason, details = line.reason, {**line.details, **details}
            elif violation is not None and outcome.stdout.strip():
                details["stdout_tail"] = excerpt(outcome.stdout.decode("utf-8", "replace").splitlines())
            exit_code = outcome.returncode if outcome.returncode > 0 else 128 - outcome.returncode
            raise ScriptletError(reason, details=details, exit_code=exit_code, error_type=NONZERO_EXIT)
        if violation is not None:
            raise ScriptletError(f"the script broke the status-line contract: {violation.reason}",
                                 details={**violation.details, **details}, error_type=CONTRACT)
        assert line is not None
        if not line.ok:
            raise ScriptletError(line.reason, details={**line.details, **details},
                                 exit_code=line.exit_code or 1, error_type=SCRIPT_ERROR)
        undeclared = [key for key in line.outputs if key not in (self.outputs or line.outputs)]
        if undeclared:
            raise ScriptletError(f"the script wrote undeclared key {undeclared[0]!r} (the step's outputs: "
                                 f"{', '.join(self.declared_outputs or ()) or 'none'})",
                                 details={"undeclared": undeclared, **details}, error_type=CONTRACT)
        return line

    def _apply(self, ctx: Any, line: StatusLine) -> dict[str, Any]:
        """Write the line's ``ctx`` as the step's delta; return its extra fields (``artifact``...)."""
        for key in line.outputs:
            ctx.set(key, line.ctx[key], who=self.who)
        return line.extras


def _ending(returncode: int) -> str:
    if returncode < 0:
        return f"script was killed by signal {_signal_name(-returncode)}"
    return f"script exited with code {returncode}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _start_problem(exc: OSError) -> str:
    import errno

    if exc.errno == errno.ENOEXEC:
        return "it is not a program the system can run (does it start with a '#!' line, such as '#!/bin/sh'?)"
    if exc.errno == errno.EACCES:
        return "permission denied (is it executable? chmod +x)"
    return exc.strerror or str(exc)
