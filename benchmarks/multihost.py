"""``promote --to prod`` on three Docker hosts as the stacks grow, beside a sequential
docker-py script and the same promotion on a three-node Swarm.

The hosts are the test suite's multi-host bed (tests/support/multihost.py): three
``dockerd`` in network namespaces of their own behind a bridge, reached over ``tcp://`` with
TLS client certificates, a registry in the root namespace holding the webapp images built
from examples/webapp. For 1, 2, 4 and 8 stacks of ``webapp`` (``distinct_hosts = false``:
more stacks than hosts puts several on a host), each round starts from nothing (a new
state database, no container, no Swarm service) and ``service add webapp --stacks N
--version 1.0.0`` (untimed: 3 x N containers), then times:

* pipeline-kit: ``promote webapp 1.1.0 --to prod`` with the Docker runtime (``[[hosts]]``
  a, b, c over TLS): N new containers started, health-checked, the state committed, the N
  old ones removed. Wall clock of the CLI.
* The baseline: the same N containers through docker-py over the same TLS endpoints, one
  after the other (stack i on host i mod 3): ``containers.run`` of 1.1.0 each, then a wait
  until each answers ``/health`` (0.1 s polls, as pipeline-kit's), then the N old 1.0.0
  containers removed (``remove(force=True)``), each in turn. Its old containers are
  started untimed before.
* Swarm: the three engines joined as one Swarm (a manages it over TLS; b and c are
  workers), ``runtime = "swarm"``, the same ``promote``: N new tasks, health-checked,
  committed, the old ones removed. The tasks of a Swarm service share its port, one per
  node, so N stacks take ceil(N / 3) Swarm services (8: 3 + 3 + 2 tasks).

The sides alternate which runs first; one untimed round of each warms the caches (the
image pulls). Median and min of ``--repeat`` rounds. It prints figures and asserts nothing
about time; it exits 1 with one line when a command fails.

    .venv/bin/python -m benchmarks.multihost [--repeat 3] [--stacks 1,2,4,8]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from benchmarks.docker_bench import FAILURES, load
from benchmarks.timing import BenchError, cli_command, run_guarded, run_timed, settle
from pipeline_kit.config_types import Host
from pipeline_kit.runtime.engine import _connect as connect
from tests.support.multihost import Bed, BedError, EngineHost, push_images
from tests.support.swarm import Member, SwarmBed

OLD, NEW = "1.0.0", "1.1.0"
SIZES = (1, 2, 4, 8)
SIDES = ("pk", "script", "swarm")
LABEL = "io.pipeline-kit.service"
BASE_LABEL = "io.pipeline-kit-bench.baseline"
BASE_PORT = 41000  # the script's ports: outside pipeline-kit's 21000-28999
HEALTH_TIMEOUT_S = 60.0
POLL_S = 0.1

HEAD = """\
# written by benchmarks/multihost.py
stages = ["prod", "qa", "dev"]
health_path = "/health"
health_timeout = "60s"
ports = "21000-28999"
distinct_hosts = false

[registry]
url = "{registry}"
insecure = true
"""
TLS = """tls = true
tls_ca = "{certs}/ca.pem"
tls_cert = "{certs}/cert.pem"
tls_key = "{certs}/key.pem"
"""


def _started(bed: Bed) -> tuple[str, Path]:
    """The bed's registry and the folder of its client certificate."""
    if bed.registry is None or bed.tls is None:
        raise BenchError("the multi-host bed is not started")
    return bed.registry.host, bed.tls.client


def docker_config(bed: Bed) -> str:
    registry, certs = _started(bed)
    text = HEAD.format(registry=registry).replace("\n\n", '\nnetwork = "host"\n\n', 1)
    for host in bed.hosts:
        text += f'\n[[hosts]]\nname = "{host.name}"\nurl = "{host.url}"\n'
        text += f'address = "{host.address}"\n' + TLS.format(certs=certs)
    return text


def swarm_config(bed: Bed) -> str:
    registry, certs = _started(bed)
    text = HEAD.format(registry=registry).replace("\n\n", '\nruntime = "swarm"\n\n', 1)
    return text + f'\n[swarm]\nmanager = "{bed.hosts[0].url}"\n' + TLS.format(certs=certs)


