"""The apply journal: which containers an apply in flight starts and stops.

A row is written (and committed) before the first container starts, set to ``committed``
in the transaction that commits the new state, and deleted once the containers that left
are removed. A row whose process is gone tells the next run what to undo or finish.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from pipeline_kit.store import codec
from pipeline_kit.store import tables as t
from pipeline_kit.store.database import Session

STARTING = "starting"
COMMITTED = "committed"
CANARY = "canary"  # started and healthy, part of a stage's traffic: waits for --continue/--abort
STANDBY = "standby"  # previous containers out of rotation until ``expires``: a rollback adopts them


@dataclass(frozen=True)
class Placed:
    """One container an apply starts or stops."""

    id: str
    service: str
    stack: int
    host: str
    version: str


@dataclass(frozen=True)
class Incoming:
    """A container that takes a canary's share of its stage's traffic."""

    stack: int
    address: str
    version: str


@dataclass(frozen=True)
class Kept:
    """A previous container kept running out of rotation (standby), where it served."""

    id: str
    service: str
    stack: int
    position: int
    host: str
    address: str
    version: str

    def placed(self) -> Placed:
        return Placed(self.id, self.service, self.stack, self.host, self.version)


@dataclass(frozen=True)
class Started:
    """A container a canary started, and the place its plan gives it."""

    id: str
    stack: int
    position: int
    address: str
    version: str


@dataclass(frozen=True)
class CanaryRecord:
    """A running canary: which stage, what share, the promotion it completes, its containers."""

    service: str
    position: int
    percent: int
    to: str  # the promotion's --to, as given
    version: str | None  # the promotion's version (None: the top one)
    incoming: tuple[Incoming, ...]
    starts: tuple[Started, ...]
    steps: tuple[tuple[int, bool], ...] = ()  # a ramp: (percent, pause after it) per step
    step: int = 0  # the ramp's current step

    def ramp(self) -> tuple[tuple[int, bool], ...]:
        """The steps (one step that pauses: a canary started without a ramp)."""
        return self.steps or ((self.percent, True),)

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "position": self.position,
            "percent": self.percent,
            "args": {"service": self.service, "to": self.to, "version": self.version},
            "incoming": [vars(i) for i in self.incoming],
            "starts": [vars(s) for s in self.starts],
            "steps": [list(s) for s in self.steps],
            "step": self.step,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CanaryRecord:
        args = data.get("args", {})
        version = args.get("version")
        return cls(
            str(data["service"]),
            int(data["position"]),
            int(data["percent"]),
            str(args.get("to", "")),
            None if version is None else str(version),
            tuple(
                Incoming(int(i["stack"]), str(i["address"]), str(i["version"]))
                for i in data.get("incoming", ())
            ),
            tuple(
                Started(
                    str(s["id"]),
                    int(s["stack"]),
                    int(s["position"]),
                    str(s["address"]),
                    str(s["version"]),
                )
                for s in data.get("starts", ())
            ),
            tuple((int(p), bool(w)) for p, w in data.get("steps", ())),
            int(data.get("step", 0)),
        )


@dataclass(frozen=True)
class Entry:
    """One apply in flight."""

    id: str
    services: tuple[str, ...]
    action: str
    phase: str
    owner: str
    pid: int
    started: datetime
    expires: datetime
    starts: tuple[Placed, ...]
    stops: tuple[Placed, ...]
    canary: CanaryRecord | None = None
    kept: tuple[Kept, ...] = ()  # a standby entry's containers

    def alive(self, now: datetime) -> bool:
        """Whether the process applying it may still be at work (a canary always is; a
        standby entry until its containers' time is up)."""
        if self.phase == CANARY:
            return True
        if self.phase == STANDBY:
            return now < self.expires
        if self.owner == socket.gethostname():
            if self.pid == os.getpid():
                return True
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
            return now < self.expires
        return now < self.expires

    def describe(self) -> str:
        names = ", ".join(self.services)
        if self.phase == STANDBY:
            return f"the standby containers of {names}"
        if self.phase == CANARY:
            return (
                f"the canary of {names}: 'pipeline-kit promote {names} --continue' "
                "completes it, --abort ends it"
            )
        return f"{self.action} of {names} (pid {self.pid} on {self.owner})"


def _placed(items: list[dict[str, object]]) -> tuple[Placed, ...]:
    return tuple(
        Placed(
            str(i["id"]), str(i["service"]), int(str(i["stack"])), str(i["host"]), str(i["version"])
        )
        for i in items
    )


def add(
    session: Session,
    services: list[str],
    action: str,
    starts: list[Placed],
    stops: list[Placed],
    now: datetime,
    lease: timedelta,
) -> Entry:
    entry = Entry(
        uuid.uuid4().hex,
        tuple(sorted(services)),
        action,
        STARTING,
        socket.gethostname()[:255],
        os.getpid(),
        now,
        now + lease,
        tuple(starts),
        tuple(stops),
    )
    operations = {
        "start": [vars(p) for p in entry.starts],
        "stop": [vars(p) for p in entry.stops],
    }
    session.conn.execute(
        insert(t.journal).values(
            id=entry.id,
            services="," + ",".join(entry.services) + ",",
            action=action[:40],
            phase=STARTING,
            owner=entry.owner,
            pid=entry.pid,
            started=codec.time_text(now),
            expires=codec.time_text(entry.expires),
            operations=json.dumps(operations, sort_keys=True),
        )
    )
    return entry


def entries(session: Session, services: frozenset[str] | None = None) -> list[Entry]:
    """Journal rows, those touching ``services`` when given, oldest first."""
    if session.empty:
        return []
    rows = session.conn.execute(select(t.journal).order_by(t.journal.c.started)).mappings()
    out = []
    for r in rows:
        names = tuple(n for n in r["services"].split(",") if n)
        if services is not None and not set(names) & services:
            continue
        operations = json.loads(r["operations"])
        out.append(
            Entry(
                r["id"],
                names,
                r["action"],
                r["phase"],
                r["owner"],
                r["pid"],
                codec.parse_time(r["started"]),
                codec.parse_time(r["expires"]),
                _placed(operations["start"]),
                _placed(operations["stop"]),
                _canary(operations.get("canary")),
                tuple(Kept(**k) for k in operations.get("standby", ())),
            )
        )
    return out


def _canary(data: dict[str, Any] | None) -> CanaryRecord | None:
    return CanaryRecord.from_json(data) if data else None


def set_canary(session: Session, entry: Entry, canary: CanaryRecord) -> None:
    """Keep the entry as a running canary: no process owns it any more."""
    operations = {
        "start": [vars(p) for p in entry.starts],
        "stop": [vars(p) for p in entry.stops],
        "canary": canary.to_json(),
    }
    session.conn.execute(
        update(t.journal)
        .where(t.journal.c.id == entry.id)
        .values(phase=CANARY, operations=json.dumps(operations, sort_keys=True))
    )


def set_standby(session: Session, entry_id: str, kept: tuple[Kept, ...], until: datetime) -> None:
    """Keep ``kept`` as standby containers until ``until``; with none left, drop the entry."""
    if not kept:
        remove(session, entry_id)
        return
    operations = {
        "start": [],
        "stop": [vars(k.placed()) for k in kept],
        "standby": [vars(k) for k in kept],
    }
    session.conn.execute(
        update(t.journal)
        .where(t.journal.c.id == entry_id)
        .values(
            phase=STANDBY,
            expires=codec.time_text(until),
            operations=json.dumps(operations, sort_keys=True),
        )
    )


def claim(session: Session, entry: Entry, now: datetime, lease: timedelta) -> Entry:
    """Make this process the owner of ``entry`` (a canary that a later command completes):
    while it works, others see the entry alive and wait."""
    owner, pid, expires = socket.gethostname()[:255], os.getpid(), now + lease
    session.conn.execute(
        update(t.journal)
        .where(t.journal.c.id == entry.id)
        .values(owner=owner, pid=pid, expires=codec.time_text(expires))
    )
    return replace(entry, owner=owner, pid=pid, expires=expires)


def set_committed(session: Session, entry_id: str) -> None:
    session.conn.execute(
        update(t.journal).where(t.journal.c.id == entry_id).values(phase=COMMITTED)
    )


def remove(session: Session, entry_id: str) -> None:
    session.conn.execute(delete(t.journal).where(t.journal.c.id == entry_id))
