"""A Docker engine for the test suite.

The session fixture ``docker_url`` uses the engine named by ``DOCKER_HOST`` or the default
socket when it answers a ping. Otherwise it starts Debian's ``dockerd`` (package
``docker.io``) on a private Unix socket under /tmp with the options that work in a
container without privileges over the network: ``--storage-driver=vfs --bridge=none
--iptables=false``. Containers then use host networking on 127.0.0.1 ports. The engine is
stopped and its folder removed when the session ends.

``busybox_image`` builds (once per session) an image ``FROM scratch`` holding Debian's
``busybox-static``, so no test pulls anything from the internet.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException

BUSYBOX = "/bin/busybox"
BUSYBOX_IMAGE = "pk-test/busybox:latest"
_START_TIMEOUT = 60.0


def _answers(url: str) -> bool:
    if url.startswith("unix://") and not Path(url.removeprefix("unix://")).exists():
        return False
    try:
        client = docker.DockerClient(base_url=url, timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (DockerException, OSError):
        return False


class DockerdError(RuntimeError):
    """The private dockerd could not be started."""


def busybox_path() -> str:
    for candidate in (BUSYBOX, "/usr/bin/busybox"):
        if Path(candidate).is_file():
            return candidate
    pytest.fail("busybox not found: install Debian's busybox-static (scripts/setup.sh test)")


class Dockerd:
    """A private dockerd started by the tests."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="pk-docker-", dir="/tmp"))
        self.socket = self.folder / "docker.sock"
        self.url = f"unix://{self.socket}"
        self.log = self.folder / "dockerd.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("dockerd")
        if binary is None:
            raise DockerdError("dockerd not found: install Debian's docker.io (scripts/setup.sh)")
        if os.geteuid() != 0:
            raise DockerdError("no Docker engine reachable and dockerd needs root: set DOCKER_HOST")
        args = [
            binary,
            f"--host={self.url}",
            f"--data-root={self.folder / 'data'}",
            f"--exec-root={self.folder / 'exec'}",
            f"--pidfile={self.folder / 'docker.pid'}",
            "--storage-driver=vfs",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log.read_text(errors="replace")[-2000:]
                self.stop()
                raise DockerdError(f"dockerd exited at start:\n{tail}")
            if self.socket.exists() and _answers(self.url):
                return
            time.sleep(0.2)
        self.stop()
        raise DockerdError("dockerd did not answer within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(DockerException, OSError):
                client = docker.DockerClient(base_url=self.url, timeout=10)
                for container in client.containers.list(all=True):
                    with contextlib.suppress(DockerException):
                        container.remove(force=True)
                client.close()
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # dockerd leaves its network namespace bind-mounted under exec/netns.
        for mount in sorted((self.folder / "exec" / "netns").glob("*")):
            subprocess.run(["umount", str(mount)], capture_output=True, check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def docker_url() -> Iterator[str]:
    """The URL of a Docker engine the tests may use."""
    for url in (os.environ.get("DOCKER_HOST"), "unix:///var/run/docker.sock"):
        if url and _answers(url):
            yield url
            return
    engine = Dockerd()
    try:
        engine.start()
    except DockerdError as exc:
        engine.stop()
        pytest.fail(str(exc))
    try:
        yield engine.url
    finally:
        engine.stop()


@pytest.fixture(scope="session")
def docker_client(docker_url: str) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=docker_url, timeout=120)
    try:
        yield client
    finally:
        client.close()


def write_busybox_context(folder: Path) -> Path:
    """A build context ``FROM scratch`` with busybox installed under /bin."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(busybox_path(), folder / "busybox")
    (folder / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        'CMD ["/bin/sh"]\n'
    )
    return folder


@pytest.fixture(scope="session")
def busybox_image(
    docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """``pk-test/busybox:latest``, built from Debian's busybox-static."""
    folder = write_busybox_context(tmp_path_factory.mktemp("busybox"))
    docker_client.images.build(path=str(folder), tag=BUSYBOX_IMAGE, rm=True)
    return BUSYBOX_IMAGE


def labelled(client: docker.DockerClient, label: str = "io.pipeline-kit.service") -> list[str]:
    """Names of all containers (running or not) that carry ``label``."""
    return sorted(c.name for c in client.containers.list(all=True, filters={"label": label}))