def tls_client(bed: Bed, host: EngineHost) -> Any:
    """A docker-py client of ``host``'s TLS endpoint, made as pipeline-kit makes its own."""
    folder = _started(bed)[1]
    return connect(Host(host.name, host.url, host.address, True, str(folder / "ca.pem"),
                        str(folder / "cert.pem"), str(folder / "key.pem")))  # fmt: skip


def clear(bed: Bed, swarm: SwarmBed) -> None:
    """No Swarm service and no container of either side on any host: removed until two
    passes 0.5 s apart find none (a worker may still start a task of a removed service)."""
    for service in swarm.manager.services.list(filters={"label": LABEL}):
        service.remove()
    deadline, quiet = time.monotonic() + 60, 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise BenchError("labelled containers still on the hosts 60 s after their removal")
        found = sum(_remove_labelled(host) for host in bed.hosts)
        quiet = quiet + 1 if found == 0 else 0
        time.sleep(0.5)


def _remove_labelled(host: EngineHost) -> int:
    """Remove either side's containers on ``host``; how many there were."""
    client = host.client()
    try:
        found = 0
        for label in (LABEL, BASE_LABEL):
            for container in client.containers.list(all=True, filters={"label": label}):
                found += 1
                with contextlib.suppress(*FAILURES):
                    container.remove(force=True)
        return found
    finally:
        client.close()


