"""Three Docker hosts on one machine: each ``dockerd`` in a network namespace of its own.

``Bed.start()`` makes a bridge in the root namespace with the first address of a private
/24 (10.213.N.0/24, N chosen so that no route of the machine uses it) and, per host, a
network namespace joined to the bridge by a veth pair (``.11``, ``.12``, ``.13``). No
namespace has a default route and the root namespace only routes the /24 to the bridge,
so nothing leaves the machine. Each host runs Debian's ``dockerd`` inside its namespace
(``nsenter --net``: the mount namespace stays shared) and a UTS namespace whose hostname is
the host's name (``a``, ``b``, ``c``: what ``docker info`` and Swarm call the node), with
its own data root, exec root and pidfile, listening on ``tcp://ADDRESS:2376`` with
``--tlsverify`` (a CA, a server certificate per address and a client certificate made with
``cryptography``) and on a Unix socket in its folder that the tests use to look and clean
up even while a link is cut.
Containers use host networking, so they listen on their host's address.

The registry runs in the root namespace on the bridge address; every engine lists it as an
insecure registry. The last host also runs Debian's ``sshd`` in its namespace with its own
config and host key; the fixture's client key may only run ``docker system dial-stdio``
against that engine (a forced command). docker-py reaches it with paramiko (``docker[ssh]``),
which reads ``~/.ssh/config`` and ``~/.ssh/known_hosts`` under ``$HOME``: ``Bed.ssh_home``
holds both, so a test points ``HOME`` there and nothing of the machine's own ssh setup is
read or written.

``Bed.stop()`` removes everything (containers, engines, sshd, namespaces, veths, bridge,
folders) and is safe to call after a partial start. The session fixture ``bed`` starts one
(about 1 s), builds the example images on host a and pushes them to the registry (about
17 s), and stops it at the end; it fails, saying why, where namespaces cannot be made.
``Bed.cut(name)``/``restore(name)`` set a host's veth down/up.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import pytest
import requests
from docker.errors import DockerException

from tests.support.certs import TLSFiles, ssh_keypair
from tests.support.images import VERSIONS, build_webapp_images
from tests.support.registry import RunningRegistry, start_registry

NAMES = ("a", "b", "c")
DOCKER_PORT = 2376
_START_TIMEOUT = 90.0


class BedError(RuntimeError):
    """The test bed could not be made; the message says which command failed and why."""


def sh(*args: str) -> str:
    """Run a command (never through a shell); its stdout, or BedError with its stderr."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BedError(f"{' '.join(args)}: {exc}") from None
    if done.returncode != 0:
        raise BedError(f"{' '.join(args)} exited with {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _quiet(*args: str) -> None:
    subprocess.run(args, capture_output=True, check=False, timeout=60)


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class EngineHost:
    """One Docker host of the bed."""

    name: str
    netns: str
    veth: str
    address: str
    folder: Path
    process: subprocess.Popen[bytes] | None = None
    sshd: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """What pipeline-kit is configured with: the TLS endpoint."""
        return f"tcp://{self.address}:{DOCKER_PORT}"

    @property
    def socket(self) -> str:
        """The Unix socket the tests use to look at the engine (works while cut)."""
        return f"unix://{self.folder / 'docker.sock'}"

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.socket, timeout=120)


