"""The state database as a rollout's ledger (``ports.Ledger``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Policy
from pipeline_kit.store import journal, ledger, reservations
from pipeline_kit.store.database import Scope, Session, Store
from pipeline_kit.store.journal import CanaryRecord, Entry, Kept, Placed
from pipeline_kit.store.reservations import Reservation


class SqlTx:
    """One transaction of the state database."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def load(self, scope: Scope) -> State:
        return self.session.load(scope)

    def load_all(self) -> State:
        return self.session.load_all()

    def routing_keys(self, plan: Plan) -> tuple[list[tuple[str, int]], list[int]]:
        return ledger.routing_keys(self.session, plan)

    def unchanged(self, before: State, services: Iterable[str]) -> bool:
        return ledger.unchanged(self.session, before, services)

    def entries(self, services: frozenset[str] | None = None) -> list[Entry]:
        return journal.entries(self.session, services)

    def add_entry(
        self,
        services: list[str],
        action: str,
        starts: list[Placed],
        stops: list[Placed],
        now: datetime,
        lease: timedelta,
    ) -> Entry:
        return journal.add(self.session, services, action, starts, stops, now, lease)

    def claim_entry(self, entry: Entry, now: datetime, lease: timedelta) -> Entry:
        return journal.claim(self.session, entry, now, lease)

    def set_committed(self, entry_id: str) -> None:
        journal.set_committed(self.session, entry_id)

    def set_canary(self, entry: Entry, record: CanaryRecord) -> None:
        journal.set_canary(self.session, entry, record)

    def set_standby(self, entry_id: str, kept: tuple[Kept, ...], until: datetime) -> None:
        journal.set_standby(self.session, entry_id, kept, until)

    def remove_entry(self, entry_id: str) -> None:
        journal.remove(self.session, entry_id)

    def ports_taken(self, hosts: list[str]) -> dict[str, set[int]]:
        return reservations.taken(self.session, hosts)

    def reserve_ports(self, items: list[Reservation]) -> None:
        reservations.reserve(self.session, items)

    def release_ports(self, containers: list[str]) -> None:
        reservations.release(self.session, containers)

    def apply(self, plan: Plan, policy: Policy, actor: str, now: datetime) -> None:
        self.session.apply(plan, policy, actor, now)

    def write_state(self, before: State, after: State) -> None:
        self.session.write_state(before, after)


class SqlLedger:
    """A :class:`Store` seen through the ledger interface."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def write(self, scope: Scope, what: str) -> Iterator[SqlTx]:
        with self.store.write(scope, what) as session:
            yield SqlTx(session)

    @contextmanager
    def read(self, what: str) -> Iterator[SqlTx]:
        with self.store.read(what) as session:
            yield SqlTx(session)

    @contextmanager
    def routing(self, what: str) -> Iterator[SqlTx]:
        with reservations.routing(self.store, what) as session:
            yield SqlTx(session)
