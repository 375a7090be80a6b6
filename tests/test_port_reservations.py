"""Host ports reserved in the state database, on SQLite and on PostgreSQL: a port is held by
one container at a time, released ports are free again, and drawing is serialized per host."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from pipeline_kit.model.items import State
from pipeline_kit.model.policy import Policy
from pipeline_kit.pipeline.rollout.steps import with_addresses
from pipeline_kit.store import journal, reservations
from pipeline_kit.store.database import Scope, Store
from pipeline_kit.store.journal import Placed
from pipeline_kit.store.reservations import PortTaken, Reservation
from tests.model_helpers import T0, make_ctx, with_service


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    found = Store(db_url, lock_timeout=10)
    found.ensure_schema()
    try:
        yield found
    finally:
        found.dispose()


def held(store: Store, host: str | None = None) -> list[tuple[str, int, str]]:
    with store.read() as session:
        return [(r.host, r.port, r.container) for r in reservations.reserved(session, host)]


def test_a_reserved_port_cannot_be_reserved_again_until_released(store: Store) -> None:
    with store.write(Scope()) as session:
        reservations.reserve(session, [Reservation("a", 21000, "c1", "web")])
        reservations.reserve(session, [Reservation("b", 21000, "c2", "web")])  # another host
    batch = [Reservation("a", 21001, "c3", "api"), Reservation("a", 21000, "c4", "api")]
    taken = pytest.raises(PortTaken, match="port 21000 on host a is reserved")
    with taken, store.write(Scope()) as session:
        reservations.reserve(session, batch)
    assert held(store) == [("a", 21000, "c1"), ("b", 21000, "c2")]  # none of the batch
    with store.write(Scope()) as session:
        reservations.release(session, ["c1"])
    assert held(store) == [("b", 21000, "c2")]
    with store.write(Scope()) as session:
        reservations.reserve(session, [Reservation("a", 21000, "c4", "api")])
    assert held(store, "a") == [("a", 21000, "c4")]


def test_the_primary_key_refuses_a_second_holder_even_without_the_lock(store: Store) -> None:
    with store.write(Scope()) as session:
        reservations.reserve(session, [Reservation("a", 21000, "c1", "web")])
    with pytest.raises(PortTaken), store.write(Scope()) as session:
        session.conn.execute(text("DELETE FROM pk_journal"))  # any statement before it
        reservations.reserve(session, [Reservation("a", 21000, "c2", "web")])
    assert held(store) == [("a", 21000, "c1")]


def test_taken_counts_reservations_and_recorded_ports_and_drops_stale_ones(store: Store) -> None:
    policy = Policy()
    ctx = make_ctx(policy)
    state = with_service(ctx, "web", ("v1.0.0", "v1.1.0", "v1.2.0"), stacks=1)
    ids = [c.id for c in state.services["web"].stacks[0].containers]
    state = with_addresses(state, {cid: f"127.0.0.1:{22000 + n}" for n, cid in enumerate(ids)})
    host = state.services["web"].stacks[0].host
    with store.write(Scope(frozenset({"web"}))) as session:
        session.write_state(State(), state)
        items = [
            Reservation(host, 22000, ids[0], "web"),  # a container of the state
            Reservation(host, 23000, "starting", "web"),  # one an apply in flight starts
            Reservation(host, 24000, "gone", "web"),  # no container knows it: stale
        ]
        reservations.reserve(session, items)
        starting = Placed("starting", "web", 0, host, "v1.3.0")
        journal.add(session, ["web"], "promote", [starting], [], T0, timedelta(minutes=5))
    with store.write(Scope()) as session:
        taken = reservations.taken(session, [host, "elsewhere"])
    assert taken == {host: {22000, 22001, 22002, 23000}, "elsewhere": set()}
    assert [port for _, port, _ in held(store)] == [22000, 23000]


def test_port_drawing_on_a_host_waits_for_the_transaction_that_reserved(store: Store) -> None:
    """A second drawer on the same host sees the first one's reservation: it waited for it."""
    other = Store(store.url, lock_timeout=10)
    reserved, seen = threading.Event(), {}

    def first() -> None:
        with store.write(Scope(frozenset({"web"}))) as session:
            reservations.taken(session, ["a"])
            reservations.reserve(session, [Reservation("a", 25000, "c1", "web")])
            starting = Placed("c1", "web", 0, "a", "v1.3.0")  # as a rollout journals it
            journal.add(session, ["web"], "promote", [starting], [], T0, timedelta(minutes=5))
            reserved.set()
            threading.Event().wait(0.5)  # still open: the second one must wait

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert reserved.wait(10)
        with other.write(Scope(frozenset({"api"}))) as session:  # another service's lock
            seen.update(reservations.taken(session, ["a"]))
    finally:
        thread.join(10)
        other.dispose()
    assert seen == {"a": {25000}}


def test_a_database_made_before_reservations_gets_the_table(store: Store) -> None:
    with store.write(Scope()) as session:
        session.conn.execute(text("DROP TABLE pk_ports"))
    fresh = Store(store.url)
    try:
        with fresh.write(Scope()) as session:
            reservations.reserve(session, [Reservation("a", 21000, "c1", "web")])
        with fresh.read() as session:
            assert [r.port for r in reservations.reserved(session)] == [21000]
    finally:
        fresh.dispose()
