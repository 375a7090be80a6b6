"""``lb render|apply|status``: the HAProxy in front of the endpoints, from the whole state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline_kit.config_types import Settings
from pipeline_kit.lb.stats import ServerStat
from pipeline_kit.pipeline import routing
from pipeline_kit.pipeline.unit import Unit
from pipeline_kit.store import journal, reservations


def render(settings: Settings) -> str:
    """The config of the whole state with its running canaries (same state, same bytes)."""
    with Unit(settings) as unit:
        state, canaries = routing.current(unit.store)
    return routing.config_of(settings, state, canaries)


@dataclass(frozen=True)
class Applied:
    verdict: str  # started, reloaded, or already runs this config
    path: Path
    drained: bool


def apply(settings: Settings) -> Applied:
    """Under the routing lock (as a promotion's switch), validate the config of the whole
    committed state, write it, start or reload HAProxy; then drain."""
    proxy = routing.haproxy(settings)
    with Unit(settings) as unit, reservations.routing(unit.store, "lb apply") as session:
        state, canaries = session.load_all(), routing.canaries(journal.entries(session))
        text = routing.config_of(settings, state, canaries)
        routing.refuse_taken(settings, routing.frontend_ports(settings, state))
        proxy.validate(text)
        was_running = proxy.running()
        changed = proxy.apply(text, validated=True)
    if not changed:
        return Applied("already runs this config", proxy.config_path, True)
    drained = proxy.drain(settings.lb.drain)
    return Applied("reloaded" if was_running else "started", proxy.config_path, drained)


def status(settings: Settings) -> list[ServerStat]:
    return routing.status(settings)
