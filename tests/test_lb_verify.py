"""The verification window and standby containers with a real HAProxy in front of real
containers, under a bounded load of 250 requests/s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import requests

from tests.conftest import CLI
from tests.support.docker import labelled
from tests.support.load import Load, Sample, failures, rate, since, summary
from tests.test_lb_promote import NEW, OLD, RATE, routed, stages, switch_under_load  # noqa: F401
from tests.test_runtime import clean, webapp_repository  # noqa: F401


def gates(folder: Path, **keys: str) -> None:
    """Add a ``[gates.prod]`` table with ``keys`` to the project's config."""
    lines = "".join(f'{key} = "{value}"\n' for key, value in keys.items())
    with (folder / "pipeline-kit.toml").open("a") as config:
        config.write(f"\n[gates.prod]\n{lines}")


def prod_containers(cli: CLI, client: docker.DockerClient) -> list[Any]:
    """The running containers of webapp's prod stage."""
    shown = json.loads(cli("show", "containers", "webapp", "--json").out)[0]
    ids = {c["id"] for s in shown["stacks"] for c in s["containers"] if c["stage"] == "prod"}
    running = client.containers.list(filters={"label": "io.pipeline-kit.service=webapp"})
    return [c for c in running if c.labels["io.pipeline-kit.id"] in ids]


def body(url: str) -> str | None:
    try:
        return requests.get(url, timeout=2).text.strip()
    except requests.RequestException:
        return None


def test_a_good_version_passes_its_window_under_load(
    routed: tuple[Path, str],  # noqa: F811
    cli: CLI,
    docker_client: docker.DockerClient,
) -> None:
    folder, url = routed
    gates(folder, verify="10s")
    switch_under_load(url, ("promote", "webapp", "--to", "prod"), OLD, NEW)  # 0 failed
    assert stages(cli)["prod"] == "1.1.0"
    shown = cli("show", "containers", "webapp")
    assert shown.out.count("prod (standby)") == 2, shown.out  # kept out of rotation
    kept = json.loads(cli("show", "containers", "webapp", "--json").out)[0]["standby"]
    assert [(k["stage"], k["version"]) for k in kept] == [("prod", "1.0.0")] * 2
    assert cli("verify").code == 0  # standby containers are no drift
    assert len(labelled(docker_client)) == 8
    deployed = cli("deploy")  # their time is up: the next command removes them
    assert deployed.code == 0 and "removed 2 standby container(s)" in deployed.out + deployed.err
    assert len(labelled(docker_client)) == 6 and cli("verify").code == 0


@dataclass
class Killed:
    """A command run under load whose new containers a test killed while it ran."""

    samples: list[Sample]
    code: int
    err: str
    killed_at: float  # time.monotonic() of the kill
    returned: float  # and of the command's end


def kill_under_load(
    url: str, args: tuple[str, ...], ready: Callable[[], bool], kill: Callable[[], None]
) -> Killed:
    """Run ``pipeline-kit ARGS`` under load; once ``ready()``, 1 s later, ``kill()``."""
    command = [sys.executable, "-m", "pipeline_kit", *args]
    with Load(url, rate=RATE, max_requests=40_000, max_seconds=150) as load:
        time.sleep(1.0)
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=dict(os.environ)) as done:  # fmt: skip
            deadline = time.monotonic() + 120
            while not ready():
                assert time.monotonic() < deadline, f"{args} never got ready"
                time.sleep(0.1)
            time.sleep(1.0)
            killed_at = time.monotonic()
            kill()
            out, err = done.communicate(timeout=120)
        returned = time.monotonic()
        time.sleep(2.0)
    return Killed(load.stop(), done.returncode, out + err, killed_at, returned)


