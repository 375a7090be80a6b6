"""In-memory ledger, runtime, router and clock behind the rollout's interfaces (``ports``).

They run the very steps of ``pipeline_kit.pipeline.rollout`` without a database, Docker or
HAProxy. Each fake appends what is asked of it to one shared ``calls`` list, so a test reads
the exact order of a rollout's operations; each can be told to fail at one of its operations.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pipeline_kit.config_types import Hook, SmokeCheck
from pipeline_kit.errors import ExternalFailure
from pipeline_kit.lb.render import Canary
from pipeline_kit.lb.render import edges as routed_edges
from pipeline_kit.lb.stats import ServerStat
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Policy
from pipeline_kit.pipeline.rollout.flight import Clock
from pipeline_kit.pipeline.rollout.ports import Booked, HookRun, Launch, Observe, Routes
from pipeline_kit.store import journal
from pipeline_kit.store.database import Scope
from pipeline_kit.store.journal import CanaryRecord, Entry, Kept, Placed
from pipeline_kit.store.reservations import PortTaken, Reservation

_K = TypeVar("_K")
_V = TypeVar("_V")


# -- the ledger: state, journal and history in memory ---------------------------------------


def scoped(state: State, scope: Scope) -> State:
    """The part of ``state`` a scope loads: its services, their endpoints, one hop of trees."""
    names = set(scope.services)
    endpoints = {
        n: e
        for n, e in state.endpoints.items()
        if e.service in names or n in scope.endpoints or e.port in scope.ports
    }
    names |= {e.service for e in endpoints.values()}
    roots = names | {
        t.service for t in state.trees.values() if any(e.child in names for e in t.edges)
    }
    trees = {k: t for k, t in state.trees.items() if t.service in roots}
    names |= roots | {e.child for t in trees.values() for e in t.edges}
    return State(
        services={n: s for n, s in state.services.items() if n in names},
        endpoints=endpoints,
        trees=trees,
        approvals=tuple(a for a in state.approvals if a.service in names),
        rejections=tuple(r for r in state.rejections if r.service in names),
    )


def _merge(items: dict[_K, _V], old: dict[_K, _V], new: dict[_K, _V]) -> dict[_K, _V]:
    """``items`` with every key whose value differs between ``old`` and ``new`` rewritten."""
    changed = {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    kept = {key: value for key, value in items.items() if key not in changed}
    return kept | {key: new[key] for key in changed if key in new}


def written(current: State, before: State, after: State) -> State:
    """``current`` with what differs between ``before`` and ``after`` written, item by item."""
    return State(
        services=_merge(current.services, before.services, after.services),
        endpoints=_merge(current.endpoints, before.endpoints, after.endpoints),
        trees=_merge(current.trees, before.trees, after.trees),
        approvals=current.approvals
        + tuple(a for a in after.approvals if a not in set(before.approvals)),
        rejections=current.rejections
        + tuple(r for r in after.rejections if r not in set(before.rejections)),
    )


def _slots(state: State, names: Iterable[str]) -> set[tuple[str, int, int, str, str, str | None]]:
    return {
        (name, stack.index, position, c.id, c.version, c.address)
        for name in names
        if name in state.services
        for stack in state.services[name].stacks
        for position, c in enumerate(stack.containers)
    }


class MemoryTx:
    """One transaction over a working copy of the ledger's data; a read one cannot write."""

    def __init__(self, ledger: MemoryLedger, writable: bool) -> None:
        self.ledger = ledger
        self.writable = writable
        self.open = True
        self.applied = False  # a new state was written in this transaction
        self.state = ledger.state
        self.journal = dict(ledger.journal)
        self.history = list(ledger.history)
        self.ports = dict(ledger.ports)

    def _use(self, call: str, write: bool = False) -> None:
        if not self.open:
            raise RuntimeError(f"{call} on a transaction that has ended")
        if write and not self.writable:
            raise RuntimeError(f"{call} in a read transaction")
        self.ledger.calls.append(call)

    def load(self, scope: Scope) -> State:
        self._use("tx.load")
        return scoped(self.state, scope)

    def load_all(self) -> State:
        self._use("tx.load_all")
        return self.state

    def routing_keys(self, plan: Plan) -> tuple[list[tuple[str, int]], list[int]]:
        self._use("tx.routing_keys")
        replaced = plan.before.trees.keys() | plan.after.trees.keys()
        found = {
            (e.child, e.position)
            for key, tree in self.state.trees.items()
            if key not in replaced
            for e in tree.edges
        }
        found |= {(e.child, e.position) for tree in plan.after.trees.values() for e in tree.edges}
        names = plan.before.endpoints.keys() | plan.after.endpoints.keys()
        ports = [e.port for n, e in self.state.endpoints.items() if n not in names]
        ports += [e.port for e in plan.after.endpoints.values()]
        return sorted(found), ports

    def unchanged(self, before: State, services: Iterable[str]) -> bool:
        self._use("tx.unchanged")
        names = sorted(services)
        return _slots(self.state, names) == _slots(before, names)

    def entries(self, services: frozenset[str] | None = None) -> list[Entry]:
        self._use("journal.entries")
        return [e for e in self.journal.values() if services is None or set(e.services) & services]

    def add_entry(
        self,
        services: list[str],
        action: str,
        starts: list[Placed],
        stops: list[Placed],
        now: datetime,
        lease: timedelta,
    ) -> Entry:
        self._use("journal.add", write=True)
        what = (f"entry-{next(self.ledger.ids)}", tuple(sorted(services)), action)
        owner = (journal.STARTING, socket.gethostname()[:255], self.ledger.pid)
        entry = Entry(*what, *owner, now, now + lease, tuple(starts), tuple(stops))
        self.journal[entry.id] = entry
        return entry

    def claim_entry(self, entry: Entry, now: datetime, lease: timedelta) -> Entry:
        self._use("journal.claim", write=True)
        owner = socket.gethostname()[:255]
        claimed = replace(entry, owner=owner, pid=os.getpid(), expires=now + lease)
        self.journal[entry.id] = claimed
        return claimed

    def set_committed(self, entry_id: str) -> None:
        self._use("journal.committed", write=True)
        if entry_id in self.journal:
            self.journal[entry_id] = replace(self.journal[entry_id], phase=journal.COMMITTED)

    def set_canary(self, entry: Entry, record: CanaryRecord) -> None:
        self._use("journal.canary", write=True)
        if entry.id in self.journal:
            self.journal[entry.id] = replace(entry, phase=journal.CANARY, canary=record)

    def set_standby(self, entry_id: str, kept: tuple[Kept, ...], until: datetime) -> None:
        self._use("journal.standby", write=True)
        if not kept:
            self.journal.pop(entry_id, None)
        elif entry_id in self.journal:
            stops = tuple(k.placed() for k in kept)
            entry = replace(self.journal[entry_id], phase=journal.STANDBY, starts=(), stops=stops)
            self.journal[entry_id] = replace(entry, expires=until, kept=kept)

    def remove_entry(self, entry_id: str) -> None:
        self._use("journal.remove", write=True)
        self.journal.pop(entry_id, None)

    def ports_taken(self, hosts: list[str]) -> dict[str, set[int]]:
        self._use("ports.taken", write=True)
        return {h: {p for (host, p) in self.ports if host == h} for h in hosts}

    def reserve_ports(self, items: list[Reservation]) -> None:
        self._use("ports.reserve", write=True)
        for r in items:
            if (r.host, r.port) in self.ports:
                raise PortTaken(f"port {r.port} on host {r.host} is reserved")
            self.ports[(r.host, r.port)] = r

    def release_ports(self, containers: list[str]) -> None:
        self._use("ports.release", write=True)
        gone = set(containers)
        self.ports = {k: r for k, r in self.ports.items() if r.container not in gone}

    def apply(self, plan: Plan, policy: Policy, actor: str, now: datetime) -> None:
        self._use("state.apply", write=True)
        self.state = written(self.state, plan.before, plan.after)
        self.applied = True
        services = plan.services_changed()
        record = {"at": now, "actor": actor, "action": plan.action, "services": services}
        self.history.append({**record, "args": dict(plan.args)})

    def write_state(self, before: State, after: State) -> None:
        self._use("state.write", write=True)
        self.state = written(self.state, before, after)
        self.applied = True


