"""Two runner processes promote two services at once on a shared PostgreSQL state, with real
containers behind a real HAProxy: no two containers ever draw one host port, and once both
are done HAProxy runs the config of the whole committed state (both results)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests

from pipeline_kit.lb.haproxy import HAProxy
from pipeline_kit.store import reservations
from pipeline_kit.store.database import Store
from tests.conftest import CLI
from tests.test_lb_promote import free_port
from tests.test_runtime import clean, webapp_repository  # noqa: F401

PAIRS = 20
SERVICES = ("webapp", "api")
STACKS = 1
# A narrow range: 6 containers run and each pair of promotions starts 2 more at once; drawn
# at random from the few free ports without reservations, both would often pick the same.
CONFIG = """\
stages = ["prod", "qa", "dev"]
network = "host"
health_path = "/health"
health_timeout = "30s"
ports = "29400-29409"

[registry]
url = "{registry}"
insecure = true

[[hosts]]
name = "local"
url = "{engine}"

[lb]
enabled = true
dir = "haproxy"
edge_ports = "32000-32999"
drain = "5s"
"""


@pytest.fixture
def shared(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    docker_url: str,
    registry_url: str,
    webapp_repository: str,  # noqa: F811
    clean: None,  # noqa: F811
    postgres_url: str,
    cli: CLI,
) -> Iterator[tuple[Path, dict[str, str]]]:
    """webapp and api (a stack each, one host) behind HAProxy; the state on PostgreSQL."""
    folder = tmp_path / "project"
    folder.mkdir()
    text = CONFIG.format(registry=registry_url, engine=docker_url)
    (folder / "pipeline-kit.toml").write_text(text)
    monkeypatch.chdir(folder)
    for key in ("GITHUB_ACTIONS", "PIPELINE_KIT_CONFIG", "PIPELINE_KIT_KILL_AT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("USER", "tester")
    monkeypatch.setenv("PIPELINE_KIT_DB", postgres_url)
    urls = {name: f"http://127.0.0.1:{free_port()}/" for name in SERVICES}
    try:
        assert cli("init").code == 0
        for name in SERVICES:
            add = ("service", "add", name, "--image", webapp_repository, "--stacks", str(STACKS))
            result = cli(*add, "--version", "1.0.0")
            assert result.code == 0, result.err
            port = urls[name].rsplit(":", 1)[1].strip("/")
            endpoint = ("endpoint", "add", f"{name}-site", "--service", name, "--port", port)
            result = cli(*endpoint, "--stage", "prod")
            assert result.code == 0, result.err
        yield folder, urls
    finally:
        HAProxy(folder / "haproxy").stop()


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline_kit", *args],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _containers(cli: CLI, stage: str | None = None) -> dict[str, tuple[str, str, str]]:
    """Container id → (service, version, address), from the state (of ``stage``)."""
    shown = json.loads(cli("show", "containers", "--json").out)
    return {
        c["id"]: (svc["name"], c["version"], c["address"])
        for svc in shown
        for stack in svc["stacks"]
        for c in stack["containers"]
        if stage in (None, c["stage"])
    }


def _check_ports(cli: CLI, client: docker.DockerClient, db_url: str) -> None:
    """Every container holds its own port: in the state, the reservations and on the host."""
    recorded = _containers(cli)
    store = Store(db_url)
    try:
        with store.read() as session:
            held = reservations.reserved(session)
    finally:
        store.dispose()
    ports = {cid: int(address.rsplit(":", 1)[1]) for cid, (_, _, address) in recorded.items()}
    assert len(set(ports.values())) == len(ports) == len(SERVICES) * STACKS * 3
    assert {r.container: r.port for r in held} == ports  # each one's, none left behind
    running = client.containers.list(filters={"label": "io.pipeline-kit.service"})
    labels = {
        c.labels["io.pipeline-kit.id"]: int(c.labels["io.pipeline-kit.port"]) for c in running
    }
    assert labels == ports
    for service, version, address in recorded.values():  # the one listening is that container
        assert requests.get(f"http://{address}/", timeout=5).text.strip() == f"{service} {version}"


@pytest.mark.slow
@pytest.mark.postgresql
def test_two_runners_promote_two_services_at_once(
    shared: tuple[Path, dict[str, str]],
    cli: CLI,
    docker_client: docker.DockerClient,
    postgres_url: str,
) -> None:
    folder, urls = shared
    proxy = HAProxy(folder / "haproxy")
    before = {a for _, _, a in _containers(cli, "prod").values()}
    for pair in range(PAIRS):
        procs = [_spawn("promote", name, "--to", "prod") for name in SERVICES]
        done = []
        try:
            for proc in procs:
                _, err = proc.communicate(timeout=180)
                done.append((proc.returncode, err))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        assert all(code == 0 for code, _ in done), (pair, done)
        rendered = cli("lb", "render")
        assert rendered.code == 0, rendered.err
        assert proxy.current() == rendered.out, pair  # HAProxy runs the committed state
        # Each promotion moved its qa containers into prod: HAProxy's workers serve both.
        prod = {a for _, _, a in _containers(cli, "prod").values()}
        assert len(prod) == len(SERVICES) * STACKS and prod.isdisjoint(before), pair
        assert {s.address for s in proxy.stats()} == prod, pair
        before = prod
        _check_ports(cli, docker_client, postgres_url)
    history = json.loads(cli("show", "history", "--json").out)
    assert sum(h["action"] == "promote" for h in history) == 2 * PAIRS
    for name, url in urls.items():
        assert requests.get(url, timeout=5).text.strip() == f"{name} 1.0.0"
