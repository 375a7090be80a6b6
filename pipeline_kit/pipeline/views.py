"""What the ``show`` commands read: services and endpoints by name or ``*`` pattern, history."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from pipeline_kit.config_types import Settings
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import Service, State
from pipeline_kit.pipeline.unit import Unit
from pipeline_kit.store.database import Scope
from pipeline_kit.store.journal import Kept


def _wild(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def matching(names: list[str], pattern: str, kind: str) -> list[str]:
    """The names ``pattern`` matches, sorted; an exact name that is unknown is bad input."""
    found = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern))
    if not found and not _wild(pattern):
        raise InvalidInput(f"unknown {kind} {pattern!r}: see 'pipeline-kit show {kind}s'")
    return found


def services(settings: Settings, pattern: str) -> list[Service]:
    """The services ``pattern`` names (one scoped read for an exact name)."""
    return services_around(settings, pattern)[0]


def services_around(settings: Settings, pattern: str) -> tuple[list[Service], State]:
    """The services ``pattern`` names, and the state around them (trees and endpoints)."""
    with Unit(settings) as unit, unit.store.read("show") as session:
        exact = None if _wild(pattern) else Scope(frozenset({pattern}))
        state = session.load_all() if exact is None else session.load(exact)
    found = [state.services[n] for n in matching(list(state.services), pattern, "service")]
    return found, state


@dataclass(frozen=True)
class Endpoints:
    """The endpoints a pattern names, the state around them, and the running canaries."""

    state: State
    names: list[str]
    canaries: dict[tuple[str, int], tuple[str, int]]  # (service, position) → (version, %)
    steps: dict[tuple[str, int], str] = field(default_factory=dict)  # → the ramp's step


def endpoints(settings: Settings, pattern: str) -> Endpoints:
    from pipeline_kit.pipeline.routing import canary_steps, running_canaries
    from pipeline_kit.store import journal

    with Unit(settings) as unit, unit.store.read("show") as session:
        state = session.load_all()
        entries = journal.entries(session)
    names = matching(list(state.endpoints), pattern, "endpoint")
    return Endpoints(state, names, running_canaries(entries), canary_steps(entries))


def standby(settings: Settings, names: list[str]) -> list[Kept]:
    """The standby containers of the services ``names``."""
    from pipeline_kit.store import journal

    with Unit(settings) as unit, unit.store.read("journal") as session:
        found = journal.entries(session, frozenset(names))
    return [k for e in found if e.phase == journal.STANDBY for k in e.kept if k.service in names]


def history(settings: Settings, service: str | None, limit: int) -> list[dict[str, object]]:
    with Unit(settings) as unit, unit.store.read("history") as session:
        return session.history(service, limit)
