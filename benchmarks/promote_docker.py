"""pipeline-kit against a plain sequential ``docker run`` script, on a real Docker engine.

The reference: redeploying 12 containers (2 services x 2 stacks x 3 stages) took 12 s in a
published thesis. On this machine, side by side, wall clock, median of ``--repeat`` runs:

* ``pipeline-kit deploy`` of those 12 containers from nothing. The state (services ``web``
  and ``api``, ``--image webapp --stacks 2 --version 1.0.0``) is written by ``service add``
  with ``PIPELINE_KIT_RUNTIME=none``, so no container runs before the timed ``deploy``,
  which starts all 12 and waits until each answers ``/health``.
* The baseline: a bash script of 12 ``docker run -d --network host -e PORT=.. -e
  PIPELINE_KIT_VERSION=1.0.0 127.0.0.1:5000/webapp:1.0.0``, one after the other, then a
  wait until each answers ``/health`` (polled with urllib, as a script would with curl).
* ``pipeline-kit promote web 1.1.0 --to prod`` on top of that deploy (2 new containers
  started and health-checked, the state committed, 2 removed), against a bash script of 2
  ``docker run`` of the new version, the same wait, and 2 ``docker rm -f``.

Every repetition starts from nothing: a new state database, and every container of the
previous run removed. The two sides alternate which runs first; one untimed round of each
warms the caches. The images are built once from examples/webapp with docker-py and tagged
``127.0.0.1:5000/webapp:1.0.0`` and ``:1.1.0``; no registry runs (the runtime pulls only
when the engine lacks the image).

The engine is ``DOCKER_HOST`` or /var/run/docker.sock when one answers, else a private
dockerd started like the test suite's (root; vfs, no bridge, no iptables) and stopped at
the end. The benchmark refuses an engine that already runs pipeline-kit containers, since
it removes every container labelled ``io.pipeline-kit.service`` between runs.

It prints figures, ratios and the targets to compare them with; it asserts nothing about
time. It exits 1 with one line when a command fails.

    .venv/bin/python -m benchmarks.promote_docker [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shlex
import shutil
import socket
import statistics
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

from benchmarks.timing import (
    BenchError,
    Row,
    cli_command,
    fmt,
    print_table,
    run_guarded,
    run_timed,
    settle,
    timed,
)
from pipeline_kit import config
from pipeline_kit.model import actions
from pipeline_kit.model.errors import PipelineKitError
from pipeline_kit.pipeline import manage, reconcile
from pipeline_kit.store.database import Scope
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

REFERENCE_S = 12.0  # the thesis: redeploying 12 containers
TARGET_DEPLOY_S = 3.0
TARGET_RATIO = 0.6

CONFIG_TEXT = """\
# written by benchmarks/promote_docker.py
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
    return client.containers.list(all=True, filters={"label": label})


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

    def fresh_state(self) -> dict[str, str]:
        """A new database with web and api, no container started; the env that uses it."""
        self.runs += 1
        db = self.folder / f"state-{self.runs}.db"
        setup = self.env(db, runtime="none")
        for service in SERVICES:
            argv = [*self.cli, "service", "add", service, "--image", "webapp"]
            run_timed([*argv, "--stacks", str(STACKS), "--version", OLD], self.folder, setup)
        return self.env(db)


def pipeline_kit_round(client: Any, project: Project) -> tuple[float, float]:
    """(deploy s, promote s) of pipeline-kit, from nothing."""
    env = project.fresh_state()
    remove_all(client)
    settle()
    deploy = run_timed([*project.cli, "deploy"], project.folder, env)
    expect_running(client, PK_LABEL, 0, "pipeline-kit deploy")
    argv = [*project.cli, "promote", PROMOTED, NEW, "--to", "prod"]
    promote = run_timed(argv, project.folder, env)
    expect_running(client, PK_LABEL, STACKS, "pipeline-kit promote")
    remove_all(client)
    return deploy, promote


