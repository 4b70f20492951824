"""The object every command gets from the ``orch`` group: the registry and the session, built on first use.

Click-free, so the plain path of ``orch run`` (:mod:`orchestrator_core.cli.plain_run`)
uses the same holder as the click commands do.
"""

from __future__ import annotations

from typing import Any

from orchestrator_core.cli.exit_status import say
from orchestrator_core.plugin.manager import OrchPluginManager


class SessionHolder:
    """What the group passes to its commands; builds the registry and the session on first use.

    The registry needs no configuration (``orch run`` reads it to offer the options
    plugins declare); the session is built once, from the ``Config`` the command made
    of its options, so ``orch_configure`` sees the settings the command really uses.
    """

    def __init__(self, pm: OrchPluginManager, *, traceback: bool = False):
        self.pm = pm
        self.traceback = traceback
        self._session: Any = None
        self._registry: Any = None

    def registry(self) -> Any:
        if self._registry is None:
            from orchestrator_core.plugin.hooks import Hooks
            from orchestrator_core.plugin.registry import Registry

            self._registry = Registry(Hooks(self.pm))
            for problem in self._registry.problems:
                say(f"warning: {problem}")
        return self._registry

    def session(self, config: Any = None) -> Any:
        """The session, built with ``config`` (complete: it is read-only once the plugins saw it)."""
        if self._session is None:
            from orchestrator_core.run.session import Session

            self._session = Session(config, pm=self.pm, registry=self.registry())
        elif config is not None and config is not self._session.config:
            raise RuntimeError("the session is already configured; build the Config before the first session() call")
        return self._session
