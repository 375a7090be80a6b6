"""Immediate freezes (holds) and release authors: loaded beside the state, written by diff.

The tables are additive: a database made before them gets them on its next write, and
reads of such a database find none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Table, delete, insert, or_, select

from pipeline_kit.model.items import Authored, Hold, State
from pipeline_kit.store import codec
from pipeline_kit.store import tables as t

ADDED = (t.holds, t.authors)


def ensure_tables(conn: Connection) -> None:
    """Create the tables a database of the same schema version may still lack."""
    for table in ADDED:
        table.create(conn, checkfirst=True)


_PRESENT: set[tuple[str, str]] = set()  # (database, table) seen to exist: tables stay


def _present(conn: Connection, table: Table) -> bool:
    key = (str(conn.engine.url), table.name)
    if key not in _PRESENT and conn.dialect.has_table(conn, table.name):
        _PRESENT.add(key)
    return key in _PRESENT


def attach(conn: Connection, state: State, services: Iterable[str] | None = None) -> State:
    """``state`` with the holds and authors of ``services`` (None: all); every hold that
    freezes all services is always there."""
    names = None if services is None else sorted(set(services))
    holds: list[Any] = []
    authors: list[Any] = []
    if _present(conn, t.holds):
        query = select(t.holds).order_by(t.holds.c.id)
        if names is not None:
            h = t.holds.c
            query = query.where(or_(h.service.is_(None), h.service.in_(names)))
        holds = list(conn.execute(query).mappings())
    if _present(conn, t.authors):
        query = select(t.authors).order_by(t.authors.c.id)
        if names is not None:
            query = query.where(t.authors.c.service.in_(names))
        authors = list(conn.execute(query).mappings())
    return replace(state, holds=build_holds(holds), authors=build_authors(authors))


def build_holds(rows: Iterable[Any]) -> tuple[Hold, ...]:
    return tuple(
        Hold(r["service"], r["position"], r["reason"], r["by"], codec.parse_time(r["at"]))
        for r in rows
    )


def build_authors(rows: Iterable[Any]) -> tuple[Authored, ...]:
    return tuple(
        Authored(r["service"], r["version"], r["author"], codec.parse_time(r["at"])) for r in rows
    )


def hold_row(h: Hold) -> dict[str, Any]:
    return {
        "service": h.service,
        "position": h.position,
        "reason": h.reason,
        "by": h.by,
        "at": codec.time_text(h.at),
    }


def author_row(a: Authored) -> dict[str, Any]:
    return {
        "service": a.service,
        "version": a.version,
        "author": a.author,
        "at": codec.time_text(a.at),
    }


def write(conn: Connection, before: State, after: State) -> None:
    """Insert the holds and authors ``after`` adds; delete the holds it ends."""
    if before.holds == after.holds and before.authors == after.authors:
        return
    ensure_tables(conn)
    ended = [h for h in before.holds if h not in after.holds]
    for h in ended:
        c = t.holds.c
        where = c.service.is_(None) if h.service is None else c.service == h.service
        conn.execute(delete(t.holds).where(where, c.position == h.position))
    new_holds = [hold_row(h) for h in after.holds if h not in before.holds]
    if new_holds:
        conn.execute(insert(t.holds), new_holds)
    known = set(before.authors)
    new_authors = [author_row(a) for a in after.authors if a not in known]
    if new_authors:
        conn.execute(insert(t.authors), new_authors)
