"""``python -m orchestrator_core ...``: the ``orch`` command, for when its script is not on PATH."""

from orchestrator_core.cli import main

if __name__ == "__main__":
    main()
