"""The Docker scenario the benchmarks share: an engine, the webapp images, a pipeline-kit
project of two services x two stacks x three stages on two hosts, and the baseline scripts.

The engine is ``DOCKER_HOST`` or /var/run/docker.sock when one answers, else a private
dockerd started like the test suite's (root; vfs, no bridge, no iptables) and stopped at
the end. A bench refuses an engine that already runs pipeline-kit containers, since it
removes every container labelled ``io.pipeline-kit.service`` between runs. The images are
built once from examples/webapp with docker-py and tagged ``127.0.0.1:5000/webapp:1.0.0``
and ``:1.1.0``; no registry runs (the runtime pulls only when the engine lacks the image).

The baseline is what a plain script would do: ``docker run -d --network host -e PORT=..``
one container after the other, then a wait until each answers ``/health`` (polled with
urllib, as a script would with curl), and ``docker rm -f`` of the old ones.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import DockerException, NotFound

from benchmarks.timing import BenchError, cli_command, run_timed
from tests.support.docker import Dockerd, DockerdError, _answers
from tests.support.images import webapp_context

SERVICES = ("web", "api")
STACKS = 2
STAGES = ("prod", "qa", "dev")
OLD, NEW = "1.0.0", "1.1.0"
REPOSITORY = "127.0.0.1:5000/webapp"
PROMOTED = "web"
OPS = ("deploy", "promote")
CONTAINERS = len(SERVICES) * STACKS * len(STAGES)  # 12

PK_LABEL = "io.pipeline-kit.service"
PK_VERSION_LABEL = "io.pipeline-kit.version"
BASE_LABEL = "io.pipeline-kit-bench.baseline"
BASE_PORTS = (40000, 49999)  # outside pipeline-kit's 30000-39999
HEALTH_TIMEOUT_S = 60.0
POLL_S = 0.1  # the baseline's health poll interval (pipeline-kit's is 0.1 s too)

CONFIG_TEXT = """\
# written by benchmarks/docker_bench.py
stages = ["prod", "qa", "dev"]
network = "host"
health_path = "/health"
health_timeout = "60s"
ports = "30000-39999"

[registry]
url = "127.0.0.1:5000"
insecure = true

[[hosts]]
name = "a"
url = "{engine}"

[[hosts]]
name = "b"
url = "{engine}"
"""

# The baseline's health wait: every port in turn, until it answers 2xx or the time is up.
WAIT_HEALTH = """\
import http.client
import sys
import time
import urllib.request

deadline = time.monotonic() + float(sys.argv[1])
for port in sys.argv[2:]:
    url = f"http://127.0.0.1:{port}/health"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if 200 <= answer.status < 300:
                    break
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() >= deadline:
            sys.exit(f"{url} did not answer 2xx in time")
        time.sleep({poll})
"""


# -- the engine --------------------------------------------------------------------------------


@contextlib.contextmanager
def docker_engine() -> Iterator[tuple[str, str]]:
    """The engine's URL and where it comes from; a private dockerd is stopped at the end."""
    for url in (os.environ.get("DOCKER_HOST"), "unix:///var/run/docker.sock"):
        if url and _answers(url):
            yield url, "existing engine"
            return
    engine = Dockerd()
    try:
        try:
            engine.start()
        except DockerdError as exc:
            raise BenchError(str(exc).splitlines()[0]) from None
        yield engine.url, "private dockerd (vfs, no bridge), stopped at the end"
    finally:
        engine.stop()


def build_images(client: Any, folder: Path) -> None:
    """examples/webapp built once, tagged as the old and the new version."""
    image, _ = client.images.build(path=str(webapp_context(folder / "webapp")), rm=True)
    for version in (OLD, NEW):
        if not image.tag(REPOSITORY, version):
            raise BenchError(f"cannot tag the webapp image as {REPOSITORY}:{version}")


def ours(client: Any, label: str) -> list[Any]:
    found: list[Any] = client.containers.list(all=True, filters={"label": label})
    return found


