"""From a plan's operations to container specs: host, image reference, port and upstreams."""

from __future__ import annotations

from collections.abc import Callable

from pipeline_kit.config_types import Host, Runtime, Settings
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.registry import docker_tag, image_reference
from pipeline_kit.runtime import containers as rt
from pipeline_kit.runtime.engine import Engines
from pipeline_kit.store.journal import Placed


def registry_host(url: str) -> str:
    """``host[:port]`` of a registry URL such as ``https://registry.example.com/``."""
    return url.split("://", 1)[-1].rstrip("/")


def image_of(settings: Settings, image: str, version: str) -> str:
    """``REGISTRY/IMAGE:TAG`` of a service's version."""
    host = registry_host(settings.registry.url) if settings.registry else None
    return image_reference(host, image, docker_tag(version))


def port_of(address: str | None) -> int | None:
    if not address or ":" not in address:
        return None
    tail = address.rsplit(":", 1)[1]
    return int(tail) if tail.isdigit() else None


def used_ports(state: State, host: str) -> set[int]:
    """Ports the state records for containers on ``host``."""
    used = set()
    for service in state.services.values():
        for stack in service.stacks:
            if stack.host != host:
                continue
            for c in stack.containers:
                port = port_of(c.address)
                if port is not None:
                    used.add(port)
    return used


Routes = tuple[str, dict[tuple[str, int], int]]  # HAProxy's bind address, edge → port


def upstreams(
    state: State, service: str, stack: int, position: int, routes: Routes | None = None
) -> dict[str, str]:
    """Child service → URL, for the container of ``service`` at ``position`` of a stack.

    The children are those of the service trees at that stage. Behind HAProxy (``routes``)
    the URL is the frontend of the edge; otherwise the address of the child's container at
    the edge's position, on the stack with the same index when the child has one, else on
    its first stack.
    """
    out: dict[str, str] = {}
    for tree in state.trees.values():
        if tree.position != position:
            continue
        for edge in tree.edges:
            if edge.parent != service:
                continue
            if routes is not None and (edge.child, edge.position) in routes[1]:
                out[edge.child] = f"http://{routes[0]}:{routes[1][(edge.child, edge.position)]}"
                continue
            child = state.services.get(edge.child)
            if child is None or not child.stacks:
                continue
            target = child.stack(stack) or child.stacks[0]
            if edge.position < target.height:
                address = target.containers[edge.position].address
                if address:
                    out[edge.child] = f"http://{address}"
    return out


class Ports:
    """Free ports per host: those the state records, those ``booked`` (reserved in the state
    database) and those the host's labelled containers use are taken, and so is every port
    handed out here."""

    def __init__(
        self,
        runtime: Runtime,
        engines: Engines,
        state: State,
        booked: dict[str, set[int]] | None = None,
    ) -> None:
        self.runtime, self.engines, self.state = runtime, engines, state
        self._booked = booked or {}
        self._taken: dict[str, set[int]] = {}

    def take(self, host: Host, wanted: int | None = None) -> int:
        taken = self._taken.get(host.name)
        if taken is None:
            running = rt.found(self.engines.client(host.name), host.name)
            taken = used_ports(self.state, host.name) | {
                f.port for f in running if f.port is not None
            }
            taken |= self._booked.get(host.name, set())
            self._taken[host.name] = taken
        port = wanted or rt.free_port(self.runtime, host, taken)
        taken.add(port)
        return port


def spec_of(
    settings: Settings,
    ports: Ports,
    state: State,
    service: str,
    stack: int,
    position: int,
    container: str,
    version: str,
    port: int | None = None,
    routes: Routes | None = None,
) -> rt.Spec:
    """The spec of one container of ``state``: its host, image, a port and its upstreams."""
    svc = state.services[service]
    host = host_of(settings, state, service, stack)
    return rt.Spec(
        id=container,
        service=service,
        stack=stack,
        version=version,
        image=image_of(settings, svc.image, version),
        host=host,
        port=ports.take(host, port),
        upstreams=upstreams(state, service, stack, position, routes),
        position=position,
    )


def host_of(settings: Settings, state: State, service: str, stack: int) -> Host:
    """The host a stack of ``state`` runs on."""
    placed = state.services[service].stack(stack)
    return settings.runtime.host(placed.host if placed else "local")


def specs_for(
    plan: Plan,
    settings: Settings,
    engines: Engines,
    routes: Routes | None = None,
    booked: Callable[[list[str]], dict[str, set[int]]] | None = None,
) -> tuple[list[rt.Spec], list[Placed]]:
    """The containers to start (with a free port each) and those to stop. ``booked`` gives
    the ports taken on the hosts it starts containers on (all asked at once, in one call)."""
    starts = [op for op in plan.operations if op.kind != "stop"]
    hosts = sorted({host_of(settings, plan.after, op.service, op.stack).name for op in starts})
    taken = booked(hosts) if booked is not None and hosts else None
    ports = Ports(settings.runtime, engines, plan.after, taken)
    specs: list[rt.Spec] = []
    stops: list[Placed] = []
    for op in plan.operations:
        if op.kind == "stop":
            old = plan.before.services[op.service].stack(op.stack)
            where = old.host if old else "local"
            stops.append(Placed(op.container, op.service, op.stack, where, op.version))
        else:
            specs.append(
                spec_of(
                    settings,
                    ports,
                    plan.after,
                    op.service,
                    op.stack,
                    op.position,
                    op.container,
                    op.version,
                    routes=routes,
                )
            )
    return specs, stops
