"""An endpoint's port is this HAProxy's alone, and one rule says what a healthy answer is.

A second process listening on an endpoint's port (another checkout's HAProxy, a leftover
demo) is refused by ``endpoint add`` and ``lb apply`` (exit 2, naming the port), and the
rendered config binds without ``SO_REUSEPORT`` so that no process can join it later. A
``/health`` that answers 204 passes the start check and HAProxy's check alike.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
import requests

from pipeline_kit.health import healthy
from pipeline_kit.lb.haproxy import HAProxy
from tests.conftest import CLI
from tests.support.docker import busybox_path
from tests.test_lb_promote import free_port
from tests.test_runtime import clean, write_config  # noqa: F401

pytestmark = pytest.mark.slow  # haproxy must be installed: bash scripts/setup.sh test

LB = """
[lb]
enabled = true
dir = "haproxy"
edge_ports = "33000-33999"
drain = "5s"
"""

Snapshot = Callable[[], str]


@contextlib.contextmanager
def squatter(port: int) -> Iterator[socket.socket]:
    """A process-level listener on ``port`` the way HAProxy binds by default (SO_REUSEPORT)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield sock
    finally:
        sock.close()


@contextlib.contextmanager
def other_haproxy(folder: Path, port: int) -> Iterator[HAProxy]:
    """Another HAProxy (another checkout's) listening on ``port`` with its defaults."""
    proxy = HAProxy(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = (
        f"global\n    stats socket {folder / 'stats.sock'} mode 600 level admin "
        "expose-fd listeners\n\n"
        "defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n"
        "    timeout server 5s\n\n"
        f"frontend demo\n    bind 127.0.0.1:{port}\n"
        "    http-request return status 200 content-type text/plain string demo\n"
    )
    proxy.apply(text)
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def balanced(project: Path, cli: CLI) -> Iterator[Path]:
    """webapp in the state (no engine: nothing runs), HAProxy enabled in ``project``."""
    with (project / "pipeline-kit.toml").open("a") as config:
        config.write(LB)
    assert cli("init").code == 0
    add = ("service", "add", "webapp", "--image", "example/webapp", "--version", "1.0.0")
    assert cli(*add).code == 0
    try:
        yield project
    finally:
        HAProxy(project / "haproxy").stop()


def _add_endpoint(cli: CLI, port: int) -> tuple[int, str]:
    args = ("endpoint", "add", "web", "--service", "webapp", "--port", str(port))
    result = cli(*args, "--stage", "prod")
    return result.code, (result.out + result.err).strip()


@pytest.mark.parametrize("kind", ["haproxy", "socket"])
def test_endpoint_add_refuses_a_port_another_process_listens_on(
    balanced: Path, cli: CLI, snapshot: Snapshot, tmp_path: Path, kind: str
) -> None:
    port = free_port()
    before = snapshot()
    holder = other_haproxy(tmp_path / "other", port) if kind == "haproxy" else squatter(port)
    with holder:
        code, text = _add_endpoint(cli, port)
    assert code == 2, text
    assert len(text.splitlines()) == 1 and "Traceback" not in text
    assert f"127.0.0.1:{port}" in text and "another process" in text
    if kind == "haproxy":
        assert "haproxy (pid " in text
    assert snapshot() == before


def test_lb_apply_refuses_a_port_another_process_took_and_ours_are_fine(
    balanced: Path, cli: CLI
) -> None:
    port = free_port()
    code, text = _add_endpoint(cli, port)
    assert code == 0, text
    ours = HAProxy(balanced / "haproxy")
    assert ours.running()
    # Our HAProxy holds the port: applying again is fine, and nobody can join it there.
    again = cli("lb", "apply")
    assert again.code == 0, again.err
    with pytest.raises(OSError), squatter(port):
        pass
    # Our HAProxy gone, a leftover process takes the port: lb apply names it, exit 2.
    ours.stop()
    with squatter(port):
        refused = cli("lb", "apply")
        assert refused.code == 2, refused.out + refused.err
        assert f"127.0.0.1:{port}" in refused.err and "another process" in refused.err
        assert not ours.running()
    started = cli("lb", "apply")
    assert started.code == 0 and "started" in started.out, started.err


def test_the_rendered_config_binds_without_reuseport(balanced: Path, cli: CLI) -> None:
    assert _add_endpoint(cli, free_port())[0] == 0
    rendered = cli("lb", "render").out
    global_section = rendered.split("\ndefaults\n", 1)[0]
    assert "\n    noreuseport\n" in global_section


def test_one_rule_for_a_healthy_answer() -> None:
    assert healthy(200) and healthy(204) and healthy(299)
    assert not healthy(199) and not healthy(301) and not healthy(500)


NO_CONTENT = "1.0.0"


@pytest.fixture(scope="module")
def no_content_repository(
    docker_client: docker.DockerClient, registry_url: str, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """An image whose /cgi-bin/health answers 204 No Content and / its name."""
    folder = tmp_path_factory.mktemp("nocontent")
    subprocess.run(["cp", busybox_path(), str(folder / "busybox")], check=True)
    (folder / "health").write_text('#!/bin/sh\nprintf "Status: 204 No Content\\r\\n\\r\\n"\n')
    (folder / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        "COPY health /www/cgi-bin/health\n"
        'RUN ["/bin/sh", "-c", "chmod 755 /www/cgi-bin/health"]\n'
        'RUN ["/bin/sh", "-c", "echo nocontent > /www/index.html"]\n'
        'CMD ["/bin/sh", "-c", "exec httpd -f -p ${PORT:-8080} -h /www"]\n'
    )
    image, _ = docker_client.images.build(path=str(folder), rm=True)
    repository = f"{registry_url}/nocontent"
    image.tag(repository, NO_CONTENT)
    return repository


def test_a_204_health_answer_passes_the_start_and_haproxy_serves_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    docker_url: str,
    registry_url: str,
    no_content_repository: str,
    clean: None,  # noqa: F811
    cli: CLI,
) -> None:
    folder = tmp_path / "project"
    folder.mkdir()
    write_config(folder, docker_url, registry_url)
    config = folder / "pipeline-kit.toml"
    config.write_text(config.read_text().replace('"/health"', '"/cgi-bin/health"') + LB)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("PIPELINE_KIT_DB", f"sqlite:///{tmp_path / 'state.db'}")
    port = free_port()
    image = no_content_repository
    steps = [
        ("service", "add", "nocontent", "--image", image, "--version", NO_CONTENT),
        (
            "endpoint",
            "add",
            "web",
            "--service",
            "nocontent",
            "--port",
            f"{port}",
            "--stage",
            "prod",
        ),
    ]
    try:
        for args in steps:
            result = cli(*args)
            assert result.code == 0, result.err  # the start check passed on 204
        assert "http-check expect status 200-299" in cli("lb", "render").out
        deadline = time.monotonic() + 10
        while True:
            status = json.loads(cli("lb", "status", "--json").out)
            prod = {s["status"] for s in status if s["backend"] == "be_nocontent_prod"}
            if prod == {"UP"} or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert prod == {"UP"}, status
        answers = [requests.get(f"http://127.0.0.1:{port}/", timeout=5) for _ in range(20)]
        assert {(a.status_code, a.text.strip()) for a in answers} == {(200, "nocontent")}
    finally:
        HAProxy(folder / "haproxy").stop()
