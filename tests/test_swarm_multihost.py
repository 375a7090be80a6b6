"""runtime = "swarm" on three Docker hosts, each in a network namespace of its own, joined as
one Swarm (host a manages it over TLS; b and c are workers): promotions through every stage
under load through a real HAProxy in the root namespace, a killed task restarted by Swarm,
and a node whose link is cut reported by verify until it is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline_kit.lb.haproxy import HAProxy
from tests.conftest import CLI
from tests.support.multihost import Bed
from tests.support.swarm import SwarmBed, bed_swarm  # noqa: F401
from tests.test_lb_promote import free_port, stages
from tests.test_swarm import STAGES, answer, pk_services, promote_every_stage
from tests.test_swarm import _wait as wait

OLD = "webapp 1.0.0"
LABEL = "io.pipeline-kit.service"
CONFIG = """\
stages = ["prod", "qa", "dev"]
runtime = "swarm"
health_path = "/health"
health_timeout = "60s"
ports = "21000-28999"

[swarm]
manager = "{manager}"
tls = true
tls_ca = "{certs}/ca.pem"
tls_cert = "{certs}/cert.pem"
tls_key = "{certs}/key.pem"

[registry]
url = "{registry}"
insecure = true

[lb]
enabled = true
dir = "haproxy"
edge_ports = "33000-33999"
drain = "5s"
"""


@pytest.fixture
def swarmed3(
    bed: Bed,
    bed_swarm: SwarmBed,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: CLI,
) -> Iterator[tuple[Path, dict[str, str]]]:
    """webapp at 1.0.0 on three stacks of the Swarm; an endpoint per stage through HAProxy."""
    assert bed.registry is not None and bed.tls is not None
    bed_swarm.remove_services()
    assert wait(lambda: emptied(bed), 60)  # the tasks of removed Swarm services stop later
    folder = tmp_path / "project"
    folder.mkdir()
    text = CONFIG.format(manager=bed.hosts[0].url, certs=bed.tls.client, registry=bed.registry.host)
    (folder / "pipeline-kit.toml").write_text(text)
    monkeypatch.chdir(folder)
    for key in ("GITHUB_ACTIONS", "PIPELINE_KIT_CONFIG", "PIPELINE_KIT_KILL_AT", "DOCKER_HOST"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("USER", "tester")
    monkeypatch.setenv("PIPELINE_KIT_DB", f"sqlite:///{tmp_path / 'state.db'}")
    try:
        added = cli("service", "add", "webapp", "--image", bed.images, "--stacks", "3",
                    "--version", "1.0.0")  # fmt: skip
        assert added.code == 0, added.err
        urls = {}
        for stage in STAGES:
            port = str(free_port())
            done = cli("endpoint", "add", f"web-{stage}", "--service", "webapp", "--port", port,
                       "--stage", stage)  # fmt: skip
            assert done.code == 0, done.err
            urls[stage] = f"http://127.0.0.1:{port}/"
        yield folder, urls
    finally:
        HAProxy(folder / "haproxy").stop()
        bed_swarm.remove_services()


def node_addresses(swarm: SwarmBed) -> dict[str, str]:
    """Node id → the address it advertises (the manager's from its manager status)."""
    out = {}
    for node in swarm.manager.nodes.list():
        address = node.attrs["Status"].get("Addr", "")
        if address in ("", "0.0.0.0"):  # noqa: S104 - a manager's unset address
            address = node.attrs["ManagerStatus"]["Addr"].rsplit(":", 1)[0]
        out[node.id] = address
    return out


def placement(swarm: SwarmBed) -> dict[str, list[str]]:
    """Swarm service → the addresses of the nodes its tasks run on (their containers run:
    Swarm's ``starting`` until Docker's first health check, then ``running``), sorted."""
    where = node_addresses(swarm)
    out = {}
    for service in swarm.manager.services.list(filters={"label": LABEL}):
        running = [t for t in service.tasks({"desired-state": "running"})
                   if t["Status"]["State"] in ("starting", "running")]  # fmt: skip
        out[service.name] = sorted(where[t["NodeID"]] for t in running)
    return out


def task_containers(bed: Bed, name: str) -> list[str]:
    """The ids of the running task containers on host ``name``."""
    client = bed.host(name).client()
    try:
        return [c.id for c in client.containers.list(filters={"label": LABEL})]
    finally:
        client.close()


def test_deploy_and_promote_through_every_stage_on_three_nodes_under_load(
    bed: Bed,
    bed_swarm: SwarmBed,  # noqa: F811
    swarmed3: tuple[Path, dict[str, str]],
    cli: CLI,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, urls = swarmed3
    every = sorted(h.address for h in bed.hosts)
    assert len(node_addresses(bed_swarm)) == 3
    spread = placement(bed_swarm)
    assert len(spread) == 3 and all(nodes == every for nodes in spread.values()), spread
    assert {stage: answer(url) for stage, url in urls.items()} == dict.fromkeys(STAGES, OLD)
    promote_every_stage(urls, capsys, "on three nodes under load")
    assert stages(cli) == dict.fromkeys(STAGES, "1.1.0")
    assert sorted(pk_services(bed_swarm).values()) == ["1.1.0"] * 3  # the old ones removed
    spread = placement(bed_swarm)
    assert all(nodes == every for nodes in spread.values()), spread
    checked = cli("verify")
    assert checked.code == 0, checked.out
    assert "9 container(s) checked, no drift" in checked.out


def emptied(bed: Bed) -> bool:
    """Whether no host runs a labelled task container."""
    return not any(task_containers(bed, h.name) for h in bed.hosts)


def test_a_task_killed_on_a_worker_is_restarted_there_and_verify_is_clean_again(
    bed: Bed,
    bed_swarm: SwarmBed,  # noqa: F811
    swarmed3: tuple[Path, dict[str, str]],
    cli: CLI,
) -> None:
    _, urls = swarmed3
    assert cli("verify").code == 0
    before = task_containers(bed, "b")
    assert len(before) == 3
    client = bed.host("b").client()
    try:
        client.containers.get(before[0]).kill()
    finally:
        client.close()
    assert wait(lambda: len(now := task_containers(bed, "b")) == 3 and before[0] not in now, 90)
    assert wait(lambda: cli("verify").code == 0, 90)  # the new task runs where the old one did
    assert {stage: answer(url) for stage, url in urls.items()} == dict.fromkeys(STAGES, OLD)


def test_a_node_cut_off_is_reported_by_verify_until_its_link_is_back(
    bed: Bed,
    bed_swarm: SwarmBed,  # noqa: F811
    swarmed3: tuple[Path, dict[str, str]],
    cli: CLI,
) -> None:
    c = bed.host("c")
    where = {address: node for node, address in node_addresses(bed_swarm).items()}

    def state_of_c() -> str:
        return str(bed_swarm.manager.nodes.get(where[c.address]).attrs["Status"]["State"])

    assert cli("verify").code == 0
    bed.cut("c")
    try:
        assert wait(lambda: state_of_c() == "down", 90), state_of_c()
        drift = cli("verify")
        assert drift.code == 1, drift.out
        assert f"node-down: c on c: node c ({c.address}) is down" in drift.out, drift.out
        # The three tasks that ran on c: not running, or run elsewhere than the state says.
        tasks = [line for line in drift.out.splitlines() if ": pk-webapp-" in line]
        assert len(tasks) == 3, drift.out
        assert all(line.startswith(("task-not-running: ", "moved: ")) for line in tasks)
        assert "4 drift(s)" in drift.out
    finally:
        bed.restore("c")
    assert wait(lambda: state_of_c() == "ready", 90), state_of_c()
    every = [sorted(h.address for h in bed.hosts)] * 3  # c's tasks back on c
    assert wait(lambda: sorted(placement(bed_swarm).values()) == every, 120)
    assert wait(lambda: cli("verify").code == 0, 120), cli("verify").out


def test_more_stacks_than_nodes_take_several_swarm_services_one_task_per_node(
    bed: Bed,
    bed_swarm: SwarmBed,  # noqa: F811
    swarmed3: tuple[Path, dict[str, str]],
    cli: CLI,
) -> None:
    added = cli("service", "add", "many", "--image", bed.images, "--stacks", "5",
                "--version", "1.0.0")  # fmt: skip
    assert added.code == 0, added.err
    mine = {name: nodes for name, nodes in placement(bed_swarm).items() if "-many-" in name}
    assert sorted(len(nodes) for nodes in mine.values()) == [2, 2, 2, 3, 3, 3], mine
    assert all(len(set(nodes)) == len(nodes) for nodes in mine.values()), mine
    assert cli("verify").code == 0
    promoted = cli("promote", "many", "1.1.0", "--to", "prod")
    assert promoted.code == 0, promoted.err
    versions = {n: v for n, v in pk_services(bed_swarm).items() if "-many-" in n}
    assert sorted(versions.values()) == ["1.0.0"] * 4 + ["1.1.0"] * 2, versions  # old 2 gone
    spread = placement(bed_swarm)
    assert sorted(len(spread[n]) for n, v in versions.items() if v == "1.1.0") == [2, 3]
    checked = cli("verify")
    assert checked.code == 0, checked.out
    assert "24 container(s) checked, no drift" in checked.out


def test_nothing_is_left_running_on_the_hosts(bed: Bed, bed_swarm: SwarmBed) -> None:  # noqa: F811
    """Removing the Swarm services removes their tasks' containers on every node."""
    bed_swarm.remove_services()
    assert wait(lambda: emptied(bed), 60)
