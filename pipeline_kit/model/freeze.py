"""Freezes: configured windows (absolute, or whole weekdays in a time zone) and immediate
holds, evaluated against a ``now`` passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline_kit.model.errors import InvalidInput

if TYPE_CHECKING:
    from pipeline_kit.model.items import State
    from pipeline_kit.model.policy import Policy

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Helsinki``), or InvalidInput."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {name!r}: use an IANA name such as 'UTC'") from None


def weekday(name: str) -> int:
    """``"sat"`` → 5; ``"Saturday"`` is accepted too."""
    key = name.strip().lower()[:3]
    if key not in WEEKDAYS or name.strip().lower() not in (key, _FULL[WEEKDAYS.index(key)]):
        raise InvalidInput(f"unknown weekday {name!r}: use {', '.join(WEEKDAYS)}")
    return WEEKDAYS.index(key)


_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class Window:
    """A configured freeze of some stages: from ``start`` until ``end`` (UTC), or on the
    whole ``weekly`` days (0 = Monday) in ``timezone``."""

    stages: tuple[str, ...]
    reason: str
    start: datetime | None = None
    end: datetime | None = None
    weekly: tuple[int, ...] = ()
    timezone: str = "UTC"

    def covering(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence of this window that covers ``now`` (start, end), if any."""
        if self.weekly:
            tz = zone(self.timezone)
            day = now.astimezone(tz).date()
            if day.weekday() not in self.weekly:
                return None
            first = day
            for _ in range(6):
                if (first - timedelta(days=1)).weekday() not in self.weekly:
                    break
                first -= timedelta(days=1)
            last = day
            for _ in range(6):
                if (last + timedelta(days=1)).weekday() not in self.weekly:
                    break
                last += timedelta(days=1)
            start = datetime.combine(first, time(0), tzinfo=tz)
            return start, datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
        if self.start is not None and self.end is not None and self.start <= now < self.end:
            return self.start, self.end
        return None

    def upcoming(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The next occurrence that starts after ``now`` (None when there is none)."""
        if self.weekly:
            tz = zone(self.timezone)
            day = now.astimezone(tz).date()
            for ahead in range(1, 8):
                moment = datetime.combine(day + timedelta(days=ahead), time(0), tzinfo=tz)
                found = self.covering(moment)
                if found is not None and found[0] > now:
                    return found
            return None
        if self.start is not None and self.end is not None and now < self.start:
            return self.start, self.end
        return None

    def describe(self) -> str:
        """When it applies, in words: ``sat, sun (Europe/Helsinki)`` or ``from … until …``."""
        if self.weekly:
            return f"every {', '.join(WEEKDAYS[d] for d in self.weekly)} ({self.timezone})"
        return f"from {moment_text(self.start)} until {moment_text(self.end)}"


@dataclass(frozen=True, slots=True)
class Frozen:
    """Why a stage is frozen now, and until when (None: until someone unfreezes it)."""

    stage: str
    reason: str
    until: datetime | None
    timezone: str = "UTC"
    by: str | None = None  # who froze it, for an immediate freeze
    service: str | None = None  # the one service an immediate freeze is about
    index: int | None = None  # the configured window's index in [[freeze]]

    @property
    def message(self) -> str:
        if self.by is not None:
            return f"{self.reason} (frozen by {self.by} until unfrozen)"
        return f"{self.reason} until {moment_text(self.until, self.timezone)}"


def moment_text(moment: datetime | None, timezone: str = "UTC") -> str:
    """``2027-01-04`` for a midnight, else ``2027-01-04 12:30``; the zone unless UTC."""
    if moment is None:
        return "-"
    local = moment.astimezone(zone(timezone))
    text = local.strftime("%Y-%m-%d" if local.time() == time(0) else "%Y-%m-%d %H:%M")
    return text if timezone == "UTC" else f"{text} {timezone}"


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date-time with an offset (``2026-12-20T00:00:00Z``), as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        example = "2026-12-20T00:00:00Z"
        raise InvalidInput(f"expected a date-time such as {example}, not {text!r}") from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{text!r} has no time zone: end it with Z or +HH:MM")
    return moment.astimezone(UTC)


def frozen(
    state: State, policy: Policy, service: str | None, position: int, now: datetime
) -> list[Frozen]:
    """Every freeze on the stage at ``position`` now: immediate ones (of ``service`` or of
    every service; with ``service`` None, of any), then the configured windows."""
    if not 0 <= position < len(policy.stages):
        return []
    stage = policy.stages[position]
    out = [
        Frozen(stage, h.reason, None, by=h.by, service=h.service)
        for h in state.holds
        if h.position == position and (h.service is None or service in (None, h.service))
    ]
    for index, window in enumerate(policy.freezes):
        found = window.covering(now) if stage in window.stages else None
        if found is not None:
            out.append(Frozen(stage, window.reason, found[1], window.timezone, index=index))
    return out
