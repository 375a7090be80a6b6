"""The state database: load what an action touches, apply a plan in one locked transaction.

SQLite (the default) serializes writers with ``BEGIN IMMEDIATE``; PostgreSQL takes one
transaction-scoped advisory lock per service, so different services proceed in parallel.
Both give up after ``lock_timeout`` seconds with one clear line.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from pipeline_kit.errors import ExternalFailure
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Policy
from pipeline_kit.store import codec, freezes, history, upgrade
from pipeline_kit.store import tables as t


@contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class Scope:
    """What an action needs loaded: named services, endpoints and ports, one hop around them."""

    services: frozenset[str] = field(default_factory=frozenset)
    endpoints: frozenset[str] = field(default_factory=frozenset)
    ports: frozenset[int] = field(default_factory=frozenset)

    @property
    def lock_keys(self) -> list[str]:
        keys = [f"service:{s}" for s in self.services]
        keys += [f"endpoint:{e}" for e in self.endpoints]
        keys += [f"port:{p}" for p in self.ports]
        return sorted(keys)


def resolve_url(url: str, home: Path) -> str:
    """Make a relative SQLite path relative to ``home`` and create its folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database or "")
        if not path.is_absolute():
            path = home / path
        path.parent.mkdir(parents=True, exist_ok=True)
        return parsed.set(database=str(path)).render_as_string(hide_password=False)
    return url


class Store:
    """One state database."""

    def __init__(self, url: str, lock_timeout: float = 30.0) -> None:
        self.url = url
        self.lock_timeout = lock_timeout
        self.safe_url = make_url(url).render_as_string(hide_password=True)
        self.sqlite = make_url(url).get_backend_name() == "sqlite"
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        try:
            if not self.sqlite:
                return create_engine(self.url, pool_pre_ping=False)
            engine = create_engine(self.url, connect_args={"timeout": self.lock_timeout})
        except (SQLAlchemyError, ImportError) as exc:
            raise InvalidInput(f"invalid database URL {self.safe_url}: {exc}") from None

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun below
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("pk_write") else "BEGIN")

        return engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    # -- transactions ----------------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except OperationalError as exc:
            raise self._operational(exc, what) from None
        except IntegrityError as exc:
            raise ExternalFailure(
                f"state database {self.safe_url} refused the change ({what}): "
                f"{str(exc.orig).splitlines()[0]}; nothing was changed"
            ) from None

    def _operational(self, exc: OperationalError, what: str) -> ExternalFailure:
        message = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
        sqlstate = getattr(exc.orig, "sqlstate", None)
        if sqlstate == "55P03" or "database is locked" in message:
            return ExternalFailure(
                f"{what}: another change held the lock for more than {self.lock_timeout:g} s "
                "(lock_timeout); nothing was changed, try again"
            )
        return ExternalFailure(f"state database {self.safe_url} failed ({what}): {message}")

    @contextmanager
    def write(self, scope: Scope, what: str = "change") -> Iterator[Session]:
        """A transaction holding the locks of ``scope``; committed when the block ends."""
        with self._errors(what), self.engine.connect() as conn:
            conn.info["pk_write"] = True
            with conn.begin():
                self._ensure_schema(conn)
                if not self.sqlite:
                    ms = int(self.lock_timeout * 1000)
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{ms}ms'")
                    for key in scope.lock_keys:
                        conn.execute(
                            text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                            {"k": key},
                        )
                yield Session(conn)

    @contextmanager
    def read(self, what: str = "read") -> Iterator[Session]:
        """A read-only snapshot (of a database of an older schema: once upgraded)."""
        with self._errors(what):
            for upgraded in (False, True):
                with self.engine.connect() as conn:
                    conn.info["pk_write"] = False
                    with conn.begin():
                        if not self._has_schema(conn):
                            yield Session(conn, empty=True)
                            return
                        if upgraded or self._version(conn) == t.SCHEMA_VERSION:
                            yield Session(conn)
                            return
                self.ensure_schema()

    def ensure_schema(self) -> None:
        with self._errors("create tables"), self.engine.connect() as conn:
            conn.info["pk_write"] = True
            with conn.begin():
                self._ensure_schema(conn)

    def _has_schema(self, conn: Connection) -> bool:
        return conn.dialect.has_table(conn, t.meta.name)

    def _version(self, conn: Connection) -> str | None:
        found = conn.execute(select(t.meta.c.value).where(t.meta.c.key == "schema")).scalar()
        return None if found is None else str(found)

    def _ensure_schema(self, conn: Connection) -> None:
        if self._has_schema(conn):
            found = self._version(conn)
            if found == t.SCHEMA_VERSION:
                return
            if not upgrade.can_upgrade(found):
                raise ExternalFailure(
                    f"state database {self.safe_url} has schema {found!r}, "
                    f"this pipeline-kit needs {t.SCHEMA_VERSION!r}"
                )
            if not self.sqlite:  # two processes upgrading at once: the second finds it done
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('schema', 0))"))
                found = self._version(conn)
            if found is not None and found != t.SCHEMA_VERSION:
                upgrade.upgrade(conn, found)
            return
        if not self.sqlite:  # two processes creating the tables at once must not collide
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('schema', 0))"))
            if self._has_schema(conn):
                return
        t.metadata.create_all(conn)
        conn.execute(insert(t.meta).values(key="schema", value=t.SCHEMA_VERSION))


