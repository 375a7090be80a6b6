"""Routing: the HAProxy in front of the endpoints follows the state.

A promotion validates the config of its new state before it commits (a config HAProxy
rejects changes nothing), switches HAProxy after the commit (a seamless reload: no
connection is refused) and waits for the connections of the previous generation to finish
before the old containers are removed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipeline_kit.config_types import Settings
from pipeline_kit.lb.haproxy import HAProxy, ServerStat
from pipeline_kit.lb.render import Canary, render, upstream_ports
from pipeline_kit.model.errors import ExternalFailure
from pipeline_kit.model.items import State
from pipeline_kit.store.database import Store

__all__ = [
    "config_of",
    "current",
    "enabled",
    "merged",
    "prepare",
    "status",
    "switch",
    "upstream_ports",
]


def enabled(settings: Settings) -> bool:
    return settings.lb.enabled


def haproxy(settings: Settings) -> HAProxy:
    """The HAProxy of this environment (its folder created on first use)."""
    try:
        settings.lb.folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExternalFailure(f"cannot create {settings.lb.folder}: {exc.strerror}") from None
    return HAProxy(settings.lb.folder, _binary(settings.lb.binary))


def _binary(name: str) -> str:
    """``haproxy`` from PATH, else Debian's /usr/sbin (not on a non-root PATH)."""
    if "/" in name or shutil.which(name):
        return name
    fallback = Path("/usr/sbin") / name
    return str(fallback) if fallback.is_file() else name


def config_of(settings: Settings, state: State, canaries: Iterable[Canary] = ()) -> str:
    return render(state, settings.policy, settings.lb, settings.runtime.health_path, canaries)


def merged(full: State, before: State, after: State) -> State:
    """``full`` with a scoped change applied: ``before`` → ``after`` (both scoped loads)."""

    def merge(items: dict[Any, Any], old: dict[Any, Any], new: dict[Any, Any]) -> dict[Any, Any]:
        out = {k: v for k, v in items.items() if k not in old}
        out.update(new)
        return out

    return replace(
        full,
        services=merge(full.services, before.services, after.services),
        endpoints=merge(full.endpoints, before.endpoints, after.endpoints),
        trees=merge(full.trees, before.trees, after.trees),
    )


def prepare(settings: Settings, state: State, canaries: Iterable[Canary] = ()) -> str:
    """The config of the whole ``state``, validated by ``haproxy -c``.

    Nothing is replaced: HAProxy keeps running what it runs.
    """
    text = config_of(settings, state, canaries)
    haproxy(settings).validate(text)
    return text


def current(settings: Settings, store: Store) -> tuple[State, list[Canary]]:
    """The whole state and its running canaries: what HAProxy should serve now."""
    from pipeline_kit.pipeline.canary import active

    with store.read("routing") as session:
        return session.load_all(), active(session)


@dataclass(frozen=True)
class Switched:
    changed: bool  # False: HAProxy already ran this config
    drained: bool  # the previous generation's connections finished within lb.drain


def switch(settings: Settings, text: str) -> Switched:
    """Make HAProxy run ``text`` (start it, or reload seamlessly) and drain the old workers."""
    proxy = haproxy(settings)
    changed = proxy.apply(text)
    drained = proxy.drain(settings.lb.drain) if changed else True
    return Switched(changed, drained)


def status(settings: Settings) -> list[ServerStat]:
    proxy = haproxy(settings)
    if not proxy.running():
        raise ExternalFailure(
            f"HAProxy is not running in {settings.lb.folder}: start it with 'pipeline-kit lb apply'"
        )
    return proxy.stats()