class MemoryLedger:
    """The state database in memory: a write commits when its block ends normally and is
    discarded on an exception; a second write while one is open is an error (one writer)."""

    def __init__(self, calls: list[str], state: State | None = None, fail_commit: bool = False):
        self.calls = calls
        self.state = state if state is not None else State()
        self.journal: dict[str, Entry] = {}
        self.history: list[dict[str, Any]] = []
        self.ports: dict[tuple[str, int], Reservation] = {}  # (host, port) → its holder
        self.fail_commit = fail_commit  # a commit that writes a new state fails
        self.pid = os.getpid()  # the process the journal's new entries name
        self.ids = itertools.count(1)
        self.writing: str | None = None

    @contextmanager
    def write(self, scope: Scope, what: str) -> Iterator[MemoryTx]:
        if self.writing is not None:
            raise RuntimeError(f"a write ({what}) while another ({self.writing}) is open")
        self.calls.append("ledger.write")
        self.writing = what
        tx = MemoryTx(self, writable=True)
        try:
            yield tx
            if self.fail_commit and tx.applied:
                raise ExternalFailure("state database: the commit failed")
        except BaseException:
            self.calls.append("ledger.rollback")
            raise
        else:
            self.state, self.journal, self.history = tx.state, tx.journal, tx.history
            self.ports = tx.ports
            self.calls.append("ledger.commit")
        finally:
            tx.open = False
            self.writing = None

    @contextmanager
    def routing(self, what: str) -> Iterator[MemoryTx]:
        with self.write(Scope(), what) as tx:
            self.calls.append("ledger.routing")
            yield tx

    @contextmanager
    def read(self, what: str) -> Iterator[MemoryTx]:
        self.calls.append("ledger.read")
        tx = MemoryTx(self, writable=False)
        try:
            yield tx
        finally:
            tx.open = False

    def entries(self) -> list[Entry]:
        return list(self.journal.values())


