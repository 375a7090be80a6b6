"""The three systems a rollout drives, as small typed interfaces.

The real ones (``sql``, ``docker``, ``haproxy`` beside this module) wrap the state database,
the Docker engines and HAProxy; in-memory ones in the tests check the order of the steps and
every failure path fast. Both run the very same steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pipeline_kit.config_types import Hook, SmokeCheck
from pipeline_kit.lb.render import Canary
from pipeline_kit.lb.stats import ServerStat
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Policy
from pipeline_kit.store.database import Scope
from pipeline_kit.store.journal import CanaryRecord, Entry, Kept, Placed
from pipeline_kit.store.reservations import Reservation

Routes = tuple[str, dict[tuple[str, int], int]]  # HAProxy's bind address, edge → port
# Hosts → the ports taken on each, their drawing locked until the transaction ends.
Booked = Callable[[list[str]], dict[str, set[int]]]
Observe = Callable[[Any, float, "BaseException | None"], None]  # a spec, seconds, its failure


class Tx(Protocol):
    """One transaction on the state: reads, the journal, and the commit of a plan."""

    def load(self, scope: Scope) -> State: ...

    def load_all(self) -> State: ...

    def routing_keys(self, plan: Plan) -> tuple[list[tuple[str, int]], list[int]]:
        """Every tree edge's (child, position) and every endpoint port, with ``plan`` applied."""
        ...

    def unchanged(self, before: State, services: Iterable[str]) -> bool:
        """Whether the rows of ``services`` still hold what ``before`` says."""
        ...

    def entries(self, services: frozenset[str] | None = None) -> list[Entry]: ...

    def add_entry(
        self,
        services: list[str],
        action: str,
        starts: list[Placed],
        stops: list[Placed],
        now: datetime,
        lease: timedelta,
    ) -> Entry: ...

    def claim_entry(self, entry: Entry, now: datetime, lease: timedelta) -> Entry:
        """This process owns ``entry`` from now on (its lease renewed)."""
        ...

    def set_committed(self, entry_id: str) -> None: ...

    def set_canary(self, entry: Entry, record: CanaryRecord) -> None: ...

    def set_standby(self, entry_id: str, kept: tuple[Kept, ...], until: datetime) -> None:
        """The entry keeps ``kept`` out of rotation until ``until`` (none: it goes)."""
        ...

    def remove_entry(self, entry_id: str) -> None: ...

    def ports_taken(self, hosts: list[str]) -> dict[str, set[int]]:
        """Lock the port drawing of ``hosts`` until the transaction ends; their taken ports."""
        ...

    def reserve_ports(self, items: list[Reservation]) -> None:
        """Reserve these host ports; an error when one is reserved already."""
        ...

    def release_ports(self, containers: list[str]) -> None:
        """Free the ports these containers held."""
        ...

    def apply(self, plan: Plan, policy: Policy, actor: str, now: datetime) -> None: ...

    def write_state(self, before: State, after: State) -> None: ...


class Ledger(Protocol):
    """The state database: write transactions hold the locks of a scope."""

    def write(self, scope: Scope, what: str) -> AbstractContextManager[Tx]: ...

    def read(self, what: str) -> AbstractContextManager[Tx]: ...

    def routing(self, what: str) -> AbstractContextManager[Tx]:
        """A write transaction holding the one lock of the routing of the whole state."""
        ...


@dataclass(frozen=True)
class Launch:
    """A container to start, where its plan puts it."""

    id: str
    service: str
    stack: int
    position: int
    version: str
    host: str
    address: str
    spec: Any  # the runtime's own description (a docker spec, or a fake's)

    def placed(self) -> Placed:
        return Placed(self.id, self.service, self.stack, self.host, self.version)

    def reservation(self) -> Reservation | None:
        """The host port it holds (None without one)."""
        tail = self.address.rpartition(":")[2]
        if not tail.isdigit():
            return None
        return Reservation(self.host, int(tail), self.id, self.service)


@dataclass(frozen=True)
class Checked:
    """A hook or a smoke check a rollout ran, as the command reports it."""

    stage: str
    kind: str  # "hook" or "smoke"
    name: str
    ok: bool
    message: str  # the answer, or the hook's last output lines (secrets masked)
    seconds: float


@dataclass(frozen=True)
class HookRun:
    """How a hook ended: its exit code (None: stopped at its timeout) and last lines."""

    code: int | None
    output: str


class Runtime(Protocol):
    """Where containers run."""

    def place(
        self, plan: Plan, routes: Routes | None, booked: Booked | None = None
    ) -> tuple[list[Launch], list[Placed]]:
        """The containers ``plan`` starts (each with a host and a free port, none of those
        ``booked`` says are taken) and stops."""
        ...

    def start(self, launches: list[Launch]) -> list[Any]:
        """Start them all; a handle each. On a failure, raise after trying every one."""
        ...

    def wait_healthy(
        self, launches: list[Launch], handles: list[Any], observe: Observe | None
    ) -> list[Launch] | None:
        """Wait until each answers its health check; raise the first failure. The launches
        with the addresses they answered at when the runtime chose them (a cluster's
        scheduler), else None: they answer where they were placed."""
        ...

    def remove(self, placed: Iterable[Placed]) -> int:
        """Remove these containers (absent ones are fine); how many were asked for."""
        ...

    def probe(self, launch: Launch, check: SmokeCheck) -> str | None:
        """Ask a new container ``check``'s request: None when it answers as expected, else
        what it answered."""
        ...

    def states(self, placed: list[Placed]) -> dict[str, str]:
        """Per container id: ``running``, ``unhealthy``, ``restarted`` (runs again after it
        stopped), ``restarting``, ``exited``, … or ``missing`` when its host does not run it."""
        ...

    def run_hook(self, plan: Plan, service: str, position: int, hook: Hook) -> HookRun:
        """Run ``hook`` once in a one-off container of the version ``plan`` puts at
        ``position``, with that stage's configuration; output with secrets masked."""
        ...


@dataclass(frozen=True)
class Switched:
    changed: bool  # False: HAProxy already ran this config
    drained: bool  # the previous generation's connections finished in time


class Router(Protocol):
    """The load balancer in front of the endpoints."""

    enabled: bool
    drain_seconds: float

    def routes(self, edges: list[tuple[str, int]], taken: list[int]) -> Routes | None:
        """Where a parent reaches each child: HAProxy's bind address and edge ports."""
        ...

    def render(self, whole: State, canaries: list[Canary]) -> str:
        """The config of ``whole`` (not validated)."""
        ...

    def prepare(self, whole: State, canaries: list[Canary]) -> str:
        """The config of ``whole``, validated; HAProxy keeps running what it runs."""
        ...

    def switch(self, config: str) -> bool:
        """Run ``config`` (already validated): start or reload seamlessly; False if it ran it."""
        ...

    def drain(self) -> bool:
        """Wait for the previous generation's connections; False if some are still open."""
        ...

    def servers(self) -> list[ServerStat]:
        """Every server's status and counters, as the load balancer reports them now."""
        ...
