"""``lb render|apply|status``: the HAProxy in front of the endpoints, from the whole state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline_kit.config_types import Settings
from pipeline_kit.lb.stats import ServerStat
from pipeline_kit.pipeline import routing
from pipeline_kit.pipeline.unit import Unit


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
    """Validate the config of the whole state, write it, start or reload HAProxy, drain."""
    text = render(settings)
    proxy = routing.haproxy(settings)
    proxy.validate(text)
    was_running = proxy.running()
    if not proxy.apply(text, validated=True):
        return Applied("already runs this config", proxy.config_path, True)
    drained = proxy.drain(settings.lb.drain)
    return Applied("reloaded" if was_running else "started", proxy.config_path, drained)


def status(settings: Settings) -> list[ServerStat]:
    return routing.status(settings)