# -- the runtime: containers as a set of running ids ----------------------------------------


@dataclass
class FakeRuntime:
    """Containers that start and stop instantly; ``running`` holds the ids of those that run.

    ``fail_start``: the first container fails to start (the others start, as the real runtime
    tries every one); ``fail_healthy``: the first one never becomes healthy.
    """

    calls: list[str]
    running: set[str] = field(default_factory=set)
    fail_place: bool = False
    fail_start: bool = False
    fail_healthy: bool = False
    fail_remove: bool = False
    started: list[str] = field(default_factory=list)  # every container started, in order
    removed: list[str] = field(default_factory=list)  # every one asked to be removed, in order
    ports: Iterator[int] = field(default_factory=lambda: itertools.count(21000))
    probes: dict[tuple[str, str], str] = field(default_factory=dict)  # (id, path) → failure
    hook_results: dict[tuple[str, ...], HookRun] = field(default_factory=dict)  # by command
    hooks_run: list[tuple[str, int, str]] = field(default_factory=list)  # service, position, when
    exited: set[str] = field(default_factory=set)  # containers that stopped by themselves

    def place(
        self, plan: Plan, routes: Routes | None, booked: Booked | None = None
    ) -> tuple[list[Launch], list[Placed]]:
        self.calls.append("runtime.place")
        if self.fail_place:
            raise ExternalFailure("no free port left on host local")
        launches, stops = [], []
        taken: dict[str, set[int]] = {}
        for op in plan.operations:
            state = plan.after if op.kind == "start" else plan.before
            stack = state.services[op.service].stack(op.stack)
            host = stack.host if stack is not None else "local"
            if op.kind == "start":
                if booked is not None and host not in taken:
                    taken[host] = booked([host])[host]
                port = next(p for p in self.ports if p not in taken.get(host, set()))
                address = f"10.9.{op.stack}.{op.position}:{port}"
                args = (op.container, op.service, op.stack, op.position, op.version, host)
                launches.append(Launch(*args, address, op))
            else:
                stops.append(Placed(op.container, op.service, op.stack, host, op.version))
        return launches, stops

    def start(self, launches: list[Launch]) -> list[Any]:
        self.calls.append("runtime.start")
        for launch in launches[1:] if self.fail_start else launches:
            self.running.add(launch.id)
            self.started.append(launch.id)
        if self.fail_start and launches:
            raise ExternalFailure(f"cannot start {launches[0].id}: image not found")
        return [launch.id for launch in launches]

    def wait_healthy(
        self, launches: list[Launch], handles: list[Any], observe: Observe | None
    ) -> None:
        self.calls.append("runtime.wait_healthy")
        for n, launch in enumerate(launches):
            bad = self.fail_healthy and n == 0
            error = ExternalFailure(f"{launch.id} did not become healthy in time") if bad else None
            if observe is not None:
                observe(launch.spec, 0.0, error)
            if error is not None:
                raise error

    def remove(self, placed: Iterable[Placed]) -> int:
        self.calls.append("runtime.remove")
        items = list(placed)
        if self.fail_remove:
            raise ExternalFailure("docker: cannot remove the container")
        for p in items:
            self.running.discard(p.id)
            self.removed.append(p.id)
        return len(items)

    def states(self, placed: list[Placed]) -> dict[str, str]:
        self.calls.append("runtime.states")
        out = {}
        for p in placed:
            gone = "exited" if p.id in self.exited else "missing"
            out[p.id] = "running" if p.id in self.running and p.id not in self.exited else gone
        return out

    def probe(self, launch: Launch, check: SmokeCheck) -> str | None:
        self.calls.append("runtime.probe")
        return self.probes.get((launch.id, check.path))

    def run_hook(self, plan: Plan, service: str, position: int, hook: Hook) -> HookRun:
        self.calls.append("runtime.hook")
        self.hooks_run.append((service, position, hook.when))
        return self.hook_results.get(hook.command, HookRun(0, "done"))