def remove_all(client: Any) -> None:
    """Remove every container either side started (labelled)."""
    for label in (PK_LABEL, BASE_LABEL):
        for container in ours(client, label):
            with contextlib.suppress(NotFound):
                container.remove(force=True)


def cleanup(client: Any) -> None:
    """``remove_all`` at the end; a failure here must not hide the first error."""
    try:
        remove_all(client)
    except (DockerException, requests.RequestException, OSError) as exc:
        print(f"warning: could not remove the benchmark's containers: {exc}", file=sys.stderr)


def expect_running(client: Any, label: str, new: int, what: str) -> None:
    """Exactly CONTAINERS running, ``new`` of them of the new version."""
    listed = ours(client, label)
    running = [c for c in listed if c.status == "running"]
    if len(listed) != CONTAINERS or len(running) != CONTAINERS:
        raise BenchError(
            f"after {what}: {len(running)} of {len(listed)} containers running, "
            f"expected {CONTAINERS}"
        )
    version_label = PK_VERSION_LABEL if label == PK_LABEL else f"{BASE_LABEL}.version"
    fresh = sum(1 for c in running if c.labels.get(version_label) == NEW)
    if fresh != new:
        raise BenchError(f"after {what}: {fresh} containers run {NEW}, expected {new}")


# -- pipeline-kit ------------------------------------------------------------------------------


