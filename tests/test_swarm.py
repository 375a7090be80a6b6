"""runtime = "swarm": promotions through a real Swarm (a private dockerd in Swarm mode) and a
real HAProxy, under load; Swarm's restarts, verify, failures before the commit, recovery."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from docker.errors import DockerException

from pipeline_kit.lb.haproxy import HAProxy
from tests.conftest import CLI
from tests.support.docker import Dockerd
from tests.support.images import CRASH, SICK
from tests.support.swarm import Member, SwarmBed, swarm_bed, swarm_webapp, write_project  # noqa: F401
from tests.test_lb_promote import free_port, stages, switch_under_load

LB = """
[lb]
enabled = true
dir = "haproxy"
edge_ports = "33000-33999"
drain = "10s"
"""
STAGES = ("prod", "qa", "dev")


def pk_services(bed: SwarmBed) -> dict[str, str]:
    """Swarm service name → the version it runs, of every labelled Swarm service."""
    listed = bed.manager.services.list(filters={"label": "io.pipeline-kit.service"})
    return {s.name: s.attrs["Spec"]["Labels"]["io.pipeline-kit.version"] for s in listed}


@pytest.fixture
def swarmed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    swarm_bed: SwarmBed,  # noqa: F811
    registry_url: str,
    swarm_webapp: str,  # noqa: F811
    cli: CLI,
) -> Iterator[tuple[Path, dict[str, str]]]:
    """webapp at 1.0.0 on one stack of the Swarm; an endpoint per stage through HAProxy."""
    swarm_bed.remove_services()
    folder = tmp_path / "project"
    folder.mkdir()
    write_project(folder, swarm_bed.manager_url, registry_url, LB)
    monkeypatch.chdir(folder)
    for key in ("GITHUB_ACTIONS", "PIPELINE_KIT_CONFIG", "PIPELINE_KIT_KILL_AT", "DOCKER_HOST"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("USER", "tester")
    monkeypatch.setenv("PIPELINE_KIT_DB", f"sqlite:///{tmp_path / 'state.db'}")
    added = cli("service", "add", "webapp", "--image", swarm_webapp, "--version", "1.0.0")
    assert added.code == 0, added.err
    urls = {}
    for stage in STAGES:
        port = str(free_port())
        done = cli("endpoint", "add", f"web-{stage}", "--service", "webapp", "--port", port,
                   "--stage", stage)  # fmt: skip
        assert done.code == 0, done.err
        urls[stage] = f"http://127.0.0.1:{port}/"
    try:
        yield folder, urls
    finally:
        HAProxy(folder / "haproxy").stop()
        swarm_bed.remove_services()


def answer(url: str) -> str:
    return requests.get(url, timeout=5).text.strip()


def pk(folder: Path, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_KIT_KILL_AT"}
    if kill_at:
        env["PIPELINE_KIT_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "pipeline_kit", *args],
        cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def promote_every_stage(
    urls: dict[str, str], capsys: pytest.CaptureFixture[str], where: str
) -> None:
    """webapp 1.1.0 to dev, then to qa, then to prod, each under load through its endpoint
    (switch_under_load: no request fails); prints the load's figures."""
    for stage, args in (
        ("dev", ("promote", "webapp", "1.1.0", "--to", "dev")),
        ("qa", ("promote", "webapp", "--to", "qa")),
        ("prod", ("promote", "webapp", "--to", "prod")),
    ):
        figures = switch_under_load(urls[stage], args, "webapp 1.0.0", "webapp 1.1.0")
        with capsys.disabled():
            print(f"\npromote to {stage} {where}: {figures}")