# -- the router: a config text per state, and which one runs ---------------------------------


def render_routes(state: State, canaries: Iterable[Canary] = ()) -> str:
    """A deterministic config: every endpoint's and edge's servers, and the canaries."""
    lines = []

    def servers(service: str, position: int) -> None:
        svc = state.services.get(service)
        for stack in svc.stacks if svc is not None else ():
            if position < stack.height:
                c = stack.containers[position]
                lines.append(f"  server {service}-{stack.index} {c.address} {c.version}")

    for name in sorted(state.endpoints):
        endpoint = state.endpoints[name]
        lines.append(f"endpoint {name} :{endpoint.port} {endpoint.service}@{endpoint.position}")
        servers(endpoint.service, endpoint.position)
    for child, position in routed_edges(state):
        lines.append(f"edge {child}@{position}")
        servers(child, position)
    for c in sorted(canaries, key=lambda c: (c.service, c.position)):
        weights = " ".join(f"{stack}={a}" for stack, a in sorted(c.addresses.items()))
        lines.append(f"canary {c.service}@{c.position} {c.percent}% {weights}")
    return "\n".join(lines) + "\n"


@dataclass
class FakeRouter:
    """A load balancer that validates and runs config texts; ``running`` is the one it runs."""

    calls: list[str]
    running: str = ""
    fail_validate: bool = False
    fail_switch: bool = False
    fail_drain: bool = False
    drained: bool = True  # the previous config's connections end within drain_seconds
    enabled: bool = True
    drain_seconds: float = 5.0
    validated: list[str] = field(default_factory=list)  # every config prepared, in order
    canaries: list[list[Canary]] = field(default_factory=list)  # those of each config
    switched: list[str] = field(default_factory=list)  # every config switched to, in order
    stats: list[ServerStat] = field(default_factory=list)  # what ``servers`` reports

    def routes(self, edges: list[tuple[str, int]], taken: list[int]) -> Routes | None:
        self.calls.append("router.routes")
        return "127.0.0.1", {edge: 31000 + n for n, edge in enumerate(edges)}

    def render(self, whole: State, canaries: list[Canary]) -> str:
        self.calls.append("router.render")
        return render_routes(whole, canaries)

    def prepare(self, whole: State, canaries: list[Canary]) -> str:
        self.calls.append("router.prepare")
        if self.fail_validate:
            raise ExternalFailure("haproxy -c: the config is invalid")
        text = render_routes(whole, canaries)
        self.validated.append(text)
        self.canaries.append(list(canaries))
        return text

    def switch(self, config: str) -> bool:
        self.calls.append("router.switch")
        if self.fail_switch:
            raise ExternalFailure("haproxy: the reload failed")
        changed = config != self.running
        self.running = config
        self.switched.append(config)
        return changed

    def drain(self) -> bool:
        self.calls.append("router.drain")
        if self.fail_drain:
            raise ExternalFailure("haproxy: the master socket does not answer")
        return self.drained

    def servers(self) -> list[ServerStat]:
        self.calls.append("router.servers")
        return list(self.stats)


# -- time: a clock that never waits ----------------------------------------------------------


@dataclass
class FakeTime:
    """A fixed wall clock and a monotonic one that only ``sleep`` moves (sleeps are recorded).

    ``on_sleep`` is called with the number of sleeps so far, after each one.
    """

    calls: list[str]
    wall: datetime
    ticks: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    on_sleep: Callable[[int], None] | None = None

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.ticks

    def sleep(self, seconds: float) -> None:
        self.calls.append("clock.sleep")
        self.sleeps.append(seconds)
        self.ticks += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))

    def clock(self) -> Clock:
        return Clock(now=self.now, monotonic=self.monotonic, sleep=self.sleep)
