"""The HAProxy config rendered from a state: deterministic, complete, and accepted by haproxy."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline_kit.config_types import Lb
from pipeline_kit.lb.render import Canary, edge_ports, render, upstream_ports
from pipeline_kit.model.items import Container, Edge, Endpoint, Service, Stack, State, Tree
from pipeline_kit.model.policy import Policy
from tests.model_helpers import T0

POLICY = Policy()


def service(name: str, stacks: int, versions: tuple[str, ...], port: int) -> Service:
    """Containers with addresses 127.0.0.1:(port + 10 * stack + position)."""

    def container(index: int, pos: int, version: str) -> Container:
        address = f"127.0.0.1:{port + 10 * index + pos}"
        return Container(f"{name}{index}{pos}", version, T0, address=address)

    return Service(
        name,
        f"example/{name}",
        tuple(
            Stack(index, "local", tuple(container(index, p, v) for p, v in enumerate(versions)))
            for index in range(stacks)
        ),
    )


def sample(reverse: bool = False) -> State:
    services = [service("webapp", 2, ("1.0.0", "1.1.0", "1.2.0"), 21000),
                service("api", 2, ("2.0.0", "2.1.0", "2.2.0"), 22000)]  # fmt: skip
    endpoints = [Endpoint("web", "webapp", 8080, 0), Endpoint("web-qa", "webapp", 8081, 1)]
    trees = [Tree("webapp", p, (Edge("webapp", "api", p),)) for p in range(3)]
    if reverse:
        services, endpoints, trees = services[::-1], endpoints[::-1], trees[::-1]
    return State(
        {s.name: s for s in services}, {e.name: e for e in endpoints}, {t.key: t for t in trees}
    )


def lb(tmp_path: Path) -> Lb:
    return Lb(enabled=True, folder=tmp_path / "haproxy")


def test_same_state_same_bytes(tmp_path: Path) -> None:
    assert render(sample(), POLICY, lb(tmp_path), "/health") == render(
        sample(reverse=True), POLICY, lb(tmp_path), "/health"
    )


def test_endpoints_and_edges(tmp_path: Path) -> None:
    text = render(sample(), POLICY, lb(tmp_path), "/health")
    assert "frontend ep_web\n    bind 127.0.0.1:8080\n    default_backend be_webapp_prod\n" in text
    assert "frontend ep_web-qa\n    bind 127.0.0.1:8081\n    default_backend be_webapp_qa\n" in text
    assert (
        "backend be_webapp_prod\n    balance roundrobin\n    option httpchk GET /health\n"
        "    http-check expect status 200-299\n"
        "    server s0 127.0.0.1:21000 check weight 100\n"
        "    server s1 127.0.0.1:21010 check weight 100\n"
    ) in text
    ports = upstream_ports(sample(), lb(tmp_path))
    assert set(ports) == {("api", 0), ("api", 1), ("api", 2)}
    for (child, position), port in ports.items():
        stage = POLICY.stage_name(position)
        assert f"frontend edge_{child}_{stage}\n    bind 127.0.0.1:{port}\n" in text
        assert 31000 <= port <= 31999
    assert "    server s1 127.0.0.1:22011 check weight 100\n" in text  # api at qa, stack 1


def test_edge_ports_are_stable_and_avoid_taken_ports() -> None:
    keys = [("api", 0), ("api", 1), ("db", 0)]
    first = edge_ports(keys, (31000, 31999))
    assert edge_ports([*keys, ("cache", 2)], (31000, 31999))["api", 0] == first["api", 0]
    assert len(set(first.values())) == 3
    crowded = edge_ports([("a", 0), ("b", 0)], (40000, 40002), taken=[40001])
    assert sorted(crowded.values()) == [40000, 40002]
    with pytest.raises(ValueError, match="full"):
        edge_ports([("a", 0), ("b", 0), ("c", 0)], (40000, 40002), taken=[40001])


def test_canary_weights_and_missing_addresses(tmp_path: Path) -> None:
    canary = Canary("webapp", 0, 10, {0: "127.0.0.1:23000", 1: "127.0.0.1:23001"})
    text = render(sample(), POLICY, lb(tmp_path), "/health", [canary])
    assert "    server s0 127.0.0.1:21000 check weight 90\n" in text
    assert "    server s0-canary 127.0.0.1:23000 check weight 10\n" in text
    bare = State(
        {"webapp": Service("webapp", "example/webapp",
                           (Stack(0, "local", (Container("x", "1.0.0", T0),)),))},
        {"web": Endpoint("web", "webapp", 8080, 0)},
    )  # fmt: skip
    assert "http-request return status 503" in render(bare, POLICY, lb(tmp_path), "/health")


def test_haproxy_accepts_the_rendered_config(tmp_path: Path) -> None:
    path = tmp_path / "haproxy.cfg"
    path.write_text(render(sample(), POLICY, lb(tmp_path), "/health"))
    done = subprocess.run(
        ["haproxy", "-c", "-q", "-f", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_a_service_checks_on_its_own_health_path(tmp_path: Path) -> None:
    text = render(sample(), POLICY, lb(tmp_path), "/health", (), {"api": "/ready"})
    blocks = {b.split("\n", 1)[0]: b for b in text.split("\n\n") if b.startswith("backend ")}
    assert "option httpchk GET /health\n" in blocks["backend be_webapp_prod"]
    assert all(
        "option httpchk GET /ready\n" in block
        for name, block in blocks.items()
        if name.startswith("backend be_api_")
    )
