"""Delivery metrics (DORA) from the history: pure functions, no I/O.

- deployments: history entries that changed the version of a service in the most trusted
  stage by a promotion (``promote``, ``release``, ``replace``); their count per day is the
  deployment frequency;
- lead time: from the commit a version was built from (its image's ``created`` label) to
  the promotion that brought it into the most trusted stage; the median is reported;
- change failure rate: rollbacks in the most trusted stage ÷ deployments into it;
- time to restore: from the deployment of the version that was rolled back to the
  rollback; the median is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

WINDOWS = (7, 30, 90)  # the windows the dashboard shows, in days
DEPLOYING = ("promote", "release", "replace")
CommitTime = Callable[[str, str], datetime | None]  # (service, version) → commit time


@dataclass(frozen=True, slots=True)
class Event:
    """A change of the most trusted stage of one service: a deployment or a rollback."""

    service: str
    kind: str  # "deploy" | "rollback"
    at: datetime
    old: str  # the version(s) there before, joined by "|"
    new: str  # the version(s) there after


@dataclass(frozen=True, slots=True)
class Metrics:
    """The four figures over one window, for one service or all of them."""

    days: int
    deployments: int
    per_day: float
    lead_time: float | None  # median seconds, None when no commit time is known
    lead_samples: int
    rollbacks: int
    failure_rate: float | None  # None without deployments
    restore: float | None  # median seconds, None without rollbacks matched to a deployment

    def as_json(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "deployments": self.deployments,
            "deployments_per_day": self.per_day,
            "lead_time_seconds": self.lead_time,
            "lead_time_samples": self.lead_samples,
            "rollbacks": self.rollbacks,
            "change_failure_rate": self.failure_rate,
            "time_to_restore_seconds": self.restore,
        }


def _versions(changes: Mapping[str, Any], side: str, stage: str) -> str:
    values = changes.get(side, {}).get(stage) or []
    return "|".join(sorted(set(values)))


def events(history: Iterable[Mapping[str, Any]], stage: str) -> list[Event]:
    """Deployments into and rollbacks in ``stage``, oldest first, per service touched."""
    out: list[Event] = []
    for entry in history:
        action = str(entry["action"])
        if action not in (*DEPLOYING, "rollback"):
            continue
        at = datetime.fromisoformat(str(entry["at"]))
        for service, change in sorted(entry["changes"].items()):
            old = _versions(change, "before", stage)
            new = _versions(change, "after", stage)
            if old == new or not new:
                continue
            out.append(
                Event(service, "rollback" if action == "rollback" else "deploy", at, old, new)
            )
    return out


def _lead_times(deploys: Sequence[Event], commit_time: CommitTime) -> list[float]:
    out = []
    for d in deploys:
        created = commit_time(d.service, d.new.split("|")[0])
        if created is not None:
            out.append((d.at - created).total_seconds())
    return out


def _restore_times(all_events: Sequence[Event], rollbacks: Sequence[Event]) -> list[float]:
    """Per rollback: the time since the deployment that brought the rolled-back version."""
    if not rollbacks:
        return []
    deploys: dict[tuple[str, str], list[datetime]] = {}
    for e in all_events:
        if e.kind == "deploy":
            deploys.setdefault((e.service, e.new), []).append(e.at)
    out = []
    for r in rollbacks:
        brought = [at for at in deploys.get((r.service, r.old), ()) if at <= r.at]
        if brought:
            out.append((r.at - max(brought)).total_seconds())
    return out


def compute(
    all_events: Sequence[Event],
    now: datetime,
    days: int,
    commit_time: CommitTime,
    service: str | None = None,
) -> Metrics:
    """The metrics of ``service`` (None: every service) over the ``days`` before ``now``."""
    start = now - timedelta(days=days)
    mine = [e for e in all_events if service is None or e.service == service]
    inside = [e for e in mine if start < e.at <= now]
    deploys = [e for e in inside if e.kind == "deploy"]
    rollbacks = [e for e in inside if e.kind == "rollback"]
    leads = _lead_times(deploys, commit_time)
    restores = _restore_times(mine, rollbacks)
    return Metrics(
        days=days,
        deployments=len(deploys),
        per_day=len(deploys) / days,
        lead_time=median(leads) if leads else None,
        lead_samples=len(leads),
        rollbacks=len(rollbacks),
        failure_rate=len(rollbacks) / len(deploys) if deploys else None,
        restore=median(restores) if restores else None,
    )


def duration_text(seconds: float | None) -> str:
    """``2d 3h``, ``4h 5m``, ``6m 7s``, ``8s``; a dash for None."""
    if seconds is None:
        return "–"
    whole = round(seconds)
    sign = "-" if whole < 0 else ""
    whole = abs(whole)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes}m"
    if minutes:
        return f"{sign}{minutes}m {secs}s"
    return f"{sign}{secs}s"


def rate_text(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f}%"