def test_deploy_and_promote_through_every_stage_under_load(
    swarmed: tuple[Path, dict[str, str]],
    cli: CLI,
    swarm_bed: SwarmBed,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, urls = swarmed
    running = pk_services(swarm_bed)
    assert sorted(running.values()) == ["1.0.0"] * 3
    assert all(name.startswith(("pk-webapp-prod-", "pk-webapp-qa-", "pk-webapp-dev-"))
               for name in running)  # fmt: skip
    assert {stage: answer(url) for stage, url in urls.items()} == dict.fromkeys(
        STAGES, "webapp 1.0.0"
    )
    promote_every_stage(urls, capsys, "under load")
    assert stages(cli) == dict.fromkeys(STAGES, "1.1.0")
    assert sorted(pk_services(swarm_bed).values()) == ["1.1.0"] * 3  # the old ones removed
    checked = cli("verify")
    assert checked.code == 0, checked.out
    assert "3 container(s) checked, no drift" in checked.out


def _task_containers(bed: SwarmBed) -> dict[str, str]:
    """Container id → its Swarm service, for the running task containers."""
    found = bed.manager.containers.list(filters={"label": "io.pipeline-kit.service"})
    return {c.id: c.labels["com.docker.swarm.service.name"] for c in found}


def _wait(condition: Callable[[], bool], seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.3)
    return condition()


def test_a_killed_task_is_restarted_and_verify_sees_tasks_that_do_not_run(
    swarmed: tuple[Path, dict[str, str]],
    cli: CLI,
    swarm_bed: SwarmBed,  # noqa: F811
) -> None:
    _, urls = swarmed
    before = _task_containers(swarm_bed)
    victim = next(cid for cid, name in before.items() if "-prod-" in name)
    swarm_bed.manager.containers.get(victim).kill()
    assert _wait(lambda: len(_task_containers(swarm_bed)) == 3 and victim not in
                 _task_containers(swarm_bed))  # fmt: skip
    assert _wait(lambda: cli("verify").code == 0)
    assert answer(urls["prod"]) == "webapp 1.0.0"
    # A drained node runs no task: verify names every task that does not run.
    node = swarm_bed.manager.nodes.list()[0]
    spec = dict(node.attrs["Spec"], Availability="drain")
    assert node.update(spec)
    try:
        assert _wait(lambda: not _task_containers(swarm_bed))
        drift = cli("verify")
        assert drift.code == 1
        assert drift.out.count("task-not-running: pk-webapp-") == 3, drift.out
        assert "3 drift(s)" in drift.out
    finally:
        node.reload()
        node.update(dict(node.attrs["Spec"], Availability="active"))
    assert _wait(lambda: cli("verify").code == 0)


@pytest.mark.parametrize(("version", "why"), [(SICK, "was not healthy within"),
                                              (CRASH, "at start")])  # fmt: skip
def test_a_failure_before_the_commit_leaves_the_old_services_serving(
    swarmed: tuple[Path, dict[str, str]],
    cli: CLI,
    swarm_bed: SwarmBed,  # noqa: F811
    snapshot: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
    version: str,
    why: str,
) -> None:
    _, urls = swarmed
    before, running = snapshot(), pk_services(swarm_bed)
    monkeypatch.setenv("PIPELINE_KIT_HEALTH_TIMEOUT", "8s")
    failed = cli("promote", "webapp", version, "--to", "dev")
    assert failed.code == 3, failed.err
    assert why in failed.err and failed.err.count("error:") == 1, failed.err
    assert snapshot() == before
    assert pk_services(swarm_bed) == running  # the new Swarm service is gone
    assert answer(urls["dev"]) == "webapp 1.0.0"
    assert cli("verify").code == 0


@pytest.mark.parametrize(("step", "committed"), [("started", False), ("committed", True)])
def test_sigkill_during_a_promotion_is_recovered_by_the_next_one(
    swarmed: tuple[Path, dict[str, str]],
    cli: CLI,
    swarm_bed: SwarmBed,  # noqa: F811
    snapshot: Callable[[], str],
    step: str,
    committed: bool,
) -> None:
    folder, urls = swarmed
    before = snapshot()
    killed = pk(folder, "promote", "webapp", "1.1.0", "--to", "dev", kill_at=step)
    assert killed.returncode == -9, killed.stderr
    assert (snapshot() != before) == committed
    assert len(pk_services(swarm_bed)) == 4  # the new Swarm service runs beside the old
    nxt = pk(folder, "promote", "webapp", "1.2.0", "--to", "dev")
    assert nxt.returncode == 0, nxt.stderr
    verb = "finished" if committed else "undid"
    assert f"recovered: {verb} the interrupted promote of webapp" in nxt.stderr
    assert sorted(pk_services(swarm_bed).values()) == ["1.0.0", "1.0.0", "1.2.0"]
    assert cli("verify").code == 0
    assert answer(urls["dev"]) == "webapp 1.2.0"
    shown = json.loads(cli("show", "history", "--json").out)
    assert [h["action"] for h in shown][-1] == "promote"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('[swarm]\nmanager = "tcp://10.0.0.1:2376"\n', 'swarm: needs runtime = "swarm"'),
        ('runtime = "docker"\n[swarm]\n', 'swarm: needs runtime = "swarm"'),
        ('runtime = "swarm"\n[swarm]\nmanager = "tcp:/nohost"\n', "swarm.manager: expected a URL"),
        ('runtime = "swarm"\n[swarm]\nmanager = "http://h:1"\n', "swarm.manager: expected a URL"),
        ('runtime = "swarm"\n[swarm]\nmanager = 5\n', "swarm.manager: expected a string"),
        ('runtime = "swarm"\n[swarm]\ntls = "maybe"\n', "swarm.tls: expected true or false"),
    ],
)
def test_bad_swarm_config_is_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: CLI, config: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PIPELINE_KIT_CONFIG", raising=False)
    (tmp_path / "pipeline-kit.toml").write_text('stages = ["prod", "qa", "dev"]\n' + config)
    result = cli("show", "services")
    assert result.code == 2
    assert message in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert "Traceback" not in result.err