@dataclass
class Project:
    folder: Path
    cli: list[str]
    runs: int = 0

    def env(self, db: Path, runtime: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_KIT_")}
        env.pop("GITHUB_ACTIONS", None)
        env["PIPELINE_KIT_DB"] = f"sqlite:///{db}"
        env.setdefault("USER", "bench")
        if runtime is not None:
            env["PIPELINE_KIT_RUNTIME"] = runtime
        return env

    @property
    def modules(self) -> Path:
        """The modules the in-process runs import first (benchmarks/inproc.py)."""
        return self.folder.parent / "modules.txt"

    def fresh_state(self) -> dict[str, str]:
        """A new database with web and api, no container started; the env that uses it."""
        self.runs += 1
        db = self.folder / f"state-{self.runs}.db"
        setup = self.env(db, runtime="none")
        for service in SERVICES:
            argv = [*self.cli, "service", "add", service, "--image", "webapp"]
            run_timed([*argv, "--stacks", str(STACKS), "--version", OLD], self.folder, setup)
        return self.env(db)


# -- the baseline ------------------------------------------------------------------------------


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Baseline:
    folder: Path
    engine: str
    docker_cli: str
    used: set[int] = field(default_factory=set)

    def ports(self, count: int) -> list[int]:
        """Ports never used before in this run (no TIME_WAIT surprises) and free now."""
        out: list[int] = []
        for port in range(*BASE_PORTS):
            if port not in self.used and _bindable(port):
                self.used.add(port)
                out.append(port)
                if len(out) == count:
                    return out
        raise BenchError(f"no {count} free ports left in {BASE_PORTS[0]}-{BASE_PORTS[1]}")

    def run_line(self, name: str, port: int, version: str) -> str:
        argv = [
            self.docker_cli,
            "-H",
            self.engine,
            "run",
            "-d",
            "--name",
            name,
            "--label",
            f"{BASE_LABEL}=1",
            "--label",
            f"{BASE_LABEL}.version={version}",
            "--network",
            "host",
            "-e",
            f"PORT={port}",
            "-e",
            f"PIPELINE_KIT_VERSION={version}",
            f"{REPOSITORY}:{version}",
        ]
        return shlex.join(argv) + " >/dev/null"

    def wait_line(self, ports: list[int]) -> str:
        wait = self.folder / "wait_health.py"
        argv = [sys.executable, "-I", str(wait), str(HEALTH_TIMEOUT_S), *map(str, ports)]
        return shlex.join(argv)

    def scripts(self) -> tuple[Path, Path]:
        """deploy.sh (12 docker run, wait) and promote.sh (2 docker run, wait, 2 rm -f)."""
        (self.folder / "wait_health.py").write_text(WAIT_HEALTH.replace("{poll}", repr(POLL_S)))
        ports = self.ports(CONTAINERS)
        names = [
            (f"pkb-{service}-{stack}-{stage}", service, stack, stage)
            for service in SERVICES
            for stack in range(STACKS)
            for stage in STAGES
        ]
        deploy = ["#!/bin/bash", "set -euo pipefail"]
        deploy += [self.run_line(n[0], p, OLD) for n, p in zip(names, ports, strict=True)]
        deploy.append(self.wait_line(ports))
        fresh = self.ports(STACKS)
        promote = ["#!/bin/bash", "set -euo pipefail"]
        promote += [
            self.run_line(f"pkb-{PROMOTED}-{stack}-new", fresh[stack], NEW)
            for stack in range(STACKS)
        ]
        promote.append(self.wait_line(fresh))
        promote += [
            shlex.join([self.docker_cli, "-H", self.engine, "rm", "-f", f"pkb-{PROMOTED}-{s}-prod"])
            + " >/dev/null"
            for s in range(STACKS)
        ]
        paths = (self.folder / "deploy.sh", self.folder / "promote.sh")
        for path, lines in zip(paths, (deploy, promote), strict=True):
            path.write_text("\n".join(lines) + "\n")
        return paths


# -- the machine -------------------------------------------------------------------------------


def load() -> str:
    if not hasattr(os, "getloadavg"):
        return "n/a"
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (other work on the machine skews the figures)"


def machine_info(client: Any, where: str, url: str, docker_cli: str) -> None:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    info = client.info()
    print(f"machine: {platform.platform()}, nproc {affinity or os.cpu_count()}")
    print(f"  python {platform.python_version()} ({sys.executable})")
    print(
        f"  docker engine {client.version().get('Version', '?')} at {url} ({where}), "
        f"storage driver {info.get('Driver', '?')}"
    )
    version = subprocess.run(
        [docker_cli, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"  docker CLI {docker_cli}: {version}")


# -- one bench's setting -----------------------------------------------------------------------

FAILURES = (DockerException, requests.RequestException, OSError)


@dataclass
class Scene:
    """An engine with the images built, a pipeline-kit project and a baseline beside it."""

    client: Any
    project: Project
    baseline: Baseline


@contextlib.contextmanager
def scene(repeat: int) -> Iterator[Scene]:
    """Set everything up (and print where); remove every container and stop a private
    dockerd at the end, also on failure."""
    docker_cli = shutil.which("docker")
    if docker_cli is None:
        raise BenchError("the docker CLI is not on PATH: the baseline script needs it")
    with contextlib.ExitStack() as stack:
        url, where = stack.enter_context(docker_engine())
        client = docker.DockerClient(base_url=url, timeout=120)
        stack.callback(client.close)
        busy = ours(client, PK_LABEL) + ours(client, BASE_LABEL)
        if busy:
            raise BenchError(
                f"the engine at {url} already has {len(busy)} pipeline-kit containers "
                f"(e.g. {busy[0].name}): use a dedicated engine (DOCKER_HOST)"
            )
        stack.callback(cleanup, client)  # also on failure
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pk-bench-")))
        machine_info(client, where, url, docker_cli)
        cli = cli_command()
        print(f"  cli: {' '.join(cli)}; repeat {repeat} (median reported)", flush=True)
        print(f"  load average at start: {load()}\n", flush=True)
        started = time.perf_counter()
        build_images(client, root)
        print(
            f"  built and tagged {REPOSITORY}:{OLD},{NEW} in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        folder = root / "project"
        folder.mkdir()
        (folder / "pipeline-kit.toml").write_text(CONFIG_TEXT.format(engine=url))
        base_folder = root / "baseline"
        base_folder.mkdir()
        yield Scene(client, Project(folder, cli), Baseline(base_folder, url, docker_cli))
