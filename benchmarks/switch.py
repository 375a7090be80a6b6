"""Requests failed and switch latency during a promotion: pipeline-kit behind HAProxy against
a naive stop-and-start of the container, on a real Docker engine, measured in the same run.

Both sides serve the example webapp (tests/support/images.py, ``webapp 1.0.0`` and
``webapp 1.1.0`` on /) on 127.0.0.1 under a paced load of 250 requests/s, each on a new TCP
connection (tests/support/load.py), from 1 s before the switch until 2 s after it returned:

* **pipeline-kit**: a project with webapp on 2 stacks (prod 1.0.0, qa and dev 1.1.0), an
  endpoint ``web`` at prod on a free port and ``[lb] enabled = true``, so that HAProxy
  serves the endpoint. The load goes to the endpoint while ``pipeline-kit promote webapp
  --to prod`` runs as a subprocess; then ``pipeline-kit rollback webapp`` goes back to
  1.0.0 under the same load, measured too (its own row). A rollback rejects the version it
  leaves, so every round sets up a new project (state, HAProxy, endpoint port), untimed.
* **naive stop+run**: with docker-py and no proxy, one container of 1.0.0 with host
  networking on a fixed free port (``PORT``); the load goes to that port while the old
  container is stopped and removed and 1.1.0 is started on the same port, until its
  /health answers (polled every 0.1 s, as a script would).

Per switch: requests sent, failed requests (an error or a non-2xx status), and times from
the command's start: to the first response of the new version (``first new``), to the
start of the run of new-version responses that lasts to the end of the load (``all new``:
no old or failed response after it), and the command's wall time. The sides alternate which
goes first in each of ``--repeat`` rounds, after one warm-up round that is shown but left
out of the medians.

The engine is ``DOCKER_HOST`` or /var/run/docker.sock when one answers, else a private
dockerd (root; vfs, no bridge, no iptables) stopped at the end. A docker-registry on a free
port is named in the project's config, as in the tests (the images are only tagged for it:
the engine has them). Containers, HAProxy, the registry and temp folders are cleaned up at
the end, also on failure. Nothing about time is asserted; a failing set-up or command exits
1 with one line.

    .venv/bin/python -m benchmarks.switch --repeat 3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from docker.errors import DockerException

from benchmarks.docker_bench import docker_engine
from benchmarks.switch_support import (
    BASE_LABEL,
    NEW,
    OLD,
    PK_LABEL,
    POST_S,
    PRE_S,
    RATE,
    SERVICE,
    Figures,
    Naive,
    Project,
    free_port,
    median,
)
from benchmarks.timing import BenchError, cli_command, run_guarded
from tests.support.images import build_webapp_images
from tests.support.registry import start_registry

PROMOTE = "pipeline-kit promote"
ROLLBACK = "pipeline-kit rollback"
NAIVE = "naive stop+run"
SIDES = (PROMOTE, ROLLBACK, NAIVE)


def warn(what: str, exc: BaseException) -> None:
    print(f"warning: {what}: {type(exc).__name__}: {exc}", file=sys.stderr)


def remove_labelled(client: Any) -> None:
    for label in (PK_LABEL, BASE_LABEL):
        for container in client.containers.list(all=True, filters={"label": label}):
            with contextlib.suppress(DockerException):
                container.remove(force=True)


def haproxy_version() -> str:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    try:
        done = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    except OSError as exc:
        return f"not found ({exc.strerror})"
    return (done.stdout.splitlines() or ["?"])[0]


def machine_info(client: Any, url: str, where: str) -> None:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = client.info()
    print(f"machine: {platform.platform()}, {cores} cores, python {platform.python_version()}")
    print(
        f"  docker engine {client.version().get('Version', '?')} at {url} ({where}), "
        f"storage driver {info.get('Driver', '?')}"
    )
    print(f"  haproxy: {haproxy_version()}")
    if hasattr(os, "getloadavg"):
        print("  load average: " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(
        f"  load: {RATE:g} req/s, new TCP connection each, {PRE_S:g} s before the switch "
        f"and {POST_S:g} s after it returned",
        flush=True,
    )


# -- report ------------------------------------------------------------------------------------


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def cells(run: str, side: str, rows: Sequence[Figures]) -> list[str]:
    """One table line: the row itself, or the median of several."""

    def med(values: Sequence[float | None], digits: int = 3) -> str:
        value = median(values)
        return "-" if value is None else f"{value:.{digits}f}"

    return [
        run,
        side,
        med([r.sent for r in rows], 0),
        med([r.failed for r in rows], 0 if len(rows) == 1 else 1),
        med([r.rate for r in rows], 1),
        med([r.first_new for r in rows]),
        med([r.all_new for r in rows]),
        med([r.wall for r in rows]),
    ]


def print_table(results: list[Figures], repeat: int) -> None:
    header = ["run", "side", "sent", "failed", "req/s", "first new s", "all new s", "command s"]
    table = [cells("warm-up" if r.run == 0 else str(r.run), r.side, [r]) for r in results]
    for side in SIDES:
        rows = [r for r in results if r.side == side and r.run > 0]
        table.append(cells(f"median/{repeat}", side, rows))
    widths = [max(len(line[i]) for line in (header, *table)) for i in range(len(header))]

    def line(items: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(items, widths, strict=True))
        )

    print("\n" + line(header))
    print(line(["-" * w for w in widths]))
    for number, items in enumerate(table):
        if number == len(results):
            print(line(["-" * w for w in widths]))
        print(line(items))
    print(
        "\nfirst new / all new: seconds from the command's start to the first response of "
        f"{SERVICE} {NEW} ({OLD} for the rollback), and to the first of the new-version "
        "responses after which no old or failed response came; '-' = never in the window."
    )
    for side in (PROMOTE, NAIVE):
        rows = [r for r in results if r.side == side and r.run > 0]
        settled = fmt(median([r.all_new for r in rows]))
        print(
            f"  {side}: {sum(r.failed for r in rows)} failed of {sum(r.sent for r in rows)} "
            f"requests in {len(rows)} runs; median all new {settled} s"
        )


# -- main --------------------------------------------------------------------------------------


@dataclass
class Rounds:
    """What the rounds share: the engine, the images, the ports used, the projects made."""

    client: Any
    engine: str
    registry: str
    repository: str
    naive: Naive
    taken: set[int]
    folders: list[Path] = field(default_factory=list)

    def pipeline_kit(self, run: int, root: Path) -> list[Figures]:
        """A new project (state, HAProxy, endpoint port): promote, then rollback, measured.

        A new one each round: a rollback rejects the version it leaves, so the same state
        would refuse the next ``promote --to prod``.
        """
        project = Project(root / f"project-{run}", cli_command(), free_port(self.taken))
        self.folders.append(project.folder)
        project.write(self.engine, self.registry)
        try:
            project.set_up(self.repository)
            promoted = project.switch(PROMOTE, run, ("promote", SERVICE, "--to", "prod"), NEW)
            rolled = project.switch(ROLLBACK, run, ("rollback", SERVICE), OLD)
        finally:
            self.stop_haproxy([project.folder])
            remove_labelled(self.client)
        return [promoted, rolled]

    def stop_haproxy(self, folders: Sequence[Path] | None = None) -> None:
        for folder in self.folders if folders is None else folders:
            try:
                from pipeline_kit.lb.haproxy import HAProxy

                HAProxy(folder / "haproxy").stop()
            except Exception as exc:  # a cleanup failure must not hide the first error
                warn(f"could not stop the HAProxy of {folder}", exc)

    def remove_containers(self) -> None:
        try:
            remove_labelled(self.client)
        except (DockerException, requests.RequestException, OSError) as exc:
            warn("could not remove the benchmark's containers", exc)


def bench(repeat: int) -> None:
    with contextlib.ExitStack() as stack:
        url, where = stack.enter_context(docker_engine())
        client = docker.DockerClient(base_url=url, timeout=120)
        stack.callback(client.close)
        busy = [
            c
            for label in (PK_LABEL, BASE_LABEL)
            for c in client.containers.list(all=True, filters={"label": label})
        ]
        if busy:
            raise BenchError(
                f"the engine at {url} already has {len(busy)} labelled containers "
                f"(e.g. {busy[0].name}): use a dedicated engine (DOCKER_HOST)"
            )
        machine_info(client, url, where)
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pk-switch-")))
        try:
            registry = start_registry()
        except pytest.fail.Exception as exc:
            raise BenchError(f"docker-registry: {str(exc).splitlines()[0]}") from None
        stack.callback(registry.stop)
        started = time.perf_counter()
        repository = build_webapp_images(client, registry.host, root / "images")
        print(f"  built {repository}:{OLD},{NEW} in {time.perf_counter() - started:.1f} s")
        taken: set[int] = set()
        naive = Naive(client, repository, free_port(taken))
        rounds = Rounds(client, url, registry.host, repository, naive, taken)
        stack.callback(rounds.remove_containers)
        stack.callback(rounds.stop_haproxy)  # before their folders are removed
        print(f"  naive container on 127.0.0.1:{naive.port}", flush=True)
        results: list[Figures] = []
        for run in range(repeat + 1):  # run 0 warms up
            order = (PROMOTE, NAIVE) if run % 2 == 0 else (NAIVE, PROMOTE)
            for side in order:
                shown = rounds.pipeline_kit(run, root) if side == PROMOTE else [naive.switch(run)]
                for one in shown:
                    results.append(one)
                    label = "warm-up" if run == 0 else f"run {run}/{repeat}"
                    print(
                        f"  {label} {one.side}: first new {fmt(one.first_new)} s, all new "
                        f"{fmt(one.all_new)} s, command {fmt(one.wall)} s; {one.summary}",
                        flush=True,
                    )
        print_table(results, repeat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="measured rounds (default 3)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    failures = (DockerException, requests.RequestException, OSError)
    return run_guarded(lambda: bench(args.repeat), failures)


if __name__ == "__main__":
    sys.exit(main())
