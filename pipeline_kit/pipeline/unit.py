"""One command's unit of work: its state database, Docker engines and HAProxy, each opened
at most once, and closed together when the command ends."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING

from pipeline_kit.config_types import Settings
from pipeline_kit.model.actions import Context
from pipeline_kit.store.database import Store, resolve_url

if TYPE_CHECKING:
    from pipeline_kit.pipeline.rollout.flight import Rig
    from pipeline_kit.pipeline.rollout.ports import Checked, Ledger, Observe, Router, Runtime
    from pipeline_kit.runtime.engine import Engines


def actor(environ: Mapping[str, str] | None = None) -> str:
    """Who acts: ``$GITHUB_ACTOR``, ``$BUILD_USER_ID`` (Jenkins), ``$USER``, else the login."""
    env = os.environ if environ is None else environ
    for key in ("GITHUB_ACTOR", "BUILD_USER_ID", "USER"):
        if env.get(key):
            return env[key][:200]
    try:
        return getpass.getuser()[:200]
    except (OSError, KeyError):
        return "unknown"


class Unit:
    """What a command opens, opened on first use and once only."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None
        self._engines: Engines | None = None
        self._parts: tuple[Ledger, Runtime, Router] | None = None  # opened once

    @property
    def store(self) -> Store:
        if self._store is None:
            url = resolve_url(self.settings.database, self.settings.home)
            self._store = Store(url, self.settings.lock_timeout)
        return self._store

    @property
    def engines(self) -> Engines:
        if self._engines is None:
            from dataclasses import replace

            from pipeline_kit.runtime.engine import Engines

            runtime = self.settings.runtime
            if runtime.kind == "swarm" and runtime.swarm is not None:
                runtime = replace(runtime, hosts=(runtime.swarm,))  # the manager only
            self._engines = Engines(runtime)
        return self._engines

    def context(self) -> Context:
        from pipeline_kit.pipeline.effective import digests

        config_of = digests(self.settings)
        return Context(self.settings.policy, datetime.now(UTC), actor(), config_of=config_of)

    def rig(
        self,
        note: Callable[[str], None] = lambda _line: None,
        observe: Observe | None = None,
        checked: Callable[[Checked], None] = lambda _check: None,
    ) -> Rig:
        """The rollout's ledger, runtime and router for this command's settings."""
        from pipeline_kit.pipeline.rollout.flight import Rig
        from pipeline_kit.pipeline.rollout.sql import SqlLedger

        if self._parts is None:
            self._parts = (SqlLedger(self.store), self._runtime(), self._router())
        ledger, runtime, router = self._parts
        return Rig(
            self.settings, ledger, runtime, router, self.context, note, observe, checked=checked
        )

    def _runtime(self) -> Runtime:
        if self.settings.runtime.kind == "docker":
            from pipeline_kit.pipeline.rollout.docker import DockerRuntime

            return DockerRuntime(self.settings, self.engines)
        if self.settings.runtime.kind == "swarm":
            from pipeline_kit.pipeline.rollout.swarm import SwarmRuntime

            return SwarmRuntime(self.settings, self.engines)
        from pipeline_kit.pipeline.rollout.none import NoRuntime

        return NoRuntime()

    def _router(self) -> Router:
        if self.settings.lb.enabled:
            from pipeline_kit.pipeline.rollout.haproxy import HAProxyRouter

            return HAProxyRouter(self.settings)
        from pipeline_kit.pipeline.rollout.none import NoRouter

        return NoRouter()

    def close(self) -> None:
        if self._engines is not None:
            self._engines.close()
        if self._store is not None:
            self._store.dispose()

    def __enter__(self) -> Unit:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
