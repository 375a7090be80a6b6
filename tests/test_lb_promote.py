"""Endpoints through a real HAProxy in front of real containers: switches drop no request."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from pipeline_kit.lb.haproxy import HAProxy
from tests.conftest import CLI
from tests.support.docker import labelled
from tests.support.load import Load, failures, rate, share, since, summary
from tests.test_runtime import clean, webapp_repository, write_config  # noqa: F401

LB = """
[lb]
enabled = true
dir = "haproxy"
edge_ports = "32000-32999"
drain = "10s"
"""
RATE = 250.0
OLD, NEW = "webapp 1.0.0", "webapp 1.1.0"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def routed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    docker_url: str,
    registry_url: str,
    webapp_repository: str,  # noqa: F811
    clean: None,  # noqa: F811
    cli: CLI,
) -> Iterator[tuple[Path, str]]:
    """webapp on 2 stacks, prod 1.0.0 and qa/dev 1.1.0, endpoint web on prod via HAProxy."""
    folder = tmp_path / "project"
    folder.mkdir()
    write_config(folder, docker_url, registry_url)
    with (folder / "pipeline-kit.toml").open("a") as config:
        config.write(LB)
    monkeypatch.chdir(folder)
    for key in ("GITHUB_ACTIONS", "PIPELINE_KIT_CONFIG", "PIPELINE_KIT_KILL_AT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PIPELINE_KIT_DB", f"sqlite:///{tmp_path / 'state.db'}")
    url = f"http://127.0.0.1:{free_port()}/"
    port = url.rsplit(":", 1)[1].strip("/")
    steps = [
        ("service", "add", "webapp", "--image", webapp_repository, "--stacks", "2",
         "--version", "1.0.0"),
        ("endpoint", "add", "web", "--service", "webapp", "--port", port, "--stage", "prod"),
        ("promote", "webapp", "1.1.0", "--to", "qa"),
        ("promote", "webapp", "--to", "qa"),
    ]  # fmt: skip
    try:
        for args in steps:
            result = cli(*args)
            assert result.code == 0, result.err
        yield folder, url
    finally:
        HAProxy(folder / "haproxy").stop()


def stages(cli: CLI) -> dict[str, str]:
    shown: dict[str, str] = json.loads(cli("show", "services", "--json").out)[0]["stages"]
    return shown


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a process of its own, so that the load keeps its pace."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline_kit", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
        check=False,
    )


def switch_under_load(url: str, args: tuple[str, ...], before: str, after: str) -> str:
    """Run the command under load: no failure, old or new only, all new 1 s after it returns.
    The load's summary."""
    with Load(url, rate=RATE, max_requests=40_000, max_seconds=120) as load:
        time.sleep(1.0)
        done = run(*args)
        returned = time.monotonic()
        time.sleep(2.0)
    samples = load.stop()
    assert done.returncode == 0, done.stderr
    assert failures(samples) == [], summary(samples)
    assert {s.body for s in samples} <= {before, after}, summary(samples)
    late = since(samples, returned + 1.0)
    assert late and {s.body for s in late} == {after}, summary(late)
    assert rate(samples) >= 200, summary(samples)
    return summary(samples)


def test_promote_to_prod_and_rollback_drop_no_request(
    routed: tuple[Path, str], cli: CLI, docker_client: docker.DockerClient
) -> None:
    _, url = routed
    assert requests.get(url, timeout=5).text.strip() == OLD
    switch_under_load(url, ("promote", "webapp", "--to", "prod"), OLD, NEW)
    assert stages(cli)["prod"] == "1.1.0"
    switch_under_load(url, ("rollback", "webapp"), NEW, OLD)
    assert stages(cli)["prod"] == "1.0.0"
    # Old containers are gone once drained: the hosts run exactly what the state says.
    assert cli("verify").code == 0
    assert len(labelled(docker_client)) == 6


