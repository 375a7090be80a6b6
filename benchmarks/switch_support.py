"""The two sides of benchmarks/switch.py and how a switch under load is measured.

``measure`` runs one switch under a paced load (``tests.support.load.Load``) and turns the
samples into ``Figures``; ``Project`` drives pipeline-kit as a subprocess; ``Naive`` is the
baseline (stop the old container, start the new one on the same port) with docker-py.
Nothing here asserts anything about time; a command that fails raises ``BenchError``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.timing import BenchError, run_timed
from tests.support.load import Load, Sample, failures, rate, summary

RATE = 250.0  # requests per second, one new TCP connection each
PRE_S = 1.0  # load before the switch starts
POST_S = 2.0  # load after the switch returned
OLD, NEW = "1.0.0", "1.1.0"
SERVICE = "webapp"
PK_LABEL = "io.pipeline-kit.service"
BASE_LABEL = "io.pipeline-kit-bench.switch"
POLL_S = 0.1  # the baseline's health poll (pipeline-kit's health poll is 0.1 s too)
HEALTH_TIMEOUT_S = 60.0
FREE_PORTS = (40000, 49999)  # outside the project's container and edge port ranges


def body(version: str) -> str:
    """What the example webapp answers on / for ``version``."""
    return f"{SERVICE} {version}"


def free_port(taken: set[int]) -> int:
    """A port of FREE_PORTS that is bindable on 127.0.0.1 now and not in ``taken``."""
    for port in range(*FREE_PORTS):
        if port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        taken.add(port)
        return port
    raise BenchError(f"no free port in {FREE_PORTS[0]}-{FREE_PORTS[1]}")


def get(port: int, path: str, timeout: float = 1.0) -> tuple[int, str] | None:
    """(status, stripped body) of one GET on 127.0.0.1:port, or None when it fails."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        answer = conn.getresponse()
        return answer.status, answer.read().decode(errors="replace").strip()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def wait_for(port: int, path: str, expect: str | None, what: str) -> None:
    """Poll every POLL_S until ``path`` answers 200 (with body ``expect`` if given)."""
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while True:
        got = get(port, path)
        if got is not None and got[0] == 200 and (expect is None or got[1] == expect):
            return
        if time.monotonic() >= deadline:
            raise BenchError(f"{what}: 127.0.0.1:{port}{path} answered {got!r}, not {expect!r}")
        time.sleep(POLL_S)


# -- figures -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """One switch under load; times in seconds from the command's start."""

    side: str
    run: int  # 0 is the warm-up
    sent: int
    failed: int
    first_new: float | None  # the first response of the new version arrived
    all_new: float | None  # from here on, every response is the new version
    wall: float  # the command (or the baseline's stop/rm/run/wait)
    rate: float  # achieved requests per second
    summary: str


def arrival(sample: Sample) -> float:
    return sample.start + sample.elapsed


def figures(
    side: str, run: int, samples: Sequence[Sample], began: float, wall: float, new_body: str
) -> Figures:
    """The figures of one switch: ``began`` is the command's start (time.monotonic())."""
    bad = {id(s) for s in failures(samples)}
    is_new = [id(s) not in bad and s.body == new_body for s in samples]
    new_at = [arrival(s) for s, new in zip(samples, is_new, strict=True) if new]
    other_at = [arrival(s) for s, new in zip(samples, is_new, strict=True) if not new]
    first_new = min(new_at) - began if new_at else None
    last_other = max(other_at, default=float("-inf"))
    settled = [t for t in new_at if t > last_other]  # the run of new answers to the end
    all_new = min(settled) - began if settled else None
    return Figures(
        side,
        run,
        len(samples),
        len(bad),
        first_new,
        all_new,
        wall,
        rate(samples),
        summary(samples),
    )


def measure(side: str, run: int, port: int, switch: Callable[[], None], new_body: str) -> Figures:
    """``switch()`` under RATE req/s on 127.0.0.1:port/, PRE_S before and POST_S after."""
    with Load(
        f"http://127.0.0.1:{port}/", rate=RATE, max_requests=200_000, max_seconds=600
    ) as load:
        time.sleep(PRE_S)
        began = time.monotonic()
        switch()
        wall = time.monotonic() - began
        time.sleep(POST_S)
    return figures(side, run, load.stop(), began, wall, new_body)