def _environ(folder: Path, run: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_KIT_")}
    env.pop("DOCKER_HOST", None)
    env.setdefault("USER", "bench")
    env["PIPELINE_KIT_DB"] = f"sqlite:///{folder / f'state-{run}.db'}"
    return env


@dataclass
class Project:
    """A pipeline-kit project folder of one runtime."""

    folder: Path
    runs: int = 0

    def round(self, cli: list[str], repository: str, stacks: int) -> float:
        """``service add`` of ``stacks`` stacks (untimed), then the timed promotion."""
        self.runs += 1
        env = _environ(self.folder, self.runs)
        add = [*cli, "service", "add", "webapp", "--image", repository, "--stacks",
               str(stacks), "--version", OLD]  # fmt: skip
        run_timed(add, self.folder, env)
        settle()
        return run_timed([*cli, "promote", "webapp", NEW, "--to", "prod"], self.folder, env)


def _healthy(address: str, deadline: float) -> None:
    with requests.Session() as session:
        while True:
            with contextlib.suppress(requests.RequestException):
                if session.get(f"http://{address}/health", timeout=1.0).ok:
                    return
            if time.monotonic() > deadline:
                raise BenchError(f"the script's container at {address} never answered /health")
            time.sleep(POLL_S)


@dataclass
class Script:
    """The baseline: docker-py over the hosts' TLS endpoints, one container after another."""

    bed: Bed
    repository: str
    clients: list[Any] = field(default_factory=list)

    def _start(self, version: str, stacks: int, offset: int) -> list[Any]:
        """Run ``stacks`` containers one after the other, then wait until each answers."""
        started, addresses = [], []
        for index in range(stacks):
            host = self.bed.hosts[index % len(self.bed.hosts)]
            port = BASE_PORT + offset + index
            started.append(
                self.clients[index % len(self.clients)].containers.run(
                    f"{self.repository}:{version}",
                    detach=True,
                    network_mode="host",
                    environment={"PORT": str(port), "PIPELINE_KIT_VERSION": version},
                    labels={BASE_LABEL: "1"},
                    name=f"pkb-{version.replace('.', '-')}-{index}",
                )
            )
            addresses.append(f"{host.address}:{port}")
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        for address in addresses:
            _healthy(address, deadline)
        return started

    def round(self, stacks: int) -> float:
        old = self._start(OLD, stacks, 0)  # untimed: what the promotion replaces
        settle()
        began = time.perf_counter()
        self._start(NEW, stacks, 100)
        for container in old:
            container.remove(force=True)
        return time.perf_counter() - began


@contextlib.contextmanager
def scene() -> Iterator[tuple[Bed, SwarmBed]]:
    """The bed with the images pushed, its engines joined as a Swarm; all removed after."""
    if os.geteuid() != 0:
        raise BenchError("the multi-host bed makes network namespaces (ip netns): run as root")
    bed, swarm = Bed(), SwarmBed([])
    try:
        try:
            bed.start()
            with tempfile.TemporaryDirectory(prefix="pk-bench-mh-") as folder:
                bed.images = push_images(bed, Path(folder))
        except BedError as exc:
            raise BenchError(f"cannot make the multi-host bed: {exc}") from None
        swarm = SwarmBed([Member(h.socket, h.address) for h in bed.hosts])
        swarm.form()
        yield bed, swarm
    finally:
        if swarm.clients:
            with contextlib.suppress(BenchError, *FAILURES):
                clear(bed, swarm)
            swarm.leave()
        bed.stop()


Times = dict[tuple[str, int], list[float]]


def bench(repeat: int, sizes: list[int]) -> None:
    cli = cli_command()
    with scene() as (bed, swarm), tempfile.TemporaryDirectory() as root:
        print(f"hosts: {', '.join(f'{h.name} {h.url} (TLS)' for h in bed.hosts)}")
        print(f"  Swarm: manager a, workers b and c; images {bed.images}")
        print(f"  repeat {repeat} (median reported); load average at start: {load()}\n")
        projects = {"pk": Project(Path(root, "docker")), "swarm": Project(Path(root, "swarm"))}
        for name, text in (("pk", docker_config(bed)), ("swarm", swarm_config(bed))):
            projects[name].folder.mkdir()
            (projects[name].folder / "pipeline-kit.toml").write_text(text)
        script = Script(bed, bed.images, [tls_client(bed, h) for h in bed.hosts])
        times: Times = {}
        try:
            for stacks in sizes:
                for turn in range(repeat + 1):  # the first turn warms the caches, untimed
                    order = SIDES[turn % len(SIDES) :] + SIDES[: turn % len(SIDES)]
                    for side in order:
                        clear(bed, swarm)
                        seconds = (
                            script.round(stacks)
                            if side == "script"
                            else projects[side].round(cli, bed.images, stacks)
                        )
                        if turn:
                            times.setdefault((side, stacks), []).append(seconds)
                print(f"  {stacks} stack(s): " + ", ".join(
                    f"{side} {statistics.median(times[(side, stacks)]):.2f} s" for side in SIDES
                ), flush=True)  # fmt: skip
            clear(bed, swarm)
        finally:
            for client in script.clients:
                client.close()
        print(f"\n  load average at the end: {load()}\n")
        report(times, sizes)
        print(
            "\nthe script runs inside this process on clients opened once; pipeline-kit's "
            "figures are its CLI's wall clock: interpreter start-up, imports, the TLS "
            "connections to the hosts and the state database included"
        )


def report(times: Times, sizes: list[int]) -> None:
    header = ("stacks", "pipeline-kit s", "script s", "pk / script", "swarm s", "swarm / pk",
              "pk min", "script min", "swarm min")  # fmt: skip
    rows = [header]
    for stacks in sizes:
        runs = {side: times[(side, stacks)] for side in SIDES}
        med = {side: statistics.median(runs[side]) for side in SIDES}
        rows.append((
            str(stacks), f"{med['pk']:.3f}", f"{med['script']:.3f}",
            f"{med['pk'] / med['script']:.2f}", f"{med['swarm']:.3f}",
            f"{med['swarm'] / med['pk']:.2f}",
            *(f"{min(runs[side]):.3f}" for side in SIDES),
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    print("promote webapp 1.1.0 --to prod (N stacks: N started, health-checked, N removed)")
    for row in rows:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers such as 1,2,4,8: {text!r}") from None
    if not sizes or any(not 1 <= size <= 16 for size in sizes):
        raise argparse.ArgumentTypeError("stack counts must be between 1 and 16")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds; median reported")
    parser.add_argument("--stacks", type=_sizes, default=list(SIZES), help="e.g. 1,2,4,8")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return run_guarded(lambda: bench(args.repeat, args.stacks), (*FAILURES, BedError))


if __name__ == "__main__":
    sys.exit(main())
