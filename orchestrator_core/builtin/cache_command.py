"""``orch cache clear``: contributed by the built-in cache plugin, since it alone knows its stores.

Both stores of the one cache story go: the entries under ``<state dir>/cache/`` and
the guide's markers ``.cache/*.done`` under the working directory. After it, every
cacheable step runs on the next run, and ``orch why`` says the marker is gone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from orchestrator_core.cli.common import json_option, print_json, resolved_state_dir, state_dir_option


def cache_group(clear_entries: Callable[[Path], int]) -> click.Group:
    """The ``orch cache`` group; ``clear_entries`` empties the plugin's entry folder, returning how many."""

    @click.group()
    def cache() -> None:
        """The local cache of step results."""

    @cache.command("clear")
    @state_dir_option
    @json_option
    def cache_clear(state_dir: Path | None, as_json: bool) -> None:
        """Remove every cached step result and every .cache/*.done marker: cacheable steps run again."""
        from orchestrator_core.run.caching import MARKER_DIR, clear_markers
        from orchestrator_core.config import Config

        directory = resolved_state_dir(state_dir) / "cache"
        workdir = Config().workdir
        removed = clear_entries(directory)
        markers = clear_markers(workdir)
        if as_json:
            print_json({"directory": str(directory), "removed": removed, "markers_removed": markers,
                        "markers_directory": str(workdir / MARKER_DIR)})
        else:
            click.echo(f"removed {removed} cache entr{'y' if removed == 1 else 'ies'} from {directory} "
                       f"and {markers} marker{'' if markers == 1 else 's'} from {workdir / MARKER_DIR}")

    return cache