def _pings(url: str) -> bool:
    """Whether the engine answers. docker-py leaks the socket of a refused Unix connection,
    so a plain socket tries first."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(url.removeprefix("unix://"))
        except OSError:
            return False
    api = docker.APIClient(base_url=url, version="1.24", timeout=5)
    try:
        return bool(api.ping())
    except (DockerException, requests.RequestException, OSError):
        return False
    finally:
        api.close()


def _free_subnet() -> int:
    used = sh("ip", "-4", "route", "show", "table", "all") + sh("ip", "-4", "addr")
    for _ in range(50):
        third = secrets.randbelow(250) + 2
        if f"10.213.{third}." not in used:
            return third
    raise BedError("no free 10.213.N.0/24 subnet found")


@dataclass
class Bed:
    """The namespaces, engines, sshd and registry of one test session."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pk-bed-")))
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    hosts: list[EngineHost] = field(default_factory=list)
    registry: RunningRegistry | None = None
    tls: TLSFiles | None = None
    bridge: str = ""
    gateway: str = ""
    ssh_home: Path | None = None
    images: str = ""  # the repository of the example images in the registry
    seconds: float = 0.0  # how long start() took

    def host(self, name: str) -> EngineHost:
        return next(h for h in self.hosts if h.name == name)

    # -- start ------------------------------------------------------------------------------

    def start(self) -> None:
        began = time.monotonic()
        third = _free_subnet()
        self.gateway = f"10.213.{third}.1"
        self.bridge = f"pk{self.tag}br"
        sh("ip", "link", "add", self.bridge, "type", "bridge")
        sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        sh("ip", "link", "set", self.bridge, "up")
        for index, name in enumerate(NAMES):
            host = EngineHost(
                name=name,
                netns=f"pk-{self.tag}-{name}",
                veth=f"pk{self.tag}{name}",
                address=f"10.213.{third}.{11 + index}",
                folder=self.folder / name,
            )
            host.folder.mkdir(parents=True)
            self.hosts.append(host)
            self._link(host)
        self.tls = TLSFiles.make(self.folder / "tls", [h.address for h in self.hosts])
        self.registry = start_registry(bind=self.gateway)
        for host in self.hosts:
            self._launch(host)
        for host in self.hosts:
            self._wait(host)
        self._start_sshd(self.hosts[-1])
        self.seconds = time.monotonic() - began

    def _link(self, host: EngineHost) -> None:
        sh("ip", "netns", "add", host.netns)
        sh("ip", "link", "add", host.veth, "type", "veth", "peer", "name", "eth0",
           "netns", host.netns)  # fmt: skip
        sh("ip", "link", "set", host.veth, "master", self.bridge, "up")
        sh("ip", "-n", host.netns, "addr", "add", f"{host.address}/24", "dev", "eth0")
        sh("ip", "-n", host.netns, "link", "set", "eth0", "up")
        sh("ip", "-n", host.netns, "link", "set", "lo", "up")

    def _launch(self, host: EngineHost) -> None:
        assert self.tls is not None and self.registry is not None
        dockerd = shutil.which("dockerd")
        if dockerd is None:
            raise BedError("dockerd not found: install Debian's docker.io (scripts/setup.sh)")
        cert, key = self.tls.server(host.address)
        uts = host.folder / "uts"  # a hostname of its own (Swarm names its nodes by it)
        uts.touch()
        sh("unshare", f"--uts={uts}", "hostname", host.name)
        args = [
            "nsenter", f"--net=/run/netns/{host.netns}", f"--uts={uts}", dockerd,
            f"--host={host.socket}", f"--host=tcp://{host.address}:{DOCKER_PORT}",
            "--tlsverify", f"--tlscacert={self.tls.ca}", f"--tlscert={cert}", f"--tlskey={key}",
            f"--data-root={host.folder / 'data'}", f"--exec-root={host.folder / 'exec'}",
            f"--pidfile={host.folder / 'docker.pid'}", "--storage-driver=vfs",
            "--bridge=none", "--iptables=false", "--ip6tables=false",
            f"--insecure-registry={self.registry.host}",
        ]  # fmt: skip
        with (host.folder / "dockerd.log").open("wb") as log:
            host.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def _wait(self, host: EngineHost) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            assert host.process is not None
            if host.process.poll() is not None:
                tail = (host.folder / "dockerd.log").read_text(errors="replace")[-2000:]
                raise BedError(f"dockerd of host {host.name} exited at start:\n{tail}")
            if _pings(host.socket):
                return
            time.sleep(0.2)
        raise BedError(f"dockerd of host {host.name} did not answer within {_START_TIMEOUT:g} s")

    def _start_sshd(self, host: EngineHost) -> None:
        sshd, docker_cli = shutil.which("sshd") or "/usr/sbin/sshd", shutil.which("docker")
        if not Path(sshd).is_file():
            raise BedError("sshd not found: install Debian's openssh-server (scripts/setup.sh)")
        if docker_cli is None:
            raise BedError("the docker CLI is not found: install Debian's docker.io")
        folder = host.folder / "ssh"
        folder.mkdir()
        host_key = folder / "host_key"
        host_public = ssh_keypair(host_key)
        home = self.folder / "home"
        (home / ".ssh").mkdir(parents=True)
        client_key = home / ".ssh" / "id_ed25519"
        client_public = ssh_keypair(client_key)
        forced = f"{docker_cli} --host={host.socket} system dial-stdio"
        (folder / "authorized_keys").write_text(f'command="{forced}",restrict {client_public}\n')
        (home / ".ssh" / "known_hosts").write_text(f"{host.address} {host_public}\n")
        (home / ".ssh" / "config").write_text(
            f"Host {host.address}\n  User root\n  IdentityFile {client_key}\n"
        )
        config = folder / "sshd_config"
        config.write_text(
            f"ListenAddress {host.address}:22\nHostKey {host_key}\n"
            f"PidFile {folder / 'sshd.pid'}\nAuthorizedKeysFile {folder / 'authorized_keys'}\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nMaxSessions 64\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        args = ["nsenter", f"--net=/run/netns/{host.netns}", sshd, "-D", "-e", "-f", str(config)]
        with (folder / "sshd.log").open("wb") as log:
            host.sshd = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.ssh_home = home
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if host.sshd.poll() is not None:
                tail = (folder / "sshd.log").read_text(errors="replace")[-2000:]
                raise BedError(f"sshd of host {host.name} exited at start:\n{tail}")
            listening = sh("ip", "netns", "exec", host.netns, "ss", "-Htln", "sport", "= :22")
            if host.address in listening:
                return
            time.sleep(0.1)
        raise BedError(f"sshd of host {host.name} did not listen within 20 s")

    # -- links --------------------------------------------------------------------------------

    def cut(self, name: str) -> None:
        """Make host ``name`` unreachable: its veth goes down (the engine keeps running)."""
        sh("ip", "link", "set", self.host(name).veth, "down")

    def restore(self, name: str) -> None:
        sh("ip", "link", "set", self.host(name).veth, "up")

    # -- stop ---------------------------------------------------------------------------------

    def remove_containers(self) -> None:
        """Remove every container on every host (through the Unix sockets)."""
        for host in self.hosts:
            if host.process is None or host.process.poll() is not None:
                continue
            with contextlib.suppress(DockerException, OSError):
                client = host.client()
                try:
                    for container in client.containers.list(all=True):
                        with contextlib.suppress(DockerException):
                            container.remove(force=True)
                finally:
                    client.close()

    def stop(self) -> None:
        """Remove everything; idempotent, and fine after a partial start."""
        self.remove_containers()
        for host in self.hosts:
            _stop(host.sshd, 10)
            _stop(host.process)
            for mount in sorted((host.folder / "exec" / "netns").glob("*")):
                _quiet("umount", str(mount))
            _quiet("umount", str(host.folder / "uts"))
            _quiet("ip", "netns", "del", host.netns)
            _quiet("ip", "link", "del", host.veth)
        if self.bridge:
            _quiet("ip", "link", "del", self.bridge)
        if self.registry is not None:
            self.registry.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _missing_tools() -> list[str]:
    tools = {"ip": "iproute2", "nsenter": "util-linux", "dockerd": "docker.io"}
    tools |= {"sshd": "openssh-server", "docker": "docker.io"}
    return [f"{tool} ({package})" for tool, package in tools.items() if not shutil.which(tool)]


@pytest.fixture(scope="session")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    """Three namespaced Docker hosts (TLS; the last also over ssh) and a registry they reach.
    Fails, saying why, where namespaces cannot be made: it never skips."""
    if os.geteuid() != 0:
        pytest.fail("the multi-host test bed makes network namespaces (ip netns): run as root")
    missing = _missing_tools()
    if missing:
        pytest.fail(f"the multi-host test bed needs {', '.join(missing)}: scripts/setup.sh test")
    made = Bed()
    try:
        made.start()
    except BedError as exc:
        made.stop()
        pytest.fail(f"cannot make the multi-host test bed: {exc}")
    except BaseException:
        made.stop()
        raise
    try:
        made.images = push_images(made, tmp_path_factory.mktemp("bed-images"))
        yield made
    finally:
        made.stop()


def push_images(made: Bed, folder: Path) -> str:
    """Build the example images on host a and push them to the bed's registry."""
    assert made.registry is not None
    client = made.hosts[0].client()
    try:
        repository = build_webapp_images(client, made.registry.host, folder)
        for version in VERSIONS[:3]:
            client.images.push(repository, tag=version)
    finally:
        client.close()
    return repository
