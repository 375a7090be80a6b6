"""Docker Swarm as a rollout's runtime (``ports.Runtime``).

The containers a plan starts at one stage position of a service (one per stack) become one
Swarm service with a task per stack, at most one per node (they share its port): more
stacks than schedulable nodes take several Swarm services. Swarm picks the nodes. Once
every task runs and answers its health check, each container of the state gets its task's
address (node address and the service's port). Removing containers removes the Swarm
services that run them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from pipeline_kit.config_types import Hook, Host, Settings, SmokeCheck
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Operation, Plan
from pipeline_kit.pipeline.effective import configured
from pipeline_kit.pipeline.rollout.docker import first_error, probe_address, run_parallel
from pipeline_kit.pipeline.rollout.ports import Booked, HookRun, Launch, Observe, Routes
from pipeline_kit.runtime import containers as rt
from pipeline_kit.runtime import swarm
from pipeline_kit.runtime.engine import Engines
from pipeline_kit.runtime.placement import image_of, upstreams, used_ports
from pipeline_kit.store.journal import Placed

MANAGER = "swarm"  # the name of the manager's host in ``Engines``


@dataclass(frozen=True)
class Slot:
    """A launch's place in its Swarm service (``Launch.spec``)."""

    group: swarm.Group
    index: int  # 0-based: the task of Swarm slot index + 1

    @property
    def spec(self) -> rt.Spec:
        """The container's own spec (for reports): its id and stack in the group's."""
        return replace(
            self.group.spec, id=self.group.ids[self.index], stack=self.group.stacks[self.index]
        )


@dataclass
class _Handle:
    group: swarm.Group
    began: float
    deadline: float


class SwarmRuntime:
    """Swarm services through the manager; one client for the whole command."""

    def __init__(self, settings: Settings, engines: Engines) -> None:
        self.settings = settings
        self.engines = engines

    @property
    def client(self) -> Any:
        return self.engines.client(MANAGER)

    def place(
        self, plan: Plan, routes: Routes | None, booked: Booked | None = None
    ) -> tuple[list[Launch], list[Placed]]:
        starts = [op for op in plan.operations if op.kind == "start"]
        stops = [op for op in plan.operations if op.kind == "stop"]
        listed = swarm.listed(self.client) if plan.operations else []
        taken = _taken(plan.after, listed)
        if booked is not None and starts:  # ports another rollout holds (under its lock)
            for held in booked([MANAGER]).values():
                taken |= held
        launches: list[Launch] = []
        width = _schedulable(self.client) if starts else 1
        for ops in _grouped(starts, width):
            group = self._group(plan, ops, taken, routes)
            for index, op in enumerate(ops):
                stack = plan.after.services[op.service].stack(op.stack)
                host = stack.host if stack else MANAGER
                launches.append(
                    Launch(op.container, op.service, op.stack, op.position, op.version, host, "",
                           Slot(group, index))
                )  # fmt: skip
        return launches, _stops(plan, stops, listed)

    def _group(
        self, plan: Plan, ops: list[Operation], taken: set[int], routes: Routes | None
    ) -> swarm.Group:
        first, runtime = ops[0], self.settings.runtime
        svc = plan.after.services[first.service]
        manager = runtime.swarm or Host(MANAGER, "unix:///var/run/docker.sock")
        port = rt.free_port(runtime, manager, taken)
        taken.add(port)
        spec = rt.Spec(
            id=first.container,
            service=first.service,
            stack=first.stack,
            version=first.version,
            image=image_of(self.settings, svc.image, first.version),
            host=manager,
            port=port,
            upstreams=upstreams(plan.after, first.service, first.stack, first.position, routes),
            position=first.position,
        )
        spec = configured(self.settings, plan.after, spec)
        health = runtime.health_path if spec.health_path is None else spec.health_path
        stage = self.settings.policy.stage_name(first.position)
        return swarm.Group(
            swarm.service_name(first.service, stage, first.container),
            replace(spec, health_path=health),
            tuple(op.container for op in ops),
            tuple(op.stack for op in ops),
        )

    def start(self, launches: list[Launch]) -> list[Any]:
        deadline = time.monotonic() + self.settings.runtime.health_timeout
        self._login()
        groups = _groups(launches)

        def job(group: swarm.Group) -> Callable[[], None]:
            return lambda: swarm.create(self.client, group)

        began = time.monotonic()
        first_error(run_parallel([job(g) for g in groups.values()]))
        return [_Handle(launch.spec.group, began, deadline) for launch in launches]

    def _login(self) -> None:
        """The registry's credentials, for the nodes' pulls (sent with each new service)."""
        registry = self.settings.registry
        if registry is None or registry.auth is None:
            return
        from pipeline_kit.runtime.engine import failures
        from pipeline_kit.runtime.placement import registry_host

        with failures(f"cannot log in to the registry {registry_host(registry.url)}"):
            self.client.login(**registry.auth, registry=registry_host(registry.url))

    def wait_healthy(
        self, launches: list[Launch], handles: list[Any], observe: Observe | None
    ) -> list[Launch]:
        timeout = self.settings.runtime.health_timeout
        by_group = {h.group.name: h for h in handles}

        def job(handle: _Handle) -> Callable[[], dict[int, str]]:
            def run() -> dict[int, str]:
                group = handle.group
                try:
                    found = swarm.wait_running(self.client, group, handle.deadline, timeout)
                except BaseException as exc:
                    for index in range(len(group.ids)):
                        _observe(observe, Slot(group, index).spec, handle.began, exc)
                    raise
                for index in range(len(group.ids)):
                    spec = _at(Slot(group, index).spec, found[index + 1])
                    _observe(observe, spec, handle.began, None)
                return found

            return run

        results = run_parallel([job(h) for h in by_group.values()])
        first_error(results)
        where = dict(zip(by_group, results, strict=True))
        return [
            replace(launch, address=where[launch.spec.group.name][launch.spec.index + 1])
            for launch in launches
        ]

    def remove(self, placed: Iterable[Placed]) -> int:
        items = list(placed)
        ids = {p.id for p in items}
        if not ids:
            return 0
        names = [found.name for found in swarm.listed(self.client) if ids & set(found.ids)]
        client = self.client

        def job(name: str) -> Callable[[], None]:
            return lambda: swarm.remove(client, name)

        first_error(run_parallel([job(name) for name in names]))
        return len(items)

    def states(self, placed: list[Placed]) -> dict[str, str]:
        return swarm.states(self.client, [p.id for p in placed])

    def probe(self, launch: Launch, check: SmokeCheck) -> str | None:
        return probe_address(launch.address, check)

    def run_hook(self, plan: Plan, service: str, position: int, hook: Hook) -> HookRun:
        from pipeline_kit.pipeline.rollout.swarm_hooks import run_hook

        return run_hook(self.settings, self.client, plan, service, position, hook)


