"""Running one scriptlet outside a recipe: ``python -m pkg.module`` and ``orch step run``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Mapping, TextIO

from orchestrator_core.run.execution import execute_task
from orchestrator_core.model import StepResult, StepTask
from orchestrator_core.scriptlet.handler import PythonHandler


def run_scriptlet(
    cls: type,
    params: Mapping[str, Any] | None = None,
    context: Mapping[str, Any] | None = None,
    *,
    data_dir: str | Path = "Data",
    workdir: str | Path | None = None,
) -> StepResult:
    """Run scriptlet class ``cls`` once on ``context``; its writes are in ``result.delta``."""
    handler = PythonHandler(cls)
    workdir = Path(workdir or Path.cwd()).resolve()
    task = StepTask(
        step=handler.who, run_id="standalone", handler=handler, params=dict(params or {}),
        context=dict(context or {}), workdir=str(workdir), data_dir=str((workdir / data_dir).resolve()),
    )
    with contextlib.redirect_stdout(sys.stderr):
        return execute_task(task)


def print_line(result: StepResult, stream: TextIO | None = None) -> int:
    """Print the step's JSON line; return the exit code it stands for."""
    out = stream or sys.stdout
    out.write(result.json_line())
    out.flush()
    return 0 if result.ok else int((result.error or {}).get("exit_code") or 1)


def parse_json_object(text: str, what: str) -> dict[str, Any]:
    """Parse a JSON object given on the command line, or raise ``ValueError`` saying which."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def main(cls: type, argv: list[str] | None = None) -> None:
    """Command line of ``python -m <scriptlet module> --params '{...}' [--context '{...}']``."""
    parser = argparse.ArgumentParser(description=(cls.__doc__ or cls.__name__).strip().splitlines()[0])
    parser.add_argument("--params", default="{}", help="params as a JSON object")
    parser.add_argument("--context", default="{}", help="initial context as a JSON object")
    parser.add_argument("--data-dir", default="Data", help="where artifacts go (default: Data)")
    args = parser.parse_args(argv)
    try:
        params = parse_json_object(args.params, "--params")
        context = parse_json_object(args.context, "--context")
    except ValueError as exc:
        parser.error(str(exc))
    result = run_scriptlet(cls, params, context, data_dir=args.data_dir)
    for write in result.delta:
        print(f"{write.key} = {json.dumps(write.value)[:200]}", file=sys.stderr)
    sys.exit(print_line(result))
