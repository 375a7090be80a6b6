"""A promotion on Docker Swarm beside the same promotion on the Docker runtime, one engine.

One private dockerd (vfs, no bridge, no iptables, as the tests start it) is made a
single-node Swarm advertising 127.0.0.1; a private registry serves the webapp images built
from examples/webapp (the Swarm's nodes pull from it). The Docker runtime drives the same
engine as a plain host (``[[hosts]]``), so both sides start the same image on the same
machine; only the runtime differs. No HAProxy on either side: the figures are the runtime's.

Each round, from nothing (a new state database, every labelled container and Swarm service
removed): ``service add webapp --version 1.0.0`` (one stack, 3 stages: 3 containers, or 3
Swarm services), then the timed ``promote webapp 1.1.0 --to prod`` (start the new one, wait
until it answers /health, commit, remove the one that left). The sides alternate which runs
first; one untimed round of each warms the caches. Wall clock of the CLI, median and min of
``--repeat`` rounds. It prints figures and asserts nothing about time.

    .venv/bin/python -m benchmarks.promote_swarm [--repeat 5]
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

from benchmarks.docker_bench import FAILURES, load
from benchmarks.timing import BenchError, cli_command, run_guarded, run_timed, settle
from tests.support.docker import Dockerd, DockerdError
from tests.support.images import webapp_context
from tests.support.registry import start_registry
from tests.support.swarm import Member, SwarmBed, project_config

OLD, NEW = "1.0.0", "1.1.0"
SIDES = ("docker", "swarm")
LABEL = "io.pipeline-kit.service"

DOCKER_CONFIG = """\
stages = ["prod", "qa", "dev"]
health_path = "/health"
health_timeout = "60s"
ports = "30000-39999"

[registry]
url = "{registry}"
insecure = true

[[hosts]]
name = "local"
url = "{engine}"
"""


@dataclass
class Side:
    """One runtime's project folder and the CLI runs of its promotions."""

    name: str
    folder: Path
    add: list[float] = field(default_factory=list)
    promote: list[float] = field(default_factory=list)
    runs: int = 0

    def round(self, cli: list[str], repository: str) -> tuple[float, float]:
        self.runs += 1
        env = {"PIPELINE_KIT_DB": f"sqlite:///{self.folder / f'state-{self.runs}.db'}"}
        env = {**_environ(), **env}
        settle()
        add = [*cli, "service", "add", "webapp", "--image", repository, "--version", OLD]
        added = run_timed(add, self.folder, env)
        settle()
        promoted = run_timed([*cli, "promote", "webapp", NEW, "--to", "prod"], self.folder, env)
        return added, promoted


def _environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_KIT_")}
    env.pop("DOCKER_HOST", None)
    env.setdefault("USER", "bench")
    return env


def clear(client: Any) -> None:
    """Every labelled Swarm service and container, and wait until none runs."""
    for service in client.services.list(filters={"label": LABEL}):
        service.remove()
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        with contextlib.suppress(*FAILURES):
            container.remove(force=True)
    deadline = time.monotonic() + 60
    while client.containers.list(all=True, filters={"label": LABEL}):
        if time.monotonic() > deadline:
            raise BenchError("labelled containers still there 60 s after their removal")
        time.sleep(0.2)


@contextlib.contextmanager
def swarm_engine() -> Iterator[tuple[SwarmBed, str]]:
    """A private dockerd made a single-node Swarm, a registry with the images; both stopped."""
    engine = Dockerd()
    registry = start_registry()
    bed = SwarmBed([Member("")])
    try:
        try:
            engine.start()
        except DockerdError as exc:
            raise BenchError(str(exc).splitlines()[0]) from None
        bed = SwarmBed([Member(engine.url)])
        bed.form()
        repository = f"{registry.host}/webapp"
        with tempfile.TemporaryDirectory(prefix="pk-bench-swarm-") as folder:
            image, _ = bed.manager.images.build(path=str(webapp_context(Path(folder))), rm=True)
        for version in (OLD, NEW):
            image.tag(repository, version)
            for line in bed.manager.images.push(repository, tag=version, stream=True, decode=True):
                if "error" in line:
                    raise BenchError(f"cannot push {repository}:{version}: {line['error']}")
        yield bed, repository
    finally:
        if bed.clients:
            with contextlib.suppress(*FAILURES):
                clear(bed.manager)
            bed.leave()
        engine.stop()
        registry.stop()


def bench(repeat: int) -> None:
    cli = cli_command()
    with swarm_engine() as (bed, repository), tempfile.TemporaryDirectory() as root:
        client = bed.manager
        registry = repository.rsplit("/", 1)[0]
        print(f"engine: docker {client.version().get('Version', '?')} at {bed.manager_url}")
        print(f"  single-node Swarm, registry {registry}; repeat {repeat} (median reported)")
        print(f"  load average at start: {load()}\n", flush=True)
        sides = {name: Side(name, Path(root, name)) for name in SIDES}
        for side in sides.values():
            side.folder.mkdir()
        (sides["docker"].folder / "pipeline-kit.toml").write_text(
            DOCKER_CONFIG.format(registry=registry, engine=bed.manager_url)
        )
        (sides["swarm"].folder / "pipeline-kit.toml").write_text(
            project_config(bed.manager_url, registry, "60s")
        )
        for turn in range(repeat + 1):  # the first round of each side warms the caches
            order = SIDES if turn % 2 == 0 else SIDES[::-1]
            for name in order:
                clear(client)
                added, promoted = sides[name].round(cli, repository)
                if turn:
                    sides[name].add.append(added)
                    sides[name].promote.append(promoted)
        clear(client)
        report(sides)


def report(sides: dict[str, Side]) -> None:
    header = ("runtime", "operation", "median s", "min s", "runs")
    rows = [header]
    for side in sides.values():
        for operation, runs in (("service add (3)", side.add), ("promote to prod", side.promote)):
            median = statistics.median(runs)
            rows.append((side.name, operation, f"{median:.3f}", f"{min(runs):.3f}",
                         " ".join(f"{r:.2f}" for r in runs)))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    ratio = statistics.median(sides["swarm"].promote) / statistics.median(sides["docker"].promote)
    print(f"\npromote to prod: swarm / docker = {ratio:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    return run_guarded(lambda: bench(max(1, args.repeat)), FAILURES)


if __name__ == "__main__":
    sys.exit(main())