def in_process_round(client: Any, project: Project) -> tuple[float, float]:
    """The same deploy and promote through the functions the CLI calls: no interpreter
    start-up, no imports, no CLI parsing or rendering."""
    env = project.fresh_state()
    remove_all(client)
    settings = config.load(project.folder, env)
    settle()
    try:
        store = manage.open_store(settings)
        try:
            deploy = timed(lambda: reconcile.deploy(settings, store, None, False, print))
        finally:
            store.dispose()
        expect_running(client, PK_LABEL, 0, "in-process deploy")

        def build(state: Any, ctx: Any) -> Any:
            return actions.promote(state, ctx, PROMOTED, "prod", NEW)

        scope = Scope(services=frozenset({PROMOTED}))
        promote = timed(lambda: manage.execute(settings, scope, build))
    except PipelineKitError as exc:
        raise BenchError(f"in-process pipeline-kit: {exc}") from None
    expect_running(client, PK_LABEL, STACKS, "in-process promote")
    remove_all(client)
    return deploy, promote


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


def baseline_round(client: Any, baseline: Baseline) -> tuple[float, float]:
    """(deploy s, promote s) of the bash scripts, from nothing."""
    deploy_sh, promote_sh = baseline.scripts()
    remove_all(client)
    settle()
    env = dict(os.environ)
    deploy = run_timed(["bash", str(deploy_sh)], baseline.folder, env)
    expect_running(client, BASE_LABEL, 0, "deploy.sh")
    promote = run_timed(["bash", str(promote_sh)], baseline.folder, env)
    expect_running(client, BASE_LABEL, STACKS, "promote.sh")
    remove_all(client)
    return deploy, promote


# -- the floors (where the time of one CLI run goes) -------------------------------------------


def floors(project: Project, baseline: Baseline, client: Any, repeat: int) -> list[Row]:
    """Fixed costs: interpreter, CLI start-up, a deploy with nothing to do, one docker run."""
    env = project.fresh_state()
    remove_all(client)
    run_timed([*project.cli, "deploy"], project.folder, env)
    py = sys.executable
    imports = "import pipeline_kit.cli.main, pipeline_kit.pipeline.reconcile, docker"
    series = [
        ("python -c pass", [py, "-c", "pass"], ""),
        ("import cli.main+reconcile+docker", [py, "-c", imports], "what deploy imports"),
        ("pipeline-kit --help", [*project.cli, "--help"], "CLI start-up"),
        (
            "pipeline-kit deploy (nothing to do)",
            [*project.cli, "deploy"],
            f"{CONTAINERS} running: ping, list, {CONTAINERS} health probes",
        ),
        ("docker version", [baseline.docker_cli, "-H", baseline.engine, "version"], "CLI floor"),
    ]
    rows = []
    for label, argv, note in series:
        run_timed(argv, project.folder, env)
        runs = [run_timed(argv, project.folder, env) for _ in range(repeat)]
        rows.append(Row(None, label, runs, None, note))
    remove_all(client)
    port = baseline.ports(1)[0]
    one = baseline.folder / "one.sh"
    one.write_text("#!/bin/bash\nset -euo pipefail\n" + baseline.run_line("pkb-one", port, OLD))
    runs = []
    for _ in range(repeat + 1):
        runs.append(run_timed(["bash", str(one)], baseline.folder, dict(os.environ)))
        remove_all(client)
    rows.append(Row(1, "bash: one docker run -d", runs[1:], None, "no health wait"))
    return rows


