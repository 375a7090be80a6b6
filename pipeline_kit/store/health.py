"""The last ``verify`` result of each container, for the dashboard's health column."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, insert, select

from pipeline_kit.store import codec
from pipeline_kit.store import tables as t
from pipeline_kit.store.database import Session


def record(
    session: Session, services: set[str], found: Mapping[str, tuple[str, str, str]], now: datetime
) -> None:
    """Replace the results of ``services``: container id → (service, status, detail)."""
    conn = session.conn
    t.health.create(conn, checkfirst=True)
    if services:
        conn.execute(delete(t.health).where(t.health.c.service.in_(sorted(services))))
    rows = [
        {
            "container": cid,
            "service": svc,
            "status": status,
            "detail": detail[:2000],
            "at": codec.time_text(now),
        }
        for cid, (svc, status, detail) in sorted(found.items())
    ]
    if rows:
        conn.execute(insert(t.health), rows)


def last(session: Session) -> dict[str, tuple[str, str, str]]:
    """Container id → (status, detail, at) of the last ``verify``; empty before the first."""
    if session.empty or not session.conn.dialect.has_table(session.conn, t.health.name):
        return {}
    rows = session.conn.execute(select(t.health)).mappings()
    return {r["container"]: (r["status"], r["detail"], r["at"]) for r in rows}