def _observe(
    observe: Observe | None, spec: rt.Spec, began: float, exc: BaseException | None
) -> None:
    if observe is not None:
        observe(spec, time.monotonic() - began, exc)


def _at(spec: rt.Spec, address: str) -> rt.Spec:
    """``spec`` reached at ``address`` (a node's address and the port)."""
    node = address.rsplit(":", 1)[0]
    return replace(spec, host=replace(spec.host, address=node))


def _schedulable(client: Any) -> int:
    """How many nodes take new tasks (ready and active); at least 1."""
    found = swarm.nodes(client).values()
    return max(1, sum(n.state == "ready" and n.availability == "active" for n in found))


def _grouped(starts: list[Operation], width: int) -> list[list[Operation]]:
    """The starts of one position of one service at one version, in stack order, in groups
    of at most ``width``: the tasks of a Swarm service share its port, so it runs at most
    one per node, and more stacks than nodes take several Swarm services."""
    groups: dict[tuple[str, int, str], list[Operation]] = {}
    for op in starts:
        groups.setdefault((op.service, op.position, op.version), []).append(op)
    out = []
    for ops in groups.values():
        ordered = sorted(ops, key=lambda op: op.stack)
        out += [ordered[i : i + width] for i in range(0, len(ordered), width)]
    return out


def _groups(launches: list[Launch]) -> dict[str, swarm.Group]:
    return {launch.spec.group.name: launch.spec.group for launch in launches}


def _taken(state: State, listed: list[swarm.Listed]) -> set[int]:
    """Ports in use anywhere in the Swarm: the state's, and those of labelled services."""
    hosts = {stack.host for svc in state.services.values() for stack in svc.stacks}
    taken = {port for host in hosts for port in used_ports(state, host)}
    return taken | {found.port for found in listed if found.port is not None}


def _stops(plan: Plan, stops: list[Operation], listed: list[swarm.Listed]) -> list[Placed]:
    """The containers that leave; a Swarm service leaves whole or not at all."""
    out = []
    for op in stops:
        old = plan.before.services[op.service].stack(op.stack)
        out.append(
            Placed(op.container, op.service, op.stack, old.host if old else MANAGER, op.version)
        )
    leaving = {p.id for p in out}
    for found in listed:
        kept = set(found.ids) - leaving
        if kept and kept != set(found.ids):
            raise InvalidInput(
                f"on Swarm, {found.name} runs the containers of {len(found.ids)} stacks "
                f"together: {plan.action} would remove some of them only; nothing was changed"
            )
    return out