class Session:
    """Reads and writes inside one transaction."""

    def __init__(self, conn: Connection, empty: bool = False) -> None:
        self.conn = conn
        self.empty = empty

    # -- loading ---------------------------------------------------------------------------

    def load_all(self) -> State:
        if self.empty:
            return State()
        c = self.conn
        with _no_gc():  # ~100k small immutable objects: the collector would only scan them
            return freezes.attach(c, self._load_all(c))

    def _load_all(self, c: Connection) -> State:
        return codec.build_state(
            c.execute(select(t.services)).mappings().all(),
            c.execute(select(t.stacks)).mappings().all(),
            c.execute(select(t.containers)).mappings().all(),
            c.execute(select(t.endpoints)).mappings().all(),
            c.execute(select(t.trees)).mappings().all(),
            c.execute(select(t.edges)).mappings().all(),
            c.execute(select(t.approvals).order_by(t.approvals.c.id)).mappings().all(),
            c.execute(select(t.rejections).order_by(t.rejections.c.id)).mappings().all(),
        )

    def load(self, scope: Scope) -> State:
        """The part of the state ``scope`` touches, and the services one hop around it."""
        if self.empty:
            return State()
        c = self.conn
        names = set(scope.services)
        endpoint_filter: ColumnElement[bool] = t.endpoints.c.service.in_(names)
        if scope.endpoints:
            endpoint_filter |= t.endpoints.c.name.in_(scope.endpoints)
        if scope.ports:
            endpoint_filter |= t.endpoints.c.port.in_(scope.ports)
        endpoint_rows = list(c.execute(select(t.endpoints).where(endpoint_filter)).mappings())
        names |= {r["service"] for r in endpoint_rows}
        child_of = c.execute(
            select(t.edges.c.service, t.edges.c.position).where(t.edges.c.child.in_(names))
        ).all()
        roots = names | {r[0] for r in child_of}
        if roots - names:  # the endpoints a child answers through: their gates apply to it
            known = {r["name"] for r in endpoint_rows}
            more = select(t.endpoints).where(t.endpoints.c.service.in_(roots - names))
            endpoint_rows += [r for r in c.execute(more).mappings() if r["name"] not in known]
        tree_rows = list(c.execute(select(t.trees).where(t.trees.c.service.in_(roots))).mappings())
        edge_rows = list(c.execute(select(t.edges).where(t.edges.c.service.in_(roots))).mappings())
        names |= roots | {r["child"] for r in edge_rows}
        state = codec.build_state(
            c.execute(select(t.services).where(t.services.c.name.in_(names))).mappings().all(),
            c.execute(select(t.stacks).where(t.stacks.c.service.in_(names))).mappings().all(),
            c.execute(select(t.containers).where(t.containers.c.service.in_(names)))
            .mappings()
            .all(),
            endpoint_rows,
            tree_rows,
            edge_rows,
            c.execute(
                select(t.approvals)
                .where(t.approvals.c.service.in_(names))
                .order_by(t.approvals.c.id)
            )
            .mappings()
            .all(),
            c.execute(
                select(t.rejections)
                .where(t.rejections.c.service.in_(names))
                .order_by(t.rejections.c.id)
            )
            .mappings()
            .all(),
        )
        return freezes.attach(c, state, names)

    def service_names(self) -> list[str]:
        if self.empty:
            return []
        return list(
            self.conn.execute(select(t.services.c.name).order_by(t.services.c.name)).scalars()
        )

    def is_empty(self) -> bool:
        if self.empty:
            return True
        counts = [
            self.conn.execute(select(func.count()).select_from(table)).scalar()
            for table in (t.services, t.endpoints, t.history)
        ]
        return not any(counts)

    # -- writing ---------------------------------------------------------------------------

    def write_state(self, before: State, after: State) -> None:
        """Write every item that differs between ``before`` and ``after``, table by table."""
        services = [
            n
            for n in set(before.services) | set(after.services)
            if before.services.get(n) != after.services.get(n)
        ]
        endpoints = [
            n
            for n in set(before.endpoints) | set(after.endpoints)
            if before.endpoints.get(n) != after.endpoints.get(n)
        ]
        trees = [
            k
            for k in set(before.trees) | set(after.trees)
            if before.trees.get(k) != after.trees.get(k)
        ]
        rows: dict[str, list[codec.Row]] = {name: [] for name in _ORDER}
        for name in services:
            new = after.services.get(name)
            if new is not None:
                row, stacks, containers = codec.service_rows(new)
                rows["services"].append(row)
                rows["stacks"] += stacks
                rows["containers"] += containers
        rows["endpoints"] = [
            codec.endpoint_row(after.endpoints[n]) for n in endpoints if n in after.endpoints
        ]
        for key in trees:
            tree = after.trees.get(key)
            if tree is not None:
                row, edges = codec.tree_rows(tree)
                rows["trees"].append(row)
                rows["edges"] += edges
        known, seen = set(before.approvals), set(before.rejections)
        rows["approvals"] = [codec.approval_row(a) for a in after.approvals if a not in known]
        rows["rejections"] = [codec.rejection_row(r) for r in after.rejections if r not in seen]
        c = self.conn
        old_services = [n for n in services if n in before.services]
        if old_services:
            for table in (t.containers, t.stacks):
                c.execute(delete(table).where(table.c.service.in_(old_services)))
            c.execute(delete(t.services).where(t.services.c.name.in_(old_services)))
        old_endpoints = [n for n in endpoints if n in before.endpoints]
        if old_endpoints:
            c.execute(delete(t.endpoints).where(t.endpoints.c.name.in_(old_endpoints)))
        for key in (k for k in trees if k in before.trees):
            for table in (t.trees, t.edges):
                c.execute(
                    delete(table).where(table.c.service == key[0], table.c.position == key[1])
                )
        for name in _ORDER:
            if rows[name]:
                c.execute(insert(getattr(t, name)), rows[name])
        freezes.write(c, before, after)

    def apply(self, plan: Plan, policy: Policy, actor: str, now: datetime) -> None:
        """Write the plan's new state and record it in the history."""
        self.write_state(plan.before, plan.after)
        history.record(self.conn, plan, policy, actor, now)

    def history(self, service: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """History entries, oldest first (the last ``limit`` of them)."""
        return [] if self.empty else history.entries(self.conn, service, limit)


_ORDER = (
    "services",
    "stacks",
    "containers",
    "endpoints",
    "trees",
    "edges",
    "approvals",
    "rejections",
)