def test_lb_render_apply_status(routed: tuple[Path, str], cli: CLI) -> None:
    folder, _ = routed
    rendered = cli("lb", "render")
    assert rendered.code == 0
    assert rendered.out == (folder / "haproxy" / "haproxy.cfg").read_text()
    assert cli("lb", "render").out == rendered.out  # the same state, the same bytes
    again = cli("lb", "apply")
    assert again.code == 0 and "already runs this config" in again.out
    deadline = time.monotonic() + 10
    while True:
        status = json.loads(cli("lb", "status", "--json").out)
        prod = [s for s in status if s["backend"] == "be_webapp_prod"]
        if {s["status"] for s in prod} == {"UP"} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(s["server"] for s in prod) == ["s0", "s1"]
    assert {s["status"] for s in prod} == {"UP"}


def test_a_config_haproxy_rejects_changes_nothing(
    routed: tuple[Path, str],
    cli: CLI,
    monkeypatch: pytest.MonkeyPatch,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    folder, url = routed
    live = (folder / "haproxy" / "haproxy.cfg").read_text()
    before = cli("state", "export", str(tmp_path / "before.json"))
    assert before.code == 0
    containers = sorted(labelled(docker_client))
    monkeypatch.setenv("PIPELINE_KIT_LB__BIND", "999.0.0.1")  # haproxy -c refuses this address
    result = cli("promote", "webapp", "--to", "prod")
    assert result.code == 3
    assert "haproxy rejected the config" in result.err
    assert result.err.count("error:") == 1
    monkeypatch.delenv("PIPELINE_KIT_LB__BIND")
    assert cli("state", "export", str(tmp_path / "after.json")).code == 0
    assert (tmp_path / "before.json").read_text() == (tmp_path / "after.json").read_text()
    assert (folder / "haproxy" / "haproxy.cfg").read_text() == live
    assert sorted(labelled(docker_client)) == containers
    assert requests.get(url, timeout=5).text.strip() == OLD


def test_canary_share_then_abort_then_continue(
    routed: tuple[Path, str], cli: CLI, docker_client: docker.DockerClient
) -> None:
    _, url = routed
    with Load(url, rate=RATE, max_requests=40_000, max_seconds=120) as load:
        time.sleep(0.5)
        started = run("promote", "webapp", "--to", "prod", "--canary", "10")
        time.sleep(0.5)
    assert started.returncode == 0, started.stderr
    assert failures(load.stop()) == [], summary(load.samples)
    (web,) = json.loads(cli("show", "endpoints", "--json").out)
    assert web["weights"] == {"1.0.0": 90, "1.1.0": 10}, started.stdout + started.stderr
    assert stages(cli)["prod"] == "1.0.0"  # nothing is committed during a canary
    busy = cli("promote", "webapp", "--to", "qa")
    assert busy.code == 3 and "canary" in busy.err  # other changes to webapp wait
    with Load(url, rate=RATE, max_requests=1200, max_seconds=30) as load:
        assert load.wait(60)
    samples = load.stop()
    assert len(samples) >= 1000 and failures(samples) == [], summary(samples)
    assert 0.05 <= share(samples, NEW) <= 0.15, summary(samples)
    switch_under_load(url, ("promote", "webapp", "--abort"), NEW, OLD)
    (web,) = json.loads(cli("show", "endpoints", "--json").out)
    assert web["weights"] == {"1.0.0": 100}
    assert cli("verify").code == 0 and len(labelled(docker_client)) == 6
    assert run("promote", "webapp", "--to", "prod", "--canary", "10").returncode == 0
    switch_under_load(url, ("promote", "webapp", "--continue"), OLD, NEW)
    assert stages(cli)["prod"] == "1.1.0"
    assert cli("verify").code == 0 and len(labelled(docker_client)) == 6


def test_upstream_urls_point_at_the_edge_frontends(
    routed: tuple[Path, str],
    cli: CLI,
    docker_client: docker.DockerClient,
    webapp_repository: str,  # noqa: F811
) -> None:
    added = cli("service", "add", "api", "--image", webapp_repository, "--version", "1.2.0")
    assert added.code == 0, added.err
    assert cli("connect", "webapp", "--child", "api", "--endpoint", "web").code == 0
    assert cli("promote", "webapp", "1.1.0", "--to", "dev").code == 0  # new dev containers
    rendered = cli("lb", "render").out
    assert "frontend edge_api_dev" in rendered
    ids = {x["id"] for x in _containers(cli, "dev")}
    running = docker_client.containers.list(filters={"label": "io.pipeline-kit.service=webapp"})
    dev = [c for c in running if c.labels["io.pipeline-kit.id"] in ids]
    assert len(dev) == 2
    for container in dev:
        env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
        upstream = env["PIPELINE_KIT_UPSTREAM_API"]
        assert upstream.startswith("http://127.0.0.1:32")  # the edge_ports range
        assert f"bind 127.0.0.1:{upstream.rsplit(':', 1)[1]}" in rendered
        assert requests.get(upstream + "/", timeout=5).text.strip() == "api 1.2.0"


def _containers(cli: CLI, stage: str) -> list[dict[str, str]]:
    shown = json.loads(cli("show", "containers", "webapp", "--json").out)[0]
    return [c for s in shown["stacks"] for c in s["containers"] if c["stage"] == stage]


def test_deploy_renews_a_changed_configuration_without_dropping_a_request(
    routed: tuple[Path, str], cli: CLI, docker_client: docker.DockerClient
) -> None:
    folder, url = routed
    with (folder / "pipeline-kit.toml").open("a") as config:
        config.write('\n[services.webapp]\nenv = { GREETING = "hello" }\n')
    drift = cli("verify")
    assert drift.code == 1 and drift.out.count("config: pk-webapp-") == 6, drift.out
    before = set(labelled(docker_client))
    switch_under_load(url, ("deploy",), OLD, f"{OLD}\nhello")
    assert cli("verify").code == 0
    assert set(labelled(docker_client)).isdisjoint(before)  # every container renewed
    assert stages(cli) == {"prod": "1.0.0", "qa": "1.1.0", "dev": "1.1.0"}


def _edge_ports(rendered: str, child: str) -> dict[str, str]:
    """stage → the port of the frontend of ``child`` at that stage, from ``lb render``."""
    out, current = {}, None
    for line in rendered.splitlines():
        if line.startswith(f"frontend edge_{child}_"):
            current = line.split(f"edge_{child}_", 1)[1].strip()
        elif current and line.strip().startswith("bind "):
            out[current] = line.strip().split()[1].rsplit(":", 1)[1]
            current = None
    return out


def test_every_parent_container_calls_the_child_of_its_own_stage(
    routed: tuple[Path, str],
    cli: CLI,
    docker_client: docker.DockerClient,
    webapp_repository: str,  # noqa: F811
) -> None:
    steps = [
        ("service", "add", "api", "--image", webapp_repository, "--version", "1.0.0"),
        ("promote", "api", "1.1.0", "--to", "qa"),
        ("connect", "webapp", "--child", "api", "--endpoint", "web"),
        ("deploy",),  # the containers running before the edge get its URL: config drift
        ("promote", "webapp", "1.2.0", "--to", "prod"),
        ("promote", "webapp", "--to", "qa"),
    ]
    for args in steps:
        done = cli(*args)
        assert done.code == 0, f"{args}: {done.err}"
    assert cli("verify").code == 0
    ports = _edge_ports(cli("lb", "render").out, "api")
    assert set(ports) == {"prod", "qa", "dev"}
    api = json.loads(cli("show", "services", "api", "--json").out)[0]["stages"]
    for stage in ("prod", "qa", "dev"):
        ids = {x["id"] for x in _containers(cli, stage)}
        running = docker_client.containers.list(filters={"label": "io.pipeline-kit.service=webapp"})
        mine = [c for c in running if c.labels["io.pipeline-kit.id"] in ids]
        assert len(mine) == 2
        for container in mine:
            env = dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])
            upstream = env["PIPELINE_KIT_UPSTREAM_API"]
            assert upstream == f"http://127.0.0.1:{ports[stage]}", (stage, upstream)
            answer = requests.get(upstream + "/", timeout=5).text.strip()
            assert answer == f"api {api[stage]}"