def median(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


# -- pipeline-kit ------------------------------------------------------------------------------

CONFIG_TEXT = """\
# written by benchmarks/switch.py
stages = ["prod", "qa", "dev"]
network = "host"
health_path = "/health"
health_timeout = "60s"
ports = "34000-34999"

[registry]
url = "{registry}"
insecure = true

[[hosts]]
name = "a"
url = "{engine}"

[[hosts]]
name = "b"
url = "{engine}"

[lb]
enabled = true
dir = "haproxy"
edge_ports = "35000-35999"
drain = "10s"
"""


@dataclass
class Project:
    """A pipeline-kit project: webapp on 2 stacks, prod 1.0.0, qa and dev 1.1.0, endpoint
    ``web`` on ``port`` at prod, served by HAProxy."""

    folder: Path
    cli: list[str]
    port: int
    env: dict[str, str] = field(default_factory=dict)

    def write(self, engine: str, registry: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        text = CONFIG_TEXT.format(engine=engine, registry=registry)
        (self.folder / "pipeline-kit.toml").write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPELINE_KIT_")}
        env.pop("GITHUB_ACTIONS", None)
        env["PIPELINE_KIT_DB"] = f"sqlite:///{self.folder / 'state.db'}"
        env.setdefault("USER", "bench")
        self.env = env

    def run(self, *args: str) -> float:
        """Wall clock of ``pipeline-kit ARGS`` in the project; BenchError when it fails."""
        return run_timed([*self.cli, *args], self.folder, self.env)

    def set_up(self, repository: str) -> None:
        image = ("--image", repository, "--stacks", "2", "--version", OLD)
        self.run("service", "add", SERVICE, *image)
        endpoint = ("--service", SERVICE, "--port", str(self.port), "--stage", "prod")
        self.run("endpoint", "add", "web", *endpoint)
        self.run("promote", SERVICE, NEW, "--to", "qa")
        self.run("promote", SERVICE, "--to", "qa")
        self.expect(OLD)

    def prod(self) -> str:
        argv = [*self.cli, "show", "services", "--json"]
        done = subprocess.run(
            argv, cwd=self.folder, env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise BenchError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[:500]}")
        shown: list[dict[str, Any]] = json.loads(done.stdout)
        return str(shown[0]["stages"].get("prod", "?"))

    def expect(self, version: str) -> None:
        """prod runs ``version`` in the state and the endpoint answers it."""
        if (found := self.prod()) != version:
            raise BenchError(f"pipeline-kit: prod runs {found}, expected {version}")
        wait_for(self.port, "/", body(version), "the endpoint")

    def switch(self, side: str, run: int, args: tuple[str, ...], version: str) -> Figures:
        """``pipeline-kit ARGS`` under load; prod must run ``version`` afterwards."""

        def command() -> None:
            self.run(*args)

        shown = measure(side, run, self.port, command, body(version))
        self.expect(version)
        return shown


# -- the naive baseline ------------------------------------------------------------------------


@dataclass
class Naive:
    """One container of the webapp with host networking on ``port``, replaced in place."""

    client: Any
    repository: str
    port: int
    current: Any = None

    def start(self, version: str) -> None:
        self.current = self.client.containers.run(
            f"{self.repository}:{version}",
            detach=True,
            name=f"pk-switch-naive-{version}-{time.monotonic_ns()}",
            network_mode="host",
            environment={"PORT": str(self.port), "PIPELINE_KIT_VERSION": version},
            labels={BASE_LABEL: "1", f"{BASE_LABEL}.version": version},
        )

    def replace(self) -> None:
        """What a naive script does: stop, remove, run the new one, wait until it answers."""
        if self.current is not None:
            self.current.stop()
            self.current.remove()
        self.start(NEW)
        wait_for(self.port, "/health", None, "the new container")

    def switch(self, run: int) -> Figures:
        self.remove()
        self.start(OLD)
        wait_for(self.port, "/", body(OLD), "the old container")
        shown = measure("naive stop+run", run, self.port, self.replace, body(NEW))
        wait_for(self.port, "/", body(NEW), "the new container")
        self.remove()
        return shown

    def remove(self) -> None:
        for container in self.client.containers.list(all=True, filters={"label": BASE_LABEL}):
            with contextlib.suppress(Exception):
                container.remove(force=True)
        self.current = None
