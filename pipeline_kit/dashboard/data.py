"""What the dashboard shows, as values: its input and the board's cells. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pipeline_kit.metrics import duration_text
from pipeline_kit.model.items import Service, State
from pipeline_kit.model.policy import Policy
from pipeline_kit.model.versions import is_prerelease


@dataclass(frozen=True, slots=True)
class Image:
    """What an image's OCI labels say about the commit it was built from."""

    revision: str | None = None
    created: datetime | None = None
    source: str | None = None  # the repository URL, when known

    def commit_url(self) -> str | None:
        """The web page of the commit, for an https repository URL."""
        if not self.revision or not self.source or not self.source.startswith("https://"):
            return None
        base = self.source.removesuffix("/").removesuffix(".git")
        return f"{base}/commit/{self.revision}"


@dataclass(frozen=True, slots=True)
class Health:
    """The last ``verify`` result of one container."""

    status: str  # healthy | unhealthy | missing | wrong-version | config
    detail: str
    at: str


@dataclass(frozen=True)
class SiteData:
    """Everything one dashboard is made from; the same data makes the same bytes."""

    state: State
    policy: Policy
    history: Sequence[Mapping[str, Any]]  # oldest first
    now: datetime
    canaries: Mapping[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    health: Mapping[str, Health] = field(default_factory=dict)  # container id → health
    images: Mapping[tuple[str, str], Image] = field(default_factory=dict)

    def image(self, service: str, version: str) -> Image:
        return self.images.get((service, version), Image())

    def commit_time(self, service: str, version: str) -> datetime | None:
        return self.image(service, version).created

    def height(self) -> int:
        heights = (s.height for s in self.state.services.values())
        return max([len(self.policy.stages), *heights])


@dataclass(frozen=True, slots=True)
class Cell:
    """One service in one stage, as the board shows it."""

    stage: str
    versions: tuple[str, ...]  # distinct versions over the stacks (one when they agree)
    since: str  # how long it has been there, e.g. "3d 4h"
    gates: tuple[str, ...]  # "approval pending for v2 (from qa)", "soak 2h 0m left", ...
    weights: tuple[tuple[str, int], ...]  # (version, percent) while a canary runs
    health: str  # healthy | unhealthy | unknown | ...
    warn: bool  # something needs attention (pending approval, unhealthy, rejected)


def _since(service: Service, position: int, now: datetime) -> timedelta | None:
    times = [s.containers[position].entered for s in service.stacks if position < s.height]
    return now - min(times) if times else None


def _versions_at(service: Service, position: int) -> tuple[str, ...]:
    found = {s.containers[position].version for s in service.stacks if position < s.height}
    return tuple(sorted(found))


def _approver(state: State, service: str, version: str, position: int) -> str | None:
    for a in state.approvals:
        if a.service == service and a.position == position and a.version == version:
            return a.by
    return None


def _gates(data: SiteData, service: Service, position: int, held: timedelta | None) -> list[str]:
    policy, state = data.policy, data.state
    gate = policy.gate(position)
    versions = _versions_at(service, position)
    out: list[str] = []
    if gate.approval:
        out.append("approval required")
        for v in versions:
            by = _approver(state, service.name, v, position)
            if by:
                out.append(f"{v} approved by {by}")
        below = _versions_at(service, position + 1)
        for v in below:
            if v in versions:
                continue
            by = _approver(state, service.name, v, position)
            below_stage = policy.stage_name(position + 1)
            out.append(
                f"{v} approved by {by}" if by else f"approval pending for {v} (from {below_stage})"
            )
    if gate.soak > timedelta(0) and held is not None:
        left = gate.soak - held
        out.append(
            f"soak {duration_text(left.total_seconds())} left" if left > timedelta(0) else "soaked"
        )
    if not gate.prereleases:
        out.append("no pre-releases")
    out += [f"{v} is a pre-release" for v in versions if is_prerelease(v)]
    out += [f"{v} rejected" for v in versions if state.is_rejected(service.name, v)]
    return out


def _health(data: SiteData, service: Service, position: int) -> str:
    found = [
        data.health.get(s.containers[position].id) for s in service.stacks if position < s.height
    ]
    known = [h.status for h in found if h is not None]
    if not known:
        return "unknown"
    bad = sorted({k for k in known if k != "healthy"})
    if bad:
        return ", ".join(bad)
    return "healthy" if len(known) == len(found) else "healthy (some unknown)"


def cell(data: SiteData, service: Service, position: int) -> Cell:
    """The board's cell of ``service`` at ``position``."""
    versions = _versions_at(service, position)
    held = _since(service, position, data.now)
    gates = tuple(_gates(data, service, position, held))
    canary = data.canaries.get((service.name, position))
    weights: tuple[tuple[str, int], ...] = ()
    if canary is not None:
        incoming, percent = canary
        weights = (*((v, 100 - percent) for v in versions), (incoming, percent))
    health = _health(data, service, position) if versions else "unknown"
    warn = any(g.startswith("approval pending") or g.endswith("rejected") for g in gates)
    warn = warn or health not in ("healthy", "unknown")
    return Cell(
        data.policy.stage_name(position),
        versions,
        duration_text(held.total_seconds()) if held is not None else "–",
        gates,
        weights,
        health,
        warn,
    )