def test_a_version_that_dies_in_its_window_rolls_back_by_itself(
    routed: tuple[Path, str],  # noqa: F811
    cli: CLI,
    docker_client: docker.DockerClient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, url = routed
    gates(folder, verify="60s")
    args = ("promote", "webapp", "--to", "prod", "--junit-dir", "reports")

    def kill() -> None:
        for container in prod_containers(cli, docker_client):
            container.kill()

    run = kill_under_load(url, args, lambda: body(url) == NEW, kill)  # switched: window runs
    samples, killed_at, returned = run.samples, run.killed_at, run.returned
    assert run.code == 1, run.err
    assert "verification in prod failed" in run.err and "1.1.0 is rejected" in run.err, run.err
    failed = failures(samples)
    assert all(s.start >= killed_at - 0.5 for s in failed), summary(failed)
    with capsys.disabled():
        report(samples, failed, killed_at, returned)
        print(run.err.strip().splitlines()[-1])  # which measure broke, when; the rollback's time
    late = since(samples, returned)
    assert late and {s.body for s in late} == {OLD} and not failures(late), summary(late)
    assert rate(samples) >= 200, summary(samples)
    assert stages(cli)["prod"] == "1.0.0"
    assert cli("verify").code == 0 and len(labelled(docker_client)) == 6
    assert cli("state", "export", str(tmp_path / "state.json")).code == 0
    rejections = json.loads((tmp_path / "state.json").read_text())["rejections"]
    assert [(r["version"], "containers:" in r["reason"]) for r in rejections] == [("1.1.0", True)]
    junit = (folder / "reports" / "pipeline-kit-prod.xml").read_text()
    assert "watch containers webapp 1.1.0" in junit and "watch error rate webapp" in junit


def report(samples: list[Sample], failed: list[Sample], killed_at: float, returned: float) -> None:
    """Print how many requests failed and how long the way back took (read with -s)."""
    back = [s.start for s in samples if s.start > killed_at and s.body == OLD]
    recovered = min(back) - killed_at if back else float("nan")
    last = max((s.start for s in failed), default=killed_at) - killed_at
    print(
        f"\ndying version: {len(failed)} failed of {len(samples)} requests "
        f"({rate(samples):.0f} req/s); previous version answering {recovered:.2f}s after the "
        f"kill, last failure at {last:.2f}s, command returned {returned - killed_at:.2f}s after"
    )


def test_rollback_within_standby_starts_no_container(
    routed: tuple[Path, str],  # noqa: F811
    cli: CLI,
    docker_client: docker.DockerClient,
) -> None:
    folder, url = routed
    gates(folder, verify="2s", standby="15m")
    assert cli("promote", "webapp", "--to", "prod").code == 0
    before = set(labelled(docker_client))
    assert len(before) == 8  # 6 in the state, 2 on standby
    began = time.monotonic()
    switch_under_load(url, ("rollback", "webapp", "--stage", "prod"), NEW, OLD)
    assert set(labelled(docker_client)) < before  # none started, the rejected ones removed
    assert stages(cli)["prod"] == "1.0.0" and cli("verify").code == 0
    print(f"\ninstant rollback under load: {time.monotonic() - began - 3:.2f}s (command)")


@pytest.mark.parametrize(
    "line", ["max_error_rate = 1.5", "max_error_rate = -1", 'verify = "later"', "standby = -3"]
)
def test_a_bad_gate_value_is_one_line_and_exit_2(project: Path, cli: CLI, line: str) -> None:
    assert cli("service", "add", "web", "--image", "example/web", "--version", "1.0.0").code == 0
    config = project / "pipeline-kit.toml"
    good = config.read_text()
    config.write_text(good + f"\n[gates.prod]\n{line}\n")
    result = cli("promote", "web", "1.1.0", "--to", "qa")
    assert result.code == 2 and "gates.prod" in result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    config.write_text(good)
    assert stages_of(cli, "web") == {"prod": "1.0.0", "qa": "1.0.0", "dev": "1.0.0"}


def stages_of(cli: CLI, service: str) -> dict[str, str]:
    shown: dict[str, str] = json.loads(cli("show", "services", service, "--json").out)[0]["stages"]
    return shown


def test_a_canary_ramp_of_a_good_version_completes_under_load(
    routed: tuple[Path, str],  # noqa: F811
    cli: CLI,
    docker_client: docker.DockerClient,
) -> None:
    folder, url = routed
    gates(folder, verify="3s", standby="0s")
    args = ("promote", "webapp", "--to", "prod", "--canary", "10,50")
    switch_under_load(url, args, OLD, NEW)  # 0 failed, all new once it returned
    assert stages(cli)["prod"] == "1.1.0"
    (web,) = json.loads(cli("show", "endpoints", "--json").out)
    assert web["weights"] == {"1.1.0": 100} and "canary_step" not in web
    assert cli("verify").code == 0 and len(labelled(docker_client)) == 6


def test_a_paused_ramp_shows_its_step_and_continues(
    routed: tuple[Path, str],  # noqa: F811
    cli: CLI,
) -> None:
    folder, url = routed
    gates(folder, verify="2s")
    started = cli("promote", "webapp", "--to", "prod", "--canary", "10:pause,50")
    assert started.code == 0, started.err
    assert "canary: 10% of prod's traffic" in started.out
    (web,) = json.loads(cli("show", "endpoints", "--json").out)
    assert web["weights"] == {"1.0.0": 90, "1.1.0": 10}
    assert web["canary_step"] == "1/2 (10:pause,50)"
    assert "canary step 1/2 (10:pause,50)" in cli("show", "endpoints").out
    assert stages(cli)["prod"] == "1.0.0"
    switch_under_load(url, ("promote", "webapp", "--continue"), OLD, NEW)
    assert stages(cli)["prod"] == "1.1.0" and cli("verify").code == 0


def canary_ports(folder: Path) -> set[str]:
    """The ports of the canary's servers in the running HAProxy config."""
    text = (folder / "haproxy" / "haproxy.cfg").read_text()
    return {
        line.split()[2].rsplit(":", 1)[1]
        for line in text.splitlines()
        if line.strip().startswith("server ") and "-canary " in line
    }


def test_a_dying_canary_aborts_with_the_old_version_serving(
    routed: tuple[Path, str],  # noqa: F811
    cli: CLI,
    docker_client: docker.DockerClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, url = routed
    gates(folder, verify="30s")
    args = ("promote", "webapp", "--to", "prod", "--canary", "10,50")

    def kill() -> None:
        ports = canary_ports(folder)
        for c in docker_client.containers.list(filters={"label": "io.pipeline-kit.port"}):
            if c.labels["io.pipeline-kit.port"] in ports:
                c.kill()

    run = kill_under_load(url, args, lambda: bool(canary_ports(folder)), kill)
    samples, killed_at, returned = run.samples, run.killed_at, run.returned
    assert run.code == 1, run.err
    assert "canary aborted" in run.err and "1.1.0 is rejected" in run.err, run.err
    failed = failures(samples)
    with capsys.disabled():
        print(f"\ndying canary (10%): {len(failed)} failed of {len(samples)} requests, "
              f"command returned {returned - killed_at:.2f}s after the kill")  # fmt: skip
    assert all(s.start >= killed_at - 0.5 for s in failed), summary(failed)
    assert len(failed) <= 0.1 * len(since(samples, killed_at)), summary(failed)
    late = since(samples, returned)
    assert late and {s.body for s in late} == {OLD} and not failures(late), summary(late)
    assert stages(cli)["prod"] == "1.0.0" and not canary_ports(folder)
    # The canary's servers were qa's containers (the same configuration: moved down, not
    # started anew): they died with it, which verify reports and deploy repairs.
    shown = json.loads(cli("show", "containers", "webapp", "--json").out)[0]
    qa = {c["id"] for st in shown["stacks"] for c in st["containers"] if c["stage"] == "qa"}
    drifted = [line for line in cli("verify").out.splitlines() if "drift" not in line]
    assert all(any(i in line for i in qa) for line in drifted), drifted
    assert cli("deploy").code == 0
    assert cli("verify").code == 0 and len(labelled(docker_client)) == 6


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--canary", "0"), "expected percents from 1 to 99"),
        (("--canary", "50,10"), "each above the one before"),
        (("--canary", "abc"), "expected percents from 1 to 99"),
        (("--canary", "101"), "expected percents from 1 to 99"),
        (("--canary", "10,25:wait"), "a step may be written 25:pause"),
        (("--pause",), "--pause needs --canary STEPS"),
    ],
)
def test_a_bad_canary_ramp_is_one_line_and_exit_2(
    project: Path, cli: CLI, args: tuple[str, ...], expected: str
) -> None:
    assert cli("service", "add", "web", "--image", "example/web", "--version", "1.0.0").code == 0
    result = cli("promote", "web", "1.1.0", "--to", "qa", *args)
    assert result.code == 2 and expected in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert stages_of(cli, "web") == {"prod": "1.0.0", "qa": "1.0.0", "dev": "1.0.0"}
