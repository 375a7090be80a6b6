"""The HAProxy config of a state: the same state gives the same bytes.

- Per endpoint: a frontend on ``bind:port`` and a backend with the endpoint service's
  containers at the endpoint's stage, one server per stack (round-robin, HTTP health checks
  on ``health_path``).
- Per service-tree edge: a frontend for the child at the edge's stage, on a port of
  ``edge_ports`` derived from the child and stage (stable as edges come and go), so that a
  parent's ``PIPELINE_KIT_UPSTREAM_<CHILD>`` URL survives promotions of the child.
- While a canary runs at a stage, its backend has both versions, weighted.

Names in the config are built only from validated service, endpoint and stage names.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from pipeline_kit.config_types import Lb
from pipeline_kit.health import haproxy_expect
from pipeline_kit.lb.haproxy import global_section
from pipeline_kit.model.items import State
from pipeline_kit.model.policy import Policy

WEIGHT = 100  # a server's weight when no canary runs


@dataclass(frozen=True)
class Canary:
    """A share of a stage's traffic sent to incoming containers (by stack index)."""

    service: str
    position: int
    percent: int
    addresses: Mapping[int, str]  # stack index → the incoming container's address


def edge_ports(
    keys: Iterable[tuple[str, int]], ports: tuple[int, int], taken: Iterable[int] = ()
) -> dict[tuple[str, int], int]:
    """A port per (child, position): a hash of the pair into the range, probing on collision."""
    low, high = ports
    size = high - low + 1
    used = {p - low for p in taken if low <= p <= high}
    out: dict[tuple[str, int], int] = {}
    for child, position in sorted(set(keys)):
        slot = zlib.crc32(f"{child}@{position}".encode()) % size
        for _ in range(size):
            if slot not in used:
                break
            slot = (slot + 1) % size
        else:
            raise ValueError(f"lb.edge_ports {low}-{high} is full")
        used.add(slot)
        out[(child, position)] = low + slot
    return out


def edges(state: State) -> list[tuple[str, int]]:
    """Every (child, position) some service tree routes to."""
    return sorted({(e.child, e.position) for t in state.trees.values() for e in t.edges})


def upstream_ports(state: State, lb: Lb) -> dict[tuple[str, int], int]:
    """The frontend port of every tree edge's child."""
    return edge_ports(edges(state), lb.edge_ports, (e.port for e in state.endpoints.values()))


def _backend_name(service: str, stage: str) -> str:
    return f"be_{service}_{stage}"


def _servers(
    state: State, service: str, position: int, canary: Canary | None
) -> list[tuple[str, str, int]]:
    """(name, address, weight) of the containers at ``position`` of every stack."""
    svc = state.services.get(service)
    out: list[tuple[str, str, int]] = []
    if svc is None:
        return out
    for stack in sorted(svc.stacks, key=lambda s: s.index):
        if position >= stack.height:
            continue
        address = stack.containers[position].address
        if not address:
            continue
        if canary is None:
            out.append((f"s{stack.index}", address, WEIGHT))
            continue
        out.append((f"s{stack.index}", address, WEIGHT - canary.percent))
        incoming = canary.addresses.get(stack.index)
        if incoming:
            out.append((f"s{stack.index}-canary", incoming, canary.percent))
    return out


def _backend(
    name: str, servers: list[tuple[str, str, int]], health_path: str, out: list[str]
) -> None:
    out += [f"backend {name}", "    balance roundrobin"]
    if health_path:
        out += [f"    option httpchk GET {health_path}", f"    {haproxy_expect()}"]
    check = " check" if health_path else ""
    for server, address, weight in servers:
        out.append(f"    server {server} {address}{check} weight {weight}")
    if not servers:
        out.append("    http-request return status 503 content-type text/plain string no-server")
    out.append("")


def render(
    state: State,
    policy: Policy,
    lb: Lb,
    health_path: str,
    canaries: Iterable[Canary] = (),
    paths: Mapping[str, str] | None = None,
) -> str:
    """The whole config (see the module docstring); ``paths``: a service's own health path."""
    own = paths or {}
    service_of: dict[str, str] = {}
    by_stage = {(c.service, c.position): c for c in canaries}
    out = [
        "# Written by pipeline-kit from the state; changes here are overwritten.",
        global_section(lb.folder).rstrip("\n"),
        "",
        "defaults",
        "    mode http",
        "    option redispatch",
        "    retries 3",
        "    retry-on conn-failure empty-response response-timeout",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 2s",
        "    default-server inter 500ms fall 2 rise 1",
        "",
    ]
    backends: dict[str, list[tuple[str, str, int]]] = {}
    for name in sorted(state.endpoints):
        endpoint = state.endpoints[name]
        stage = policy.stage_name(endpoint.position)
        backend = _backend_name(endpoint.service, stage)
        service_of[backend] = endpoint.service
        canary = by_stage.get((endpoint.service, endpoint.position))
        backends[backend] = _servers(state, endpoint.service, endpoint.position, canary)
        out += [
            f"frontend ep_{name}",
            f"    bind {lb.bind}:{endpoint.port}",
            f"    default_backend {backend}",
            "",
        ]
    for (child, position), port in sorted(upstream_ports(state, lb).items()):
        stage = policy.stage_name(position)
        backend = _backend_name(child, stage)
        service_of[backend] = child
        canary = by_stage.get((child, position))
        backends[backend] = _servers(state, child, position, canary)
        out += [
            f"frontend edge_{child}_{stage}",
            f"    bind {lb.bind}:{port}",
            f"    default_backend {backend}",
            "",
        ]
    for backend in sorted(backends):
        path = own.get(service_of[backend], health_path)
        _backend(backend, backends[backend], path, out)
    return "\n".join(out).rstrip("\n") + "\n"
