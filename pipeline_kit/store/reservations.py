"""Host ports reserved in the state database, and the routing lock.

A rollout draws the ports of the containers it starts under its hosts' port locks
(PostgreSQL: a transaction-scoped advisory lock per host; SQLite: the write lock every write
transaction holds) and reserves them in the transaction that journals it, so promotions
running at once never draw the same port; the primary key (host, port) of ``pk_ports`` makes
a collision impossible even so. A reservation lives as long as its container: it is released
when the container is removed, or when the rollout that started it is undone or recovered.
Reservations are runtime bookkeeping, not part of the state: ``state export`` leaves them out.

The routing lock serializes the switches of HAProxy: one at a time renders the committed
state and applies it, so the config that runs last holds every committed change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, text
from sqlalchemy.exc import IntegrityError

from pipeline_kit.errors import ExternalFailure
from pipeline_kit.store import journal
from pipeline_kit.store import tables as t
from pipeline_kit.store.database import Scope, Session, Store

ROUTING = "routing"


@dataclass(frozen=True)
class Reservation:
    """A host port held by a container (started, or about to be)."""

    host: str
    port: int
    container: str
    service: str


class PortTaken(ExternalFailure):
    """A port that another container holds already."""


def lock(conn: Connection, keys: Iterable[str]) -> None:
    """Take PostgreSQL advisory locks until the transaction ends, in a stable order (SQLite's
    write transactions hold the database's one write lock already)."""
    if conn.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})


@contextmanager
def routing(store: Store, what: str) -> Iterator[Session]:
    """A write transaction holding the routing lock: one switch of HAProxy at a time."""
    with store.write(Scope(), what) as session:
        lock(session.conn, [ROUTING])
        yield session


def _ensure_table(conn: Connection) -> None:
    """Create ``pk_ports`` in a database made before it existed (once per connection)."""
    if conn.info.get("pk_ports") or conn.dialect.has_table(conn, t.ports.name):
        conn.info["pk_ports"] = True
        return
    lock(conn, ["schema:ports"])  # two processes creating it at once must not collide
    t.ports.create(conn, checkfirst=True)
    conn.info["pk_ports"] = True


def taken(session: Session, hosts: Iterable[str]) -> dict[str, set[int]]:
    """Lock the port drawing of ``hosts`` for this transaction and return, per host, the ports
    that are reserved or that the state records for a container there. Reservations whose
    container is neither in the state nor in an apply in flight are dropped first."""
    names = sorted(set(hosts))
    out: dict[str, set[int]] = {h: set() for h in names}
    if not names:
        return out
    conn = session.conn
    _ensure_table(conn)
    lock(conn, [f"ports:{h}" for h in names])
    _sweep(session, names)
    p = t.ports.c
    for host, port in conn.execute(select(p.host, p.port).where(p.host.in_(names))):
        out[host].add(port)
    c, s = t.containers.c, t.stacks.c
    recorded = select(s.host, c.address).join_from(
        t.containers, t.stacks, (s.service == c.service) & (s.idx == c.stack)
    )
    for host, address in conn.execute(recorded.where(s.host.in_(names))):
        tail = (address or "").rpartition(":")[2]
        if tail.isdigit():
            out[host].add(int(tail))
    return out


def _sweep(session: Session, hosts: list[str]) -> None:
    """Drop the reservations of containers that no longer exist for pipeline-kit."""
    conn, p = session.conn, t.ports.c
    held = set(conn.execute(select(p.container).where(p.host.in_(hosts))).scalars())
    if not held:
        return
    known = set(
        conn.execute(select(t.containers.c.id).where(t.containers.c.id.in_(held))).scalars()
    )
    for entry in journal.entries(session):
        known |= {placed.id for placed in (*entry.starts, *entry.stops)}
    stale = held - known
    if stale:
        conn.execute(delete(t.ports).where(p.host.in_(hosts), p.container.in_(stale)))


def reserve(session: Session, items: Iterable[Reservation]) -> None:
    """Reserve these ports; :class:`PortTaken` when one is held already (nothing reserved)."""
    rows = [vars(r) for r in items]
    if not rows:
        return
    conn = session.conn
    _ensure_table(conn)
    try:
        with conn.begin_nested():
            conn.execute(insert(t.ports), rows)
    except IntegrityError:
        held = {(r.host, r.port) for r in reserved(session)}
        clash = next((r for r in rows if (r["host"], r["port"]) in held), rows[0])
        raise PortTaken(
            f"port {clash['port']} on host {clash['host']} is reserved by another container; "
            "nothing was changed, try again"
        ) from None


def release(session: Session, containers: Iterable[str]) -> None:
    """Free the ports these containers held."""
    ids = sorted(set(containers))
    if not ids:
        return
    _ensure_table(session.conn)
    session.conn.execute(delete(t.ports).where(t.ports.c.container.in_(ids)))


def reserved(session: Session, host: str | None = None) -> list[Reservation]:
    """Every reservation (on ``host`` when given), by host and port."""
    if session.empty:
        return []
    _ensure_table(session.conn)
    query = select(t.ports).order_by(t.ports.c.host, t.ports.c.port)
    if host is not None:
        query = query.where(t.ports.c.host == host)
    return [
        Reservation(r["host"], r["port"], r["container"], r["service"])
        for r in session.conn.execute(query).mappings()
    ]
