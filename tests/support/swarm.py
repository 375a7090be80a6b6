"""A Docker Swarm for the tests, made of private engines.

``SwarmBed`` turns engines (``Member``: a ``url`` and the ``address`` the others reach it at)
into one Swarm: the first is initialised as the manager, advertising that address on a free
port (and a free data-path port, so that several test sessions can run Swarms side by
side), and every other joins as a worker with the Swarm's worker token (``join`` adds one
later). The session fixture ``swarm_bed`` starts one private ``dockerd``
(tests/support/docker.py's options: vfs, no bridge, no iptables; ``swarm init`` needs no
other flag, its ingress network is made and stays unused, since Swarm services here attach
to the host network) and makes it a single-node Swarm on 127.0.0.1. A bed of engines in
network namespaces is ``SwarmBed([Member(url, address), …]).form()``; ``bed_swarm`` makes
one Swarm of the multi-host bed's three engines (tests/support/multihost.py).

``swarm_webapp`` builds the example's images on the manager and pushes them to the test
registry, from which the nodes pull them.
"""

from __future__ import annotations

import contextlib
import random
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
from docker.errors import DockerException

from tests.support.docker import Dockerd, DockerdError
from tests.support.images import CRASH, SICK, VERSIONS, build_webapp_images
from tests.support.multihost import Bed


@dataclass
class Member:
    """An engine of the bed: its URL, and the address the other nodes reach it at."""

    url: str
    address: str = "127.0.0.1"


def _free(kind: int, low: int = 20000, high: int = 40000) -> int:
    """A port of ``kind`` (TCP or UDP) nothing on 127.0.0.1 uses now."""
    for _ in range(200):
        port = random.randint(low, high)
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise DockerdError("no free port for the Swarm")


@dataclass
class SwarmBed:
    """Engines joined as one Swarm: ``members[0]`` manages it."""

    members: Sequence[Member]
    clients: list[docker.DockerClient] = field(default_factory=list)
    port: int = 0  # the manager's Swarm port
    heartbeat: float | None = None  # seconds between a node's heartbeats (Swarm's default: 5)

    @property
    def manager_url(self) -> str:
        return self.members[0].url

    @property
    def manager(self) -> docker.DockerClient:
        return self.clients[0]

    def form(self) -> None:
        """Initialise the Swarm on the first member; the others join as workers."""
        first = self.members[0]
        self.clients = [docker.DockerClient(base_url=first.url, timeout=120)]
        self.port = _free(socket.SOCK_STREAM)
        tuning = {}
        if self.heartbeat is not None:  # a node is marked down a few heartbeats after its last
            tuning["dispatcher_heartbeat_period"] = int(self.heartbeat * 1_000_000_000)
        self.manager.swarm.init(
            advertise_addr=f"{first.address}:{self.port}",
            listen_addr=f"{first.address}:{self.port}",
            data_path_port=_free(socket.SOCK_DGRAM, 10000, 49151),
            **tuning,
        )
        for member in self.members[1:]:
            self.clients.append(self.join(member))

    def join(self, member: Member) -> docker.DockerClient:
        """``member`` joined as a worker; its client (the caller closes it)."""
        client = docker.DockerClient(base_url=member.url, timeout=120)
        client.swarm.join(
            remote_addrs=[f"{self.members[0].address}:{self.port}"],
            join_token=self.manager.swarm.attrs["JoinTokens"]["Worker"],
            listen_addr=f"{member.address}:{_free(socket.SOCK_STREAM)}",
            advertise_addr=member.address,
        )
        return client

    def remove_services(self) -> None:
        """Every labelled Swarm service, so that each test starts from an empty Swarm."""
        for service in self.manager.services.list(filters={"label": "io.pipeline-kit.service"}):
            with contextlib.suppress(DockerException):
                service.remove()

    def leave(self) -> None:
        for client in reversed(self.clients):
            with contextlib.suppress(DockerException):
                client.swarm.leave(force=True)
            client.close()
        self.clients = []


@pytest.fixture(scope="session")
def swarm_bed() -> Iterator[SwarmBed]:
    """A single-node Swarm on a private dockerd of its own."""
    engine = Dockerd()
    try:
        engine.start()
        bed = SwarmBed([Member(engine.url)])
        bed.form()
    except (DockerdError, DockerException) as exc:
        engine.stop()
        pytest.fail(f"cannot make a Swarm: {exc}")
    try:
        yield bed
    finally:
        bed.remove_services()
        bed.leave()
        engine.stop()


@pytest.fixture(scope="session")
def bed_swarm(bed: Bed) -> Iterator[SwarmBed]:
    """The multi-host bed's three engines joined as one Swarm: host a manages it, b and c
    join as workers, each advertising its bridge address (the control and data-path ports
    on it). Nothing else is needed between the namespaces: their traffic is bridged in the
    root namespace, so where bridge netfilter is on (``bridge-nf-call-iptables``) it also
    passes the root namespace's FORWARD chain, which must not drop it. A node misses
    heartbeats for a few seconds, not Swarm's 15 or so, before it is down. The Swarm is
    left at the end."""
    made = SwarmBed([Member(h.socket, h.address) for h in bed.hosts], heartbeat=1.0)
    try:
        made.form()
    except DockerException as exc:
        made.leave()
        pytest.fail(f"cannot make a Swarm of the multi-host bed: {exc}")
    try:
        yield made
    finally:
        made.remove_services()
        made.leave()


@pytest.fixture(scope="session")
def swarm_webapp(
    swarm_bed: SwarmBed, registry_url: str, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """The example's images in the test registry, for the Swarm's nodes to pull."""
    client = swarm_bed.manager
    repository = build_webapp_images(client, registry_url, tmp_path_factory.mktemp("swarm"))
    for tag in (*VERSIONS, CRASH, SICK):
        for line in client.images.push(repository, tag=tag, stream=True, decode=True):
            if "error" in line:
                pytest.fail(f"cannot push {repository}:{tag}: {line['error']}")
    return repository


def project_config(manager: str, registry: str, timeout: str = "30s") -> str:
    """A pipeline-kit.toml that runs its stacks on the Swarm."""
    return f"""\
stages = ["prod", "qa", "dev"]
runtime = "swarm"
health_path = "/health"
health_timeout = "{timeout}"
ports = "21000-28999"

[swarm]
manager = "{manager}"

[registry]
url = "{registry}"
insecure = true
"""


def write_project(folder: Path, manager: str, registry: str, extra: str = "") -> None:
    (folder / "pipeline-kit.toml").write_text(project_config(manager, registry) + extra)
