"""The verification window and standby containers, on a real Docker engine behind HAProxy,
measured in one run under a paced load of 250 requests/s (tests/support/load.py):

* **dying version**: ``[gates.prod] verify = "60s"``; ``pipeline-kit promote webapp --to
  prod`` runs as a subprocess; once the endpoint answers the new version, 1 s later, the
  new prod containers are killed (docker kill). Figures: requests that failed, seconds
  from the kill to the first answer of the previous version (detection and the rollback's
  switch), and to the command's end (it must exit 1).
* **instant rollback**: ``verify = "2s"``, ``standby = "15m"``: after a promotion that
  passed its window, ``pipeline-kit rollback webapp --stage prod`` takes the standby
  containers back (no container starts).
* **rollback starting containers**: no gate keys (as before standby existed): the same
  rollback starts containers of the previous version.

For both rollbacks: failed requests, seconds from the command's start to the first answer of
the previous version, to the point from which only it answers, and the command's wall time.
Every case sets up its own project (webapp on 2 stacks, prod 1.0.0, qa/dev 1.1.0), untimed.
The engine, registry and clean-up are those of benchmarks/switch.py. Nothing about time is
asserted; a failing set-up or command exits 1 with one line.

    .venv/bin/python -m benchmarks.verify --repeat 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from docker.errors import DockerException

from benchmarks.docker_bench import docker_engine
from benchmarks.switch import machine_info, remove_labelled
from benchmarks.switch_support import NEW, OLD, RATE, SERVICE, Project, free_port, measure, median
from benchmarks.switch_support import body as answer
from benchmarks.switch_support import wait_for as wait_answer
from benchmarks.timing import BenchError, cli_command, run_guarded
from tests.support.images import build_webapp_images
from tests.support.load import Load, failures
from tests.support.registry import start_registry

INSTANT = "rollback to standby"
STARTING = "rollback starting containers"


@dataclass(frozen=True)
class Dying:
    failed: int
    sent: int
    back: float | None  # kill → first answer of the previous version
    returned: float  # kill → the command's end


@dataclass
class Bench:
    client: Any
    engine: str
    registry: str
    repository: str
    root: Path
    taken: set[int]
    made: int = 0

    def project(self, gate: str) -> Project:
        self.made += 1
        project = Project(self.root / f"p{self.made}", cli_command(), free_port(self.taken))
        project.write(self.engine, self.registry)
        if gate:
            with (project.folder / "pipeline-kit.toml").open("a") as config:
                config.write(f"\n[gates.prod]\n{gate}\n")
        project.set_up(self.repository)
        return project

    def done(self, project: Project) -> None:
        from pipeline_kit.lb.haproxy import HAProxy

        HAProxy(project.folder / "haproxy").stop()
        remove_labelled(self.client)

    def prod_containers(self, project: Project) -> list[Any]:
        argv = [*project.cli, "show", "containers", SERVICE, "--json"]
        shown = subprocess.run(
            argv, cwd=project.folder, env=project.env, capture_output=True, text=True, check=True
        )
        stacks = json.loads(shown.stdout)[0]["stacks"]
        ids = {c["id"] for s in stacks for c in s["containers"] if c["stage"] == "prod"}
        running = self.client.containers.list(
            filters={"label": f"io.pipeline-kit.service={SERVICE}"}
        )
        return [c for c in running if c.labels["io.pipeline-kit.id"] in ids]

    def dying(self) -> Dying:
        project = self.project('verify = "60s"')
        try:
            return self._dying(project)
        finally:
            self.done(project)

    def _dying(self, project: Project) -> Dying:
        url = f"http://127.0.0.1:{project.port}/"
        argv = [*project.cli, "promote", SERVICE, "--to", "prod"]
        with Load(url, rate=RATE, max_requests=100_000, max_seconds=300) as load:
            time.sleep(1.0)
            with subprocess.Popen(argv, cwd=project.folder, env=project.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) as promote:  # fmt: skip
                wait_answer(project.port, "/", answer(NEW), "the new version")
                time.sleep(1.0)
                killed = time.monotonic()
                for container in self.prod_containers(project):
                    container.kill()
                _, err = promote.communicate(timeout=300)
            returned = time.monotonic() - killed
            time.sleep(2.0)
        samples = load.stop()
        if promote.returncode != 1:
            raise BenchError(f"promote of the dying version exited {promote.returncode}: {err}")
        project.expect(OLD)
        back = [s.start for s in samples if s.start > killed and s.body == answer(OLD)]
        first = min(back) - killed if back else None
        return Dying(len(failures(samples)), len(samples), first, returned)

    def rollback(self, side: str, gate: str, run: int) -> Any:
        project = self.project(gate)
        try:
            project.run("promote", SERVICE, "--to", "prod")
            project.expect(NEW)
            before = {c.id for c in self.client.containers.list(all=True)}
            args = ("rollback", SERVICE, "--stage", "prod")
            shown = measure(side, run, project.port, lambda: project.run(*args), answer(OLD))
            started = {c.id for c in self.client.containers.list(all=True)} - before
            print(f"  {side}: {len(started)} container(s) started", flush=True)
            return shown
        finally:
            self.done(project)


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def bench(repeat: int) -> None:
    with contextlib.ExitStack() as stack:
        url, where = stack.enter_context(docker_engine())
        client = docker.DockerClient(base_url=url, timeout=120)
        stack.callback(client.close)
        machine_info(client, url, where)
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pk-verify-")))
        try:
            registry = start_registry()
        except pytest.fail.Exception as exc:
            raise BenchError(f"docker-registry: {str(exc).splitlines()[0]}") from None
        stack.callback(registry.stop)
        repository = build_webapp_images(client, registry.host, root / "images")
        stack.callback(lambda: remove_labelled(client))
        work = Bench(client, url, registry.host, repository, root, set())
        dying, instant, starting = [], [], []
        for run in range(1, repeat + 1):
            one = work.dying()
            dying.append(one)
            print(f"  run {run} dying version: {one.failed} failed of {one.sent}, previous "
                  f"version back {fmt(one.back)} s after the kill, command ended "
                  f"{fmt(one.returned)} s after it", flush=True)  # fmt: skip
            instant.append(work.rollback(INSTANT, 'verify = "2s"\nstandby = "15m"', run))
            starting.append(work.rollback(STARTING, "", run))
        report(dying, instant, starting)


def report(dying: list[Dying], instant: list[Any], starting: list[Any]) -> None:
    print(f"\ndying version, median of {len(dying)}: "
          f"{median([d.failed for d in dying])} failed requests "
          f"(of {median([d.sent for d in dying])}); previous version answering "
          f"{fmt(median([d.back for d in dying]))} s after the kill; command ended "
          f"{fmt(median([d.returned for d in dying]))} s after it (exit 1)")  # fmt: skip
    header = ("rollback", "failed", "first old s", "all old s", "command s")
    print("\n" + "  ".join(header))
    for side, rows in ((INSTANT, instant), (STARTING, starting)):
        cells = [
            side.ljust(len(STARTING)),
            str(median([r.failed for r in rows])),
            fmt(median([r.first_new for r in rows])),
            fmt(median([r.all_new for r in rows])),
            fmt(median([r.wall for r in rows])),
        ]
        print("  ".join(cells))
    print(
        "\nfirst old / all old: seconds from the rollback's start to the first answer of "
        f"{SERVICE} {OLD}, and to the point after which no other answer came (medians)."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="measured rounds (default 2)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    failures_of = (DockerException, requests.RequestException, OSError)
    return run_guarded(lambda: bench(args.repeat), failures_of)


if __name__ == "__main__":
    sys.exit(main())