# -- report ------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(times: dict[str, list[float]], repeat: int) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    pk_deploy, base_deploy = median(times["pk deploy"]), median(times["base deploy"])
    pk_promote, base_promote = median(times["pk promote"]), median(times["base promote"])
    r_deploy, r_promote = pk_deploy / base_deploy, pk_promote / base_promote
    print(f"\ncomparison (median of {repeat}; ratio = pipeline-kit / sequential script):")
    print(
        f"  deploy {CONTAINERS} containers from nothing: pipeline-kit {fmt(pk_deploy)} s, "
        f"script {fmt(base_deploy)} s, ratio {r_deploy:.2f}"
    )
    print(
        f"  promote {PROMOTED} ({STACKS} stacks):             pipeline-kit {fmt(pk_promote)} s, "
        f"script {fmt(base_promote)} s, ratio {r_promote:.2f}"
    )
    print("\ntargets (for comparison; nothing is asserted):")
    print(
        f"  {CONTAINERS}-container deploy < {TARGET_DEPLOY_S:g} s: {fmt(pk_deploy)} s "
        f"[{verdict(pk_deploy < TARGET_DEPLOY_S)}]"
    )
    for what, ratio in (("deploy", r_deploy), ("promote", r_promote)):
        print(
            f"  pipeline-kit <= {TARGET_RATIO:g}x the sequential script ({what}): "
            f"{ratio:.2f}x [{verdict(ratio <= TARGET_RATIO)}]"
        )
    print(
        f"  reference (published thesis): redeploying {CONTAINERS} containers took "
        f"{REFERENCE_S:g} s; pipeline-kit here {fmt(pk_deploy)} s = "
        f"{pk_deploy / REFERENCE_S:.2f}x, script {fmt(base_deploy)} s = "
        f"{base_deploy / REFERENCE_S:.2f}x"
    )


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


# -- main --------------------------------------------------------------------------------------


def bench(repeat: int, breakdown: bool) -> None:
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
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pk-promote-")))
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
        project = Project(folder, cli)
        base_folder = root / "baseline"
        base_folder.mkdir()
        baseline = Baseline(base_folder, url, docker_cli)

        pipeline_kit_round(client, project)  # warm-up, untimed
        baseline_round(client, baseline)
        in_process_round(client, project)
        print("  warm-up round done", flush=True)
        sides = ("pk", "base", "inproc")
        times: dict[str, list[float]] = {f"{s} {op}": [] for s in sides for op in OPS}
        for k in range(repeat):
            for side in sides[k % 3 :] + sides[: k % 3]:  # each side first in turn
                if side == "pk":
                    deploy, promote = pipeline_kit_round(client, project)
                elif side == "base":
                    deploy, promote = baseline_round(client, baseline)
                else:
                    deploy, promote = in_process_round(client, project)
                times[f"{side} deploy"].append(deploy)
                times[f"{side} promote"].append(promote)
            print(
                f"  run {k + 1}/{repeat}: "
                + "; ".join(
                    f"{op} pk {fmt(times[f'pk {op}'][-1])} (in-process "
                    f"{fmt(times[f'inproc {op}'][-1])}) / script {fmt(times[f'base {op}'][-1])} s"
                    for op in OPS
                ),
                flush=True,
            )
        rows = [
            Row(
                CONTAINERS,
                "pipeline-kit deploy",
                times["pk deploy"],
                median(times["inproc deploy"]),
                "from nothing",
            ),
            Row(
                CONTAINERS,
                "bash: 12 x docker run + wait /health",
                times["base deploy"],
                None,
                "sequential",
            ),
            Row(
                STACKS,
                f"pipeline-kit promote {PROMOTED} {NEW} --to prod",
                times["pk promote"],
                median(times["inproc promote"]),
                "2 started, 2 removed",
            ),
            Row(
                STACKS,
                "bash: 2 x docker run + wait + 2 x rm -f",
                times["base promote"],
                None,
                "sequential",
            ),
        ]
        if breakdown:
            print("  measuring the fixed costs", flush=True)
            rows += floors(project, baseline, client, repeat)
        print(f"\n  load average at the end: {load()}\n")
        print_table(rows)
        report(times, repeat)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; the median is reported"
    )
    parser.add_argument(
        "--no-breakdown",
        action="store_true",
        help="skip the fixed costs (interpreter, CLI start-up, one docker run)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    failures = (DockerException, requests.RequestException, OSError)
    return run_guarded(lambda: bench(args.repeat, not args.no_breakdown), failures)


if __name__ == "__main__":
    sys.exit(main())