def test_swarm_config_resolves_the_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline_kit.config import load

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    (tmp_path / "pipeline-kit.toml").write_text('runtime = "swarm"\n')
    local = load(tmp_path).runtime
    assert local.kind == "swarm" and local.swarm is not None
    assert local.swarm.url == "unix:///var/run/docker.sock"
    (tmp_path / "pipeline-kit.toml").write_text(
        'runtime = "swarm"\n[swarm]\nmanager = "tcp://m.example:2376"\ntls = true\n'
        'tls_ca = "/certs/ca.pem"\ntls_cert = "/certs/cert.pem"\ntls_key = "/certs/key.pem"\n'
    )
    remote = load(tmp_path).runtime.swarm
    assert remote is not None
    assert (remote.url, remote.tls, remote.tls_ca) == (
        "tcp://m.example:2376",
        True,
        "/certs/ca.pem",
    )


HOOKED = """
[services.webapp]
checks = [{ path = "/", contains = "webapp" }]

[[services.webapp.hooks]]
when = "before_switch"
command = ["/bin/sh", "-c", "echo migrated to $PIPELINE_KIT_VERSION; exit {code}"]
timeout = "60s"
"""


def test_hooks_run_as_one_off_swarm_services_and_a_failing_one_undoes(
    swarmed: tuple[Path, dict[str, str]],
    cli: CLI,
    swarm_bed: SwarmBed,  # noqa: F811
    snapshot: Callable[[], str],
) -> None:
    folder, urls = swarmed
    config = folder / "pipeline-kit.toml"
    plain = config.read_text()
    config.write_text(plain + HOOKED.replace("{code}", "4"))
    before, running = snapshot(), pk_services(swarm_bed)
    failed = cli("promote", "webapp", "1.1.0", "--to", "dev")
    assert failed.code == 1, failed.err
    assert "migrated to 1.1.0" in failed.out + failed.err
    assert snapshot() == before and pk_services(swarm_bed) == running
    assert not swarm_bed.manager.services.list(filters={"label": "io.pipeline-kit.hook"})
    config.write_text(plain + HOOKED.replace("{code}", "0"))
    done = cli("promote", "webapp", "1.1.0", "--to", "dev")
    assert done.code == 0, done.err
    assert answer(urls["dev"]) == "webapp 1.1.0"
    assert not swarm_bed.manager.services.list(filters={"label": "io.pipeline-kit.hook"})


