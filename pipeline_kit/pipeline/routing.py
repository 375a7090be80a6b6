"""Routing: the HAProxy in front of the endpoints follows the state.

A promotion validates the config of its new state before it commits (a config HAProxy
rejects changes nothing), switches HAProxy after the commit (a seamless reload: no
connection is refused) and waits for the connections of the previous generation to finish
before the old containers are removed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipeline_kit.config_types import Settings
from pipeline_kit.errors import ExternalFailure
from pipeline_kit.lb import ports as listening
from pipeline_kit.lb.haproxy import HAProxy
from pipeline_kit.lb.render import Canary, render, upstream_ports
from pipeline_kit.lb.stats import ServerStat
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import State
from pipeline_kit.store import journal
from pipeline_kit.store.database import Store
from pipeline_kit.store.journal import CANARY, Entry


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
    paths = {d.name: d.health_path for d in settings.services if d.health_path is not None}
    return render(
        state, settings.policy, settings.lb, settings.runtime.health_path, canaries, paths
    )


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


def canaries(entries: Iterable[Entry], skip: str | None = None) -> list[Canary]:
    """The canaries running now (but the journal entry ``skip``), as HAProxy weights."""
    return [
        Canary(r.service, r.position, r.percent, {i.stack: i.address for i in r.incoming})
        for e in entries
        if e.phase == CANARY and e.id != skip
        for r in (e.canary,)
        if r is not None
    ]


def running_canaries(entries: Iterable[Entry]) -> dict[tuple[str, int], tuple[str, int]]:
    """(service, position) → (incoming version, percent) of every running canary."""
    return {
        (r.service, r.position): (r.incoming[0].version, r.percent)
        for e in entries
        if e.phase == CANARY
        for r in (e.canary,)
        if r is not None and r.incoming
    }


def canary_steps(entries: Iterable[Entry]) -> dict[tuple[str, int], str]:
    """(service, position) → the ramp step of every running canary, e.g. ``2/3 (10,25,50)``."""
    out = {}
    for e in entries:
        r = e.canary
        if e.phase == CANARY and r is not None:
            steps = r.ramp()
            shown = ",".join(f"{p}:pause" if pause else str(p) for p, pause in steps)
            out[(r.service, r.position)] = f"{r.step + 1}/{len(steps)} ({shown})"
    return out


def current(store: Store) -> tuple[State, list[Canary]]:
    """The whole state and its running canaries: what HAProxy should serve now."""
    with store.read("routing") as session:
        return session.load_all(), canaries(journal.entries(session))


def status(settings: Settings) -> list[ServerStat]:
    proxy = haproxy(settings)
    if not proxy.running():
        raise ExternalFailure(
            f"HAProxy is not running in {settings.lb.folder}: start it with 'pipeline-kit lb apply'"
        )
    return proxy.stats()


def frontend_ports(settings: Settings, state: State) -> list[int]:
    """Every port the config of ``state`` listens on: endpoints and tree edges."""
    edges = upstream_ports(state, settings.lb).values()
    return sorted({e.port for e in state.endpoints.values()} | set(edges))


def refuse_taken(settings: Settings, ports: Iterable[int]) -> None:
    """Bad input if another process than this environment's HAProxy listens on a port.

    HAProxy binds without ``SO_REUSEPORT`` (see ``lb.haproxy``), so such a port would make
    it fail to start or reload; with it, the other process would silently take part of the
    endpoint's traffic.
    """
    bind = settings.lb.bind
    ours = haproxy(settings).pids()
    taken = [
        f"{bind}:{port} ({listener.describe()})"
        for port in sorted(set(ports))
        for listener in listening.listeners(port, bind)
        if not listener.pids or not listener.pids <= ours
    ]
    if taken:
        raise InvalidInput(
            f"port already in use by another process: {'; '.join(taken)}; "
            "choose another port or stop that process"
        )