def test_swarm_service_names_keep_the_container_id_within_63_characters() -> None:
    from pipeline_kit.runtime.swarm import service_name

    assert service_name("webapp", "prod", "0123456789abcdef") == "pk-webapp-prod-0123456789abcdef"
    long = service_name("a" * 63, "staging", "0123456789abcdef")
    assert len(long) == 63 and long.endswith("-0123456789abcdef")


def test_removing_one_stack_of_a_multi_stack_swarm_service_is_refused() -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from pipeline_kit.model import actions
    from pipeline_kit.model.errors import InvalidInput
    from pipeline_kit.model.items import State
    from pipeline_kit.model.policy import Policy
    from pipeline_kit.pipeline.rollout.swarm import _stops
    from pipeline_kit.runtime.swarm import Listed

    ctx = actions.Context(Policy(), datetime.now(UTC))
    added = actions.add_service(State(), ctx, "webapp", "webapp", 2, ["1.0.0"]).after
    plan = actions.remove_stack(added, ctx, "webapp", 1)
    stops = [op for op in plan.operations if op.kind == "stop"]
    stacks = added.services["webapp"].stacks
    together = [
        Listed(f"pk-webapp-{STAGES[pos]}-{pos}", "webapp", "1.0.0", pos, 21000 + pos,
               tuple(s.containers[pos].id for s in stacks), (0, 1), "", 2)
        for pos in range(3)
    ]  # fmt: skip
    with pytest.raises(InvalidInput, match="would remove some of them only"):
        _stops(plan, stops, together)
    apart = [  # each stack's containers in Swarm services of their own (as stack add makes)
        replace(found, ids=(found.ids[index],), stacks=(index,), replicas=1)
        for found in together
        for index in (0, 1)
    ]
    assert {p.id for p in _stops(plan, stops, apart)} == {op.container for op in stops}


def test_verify_reports_a_node_that_is_down(
    swarmed: tuple[Path, dict[str, str]],
    cli: CLI,
    swarm_bed: SwarmBed,  # noqa: F811
) -> None:
    """A second engine joins as a worker (drained: it runs no task), then stops."""
    worker, node_id = Dockerd(), ""
    try:
        worker.start()
        client = swarm_bed.join(Member(worker.url))
        node_id = client.info()["Swarm"]["NodeID"]
        client.close()
        node = swarm_bed.manager.nodes.get(node_id)
        assert node.update(dict(node.attrs["Spec"], Availability="drain"))
        assert cli("verify").code == 0
        worker.stop()
        assert _wait(lambda: swarm_bed.manager.nodes.get(node_id).attrs["Status"]["State"]
                     == "down", 90)  # fmt: skip
        drift = cli("verify")
        assert drift.code == 1, drift.out
        assert "node-down: " in drift.out and "is down" in drift.out, drift.out
        assert "1 drift(s)" in drift.out  # the tasks on the manager run on
    finally:
        worker.stop()
        if node_id:
            with contextlib.suppress(DockerException):
                swarm_bed.manager.nodes.get(node_id).remove(force=True)
    assert cli("verify").code == 0


def test_verify_says_where_the_last_task_of_a_slot_is_when_none_is_meant_to_run() -> None:
    from pipeline_kit.pipeline.swarm_verify import _latest
    from pipeline_kit.runtime.swarm import Node, Task

    nodes = {"n3": Node("n3", "c", "10.0.0.13", "down", "active")}
    left = Task("pk-webapp-prod-0", 1, "running", "shutdown", "n3", "")
    assert _latest([left], nodes) == (
        "its task on node c (10.0.0.13, down) is running, Swarm wants it shutdown"
    )
    waiting = Task("pk-webapp-prod-0", 1, "pending", "running", "", "no suitable node")
    assert _latest([left, waiting], nodes) == "pending (no suitable node)"
    assert _latest([], nodes) == "no task"
