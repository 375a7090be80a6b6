"""Three Docker hosts, each in a network namespace of its own, reached over TLS (one also over
ssh://), the registry and HAProxy in the root namespace: placement, promotions under load, a
host cut off in the middle of a promotion, stack add and host drain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pipeline_kit.lb.haproxy import HAProxy
from tests.conftest import CLI
from tests.support.load import Load, failures, rate, summary
from tests.support.multihost import Bed, BedError, sh
from tests.test_lb_promote import free_port, run

RATE = 200.0
OLD, NEW = "webapp 1.0.0", "webapp 1.1.0"
HEAD = """\
stages = ["prod", "qa", "dev"]
network = "host"
health_path = "/health"
health_timeout = "20s"
ports = "21000-28999"
distinct_hosts = true

[registry]
url = "{registry}"
"""
TLS_HOST = """
[[hosts]]
name = "{name}"
url = "{url}"
address = "{address}"
tls = true
tls_ca = "{certs}/ca.pem"
tls_cert = "{certs}/cert.pem"
tls_key = "{certs}/key.pem"
"""
LB = """
[lb]
enabled = true
dir = "haproxy"
edge_ports = "33000-33999"
drain = "5s"
"""


def _config(bed: Bed, lb: bool) -> str:
    assert bed.registry is not None and bed.tls is not None
    text = HEAD.format(registry=bed.registry.host)
    for h in bed.hosts:
        text += TLS_HOST.format(name=h.name, url=h.url, address=h.address, certs=bed.tls.client)
    return text + (LB if lb else "")


def _project(bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lb: bool) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pipeline-kit.toml").write_text(_config(bed, lb))
    monkeypatch.chdir(folder)
    for key in ("GITHUB_ACTIONS", "PIPELINE_KIT_CONFIG", "PIPELINE_KIT_KILL_AT", "DOCKER_HOST"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PIPELINE_KIT_DB", f"sqlite:///{tmp_path / 'state.db'}")
    return folder


@pytest.fixture
def hosts3(bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project on the three TLS hosts, without a load balancer; no container left after."""
    bed.remove_containers()
    yield _project(bed, tmp_path, monkeypatch, lb=False)
    bed.remove_containers()


@pytest.fixture
def routed3(
    bed: Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: CLI
) -> Iterator[tuple[Path, str]]:
    """webapp on the TLS hosts (prod 1.0.0, qa/dev 1.1.0), endpoint web on prod via HAProxy."""
    bed.remove_containers()
    folder = _project(bed, tmp_path, monkeypatch, lb=True)
    port = free_port()
    try:
        added = cli("service", "add", "webapp", "--image", bed.images, "--stacks", "2",
                    "--version", "1.0.0")  # fmt: skip
        assert added.code == 0, added.err
        web = cli(
            "endpoint", "add", "web", "--service", "webapp", "--port", port, "--stage", "prod"
        )
        assert web.code == 0, web.err
        assert cli("promote", "webapp", "1.1.0", "--to", "qa").code == 0
        assert cli("promote", "webapp", "--to", "qa").code == 0
        yield folder, f"http://127.0.0.1:{port}/"
    finally:
        HAProxy(folder / "haproxy").stop()
        bed.remove_containers()


def running(bed: Bed) -> dict[str, set[str]]:
    """Host → the names of the labelled containers its engine runs."""
    out = {}
    for host in bed.hosts:
        client = host.client()
        try:
            listed = client.containers.list(all=True, filters={"label": "io.pipeline-kit.service"})
            out[host.name] = {c.name for c in listed}
        finally:
            client.close()
    return out


def under_load(url: str, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the command under 200 req/s through HAProxy: no request fails, every answer is
    the old or the new version. Its result and the achieved rate."""
    with Load(url, rate=RATE, max_requests=40_000, max_seconds=150) as load:
        time.sleep(1.0)
        done = run(*args)
        time.sleep(1.0)
    samples = load.stop()
    assert done.returncode == 0, done.stderr
    assert failures(samples) == [], summary(samples)
    assert {s.body for s in samples} <= {OLD, NEW}, summary(samples)
    return done, rate(samples)


def test_a_service_lands_one_stack_per_host_and_is_promoted_dropping_nothing(
    bed: Bed, routed3: tuple[Path, str], cli: CLI
) -> None:
    _, url = routed3
    assert cli("stack", "add", "webapp").code == 0  # the third stack: on the free host c
    stacks = json.loads(cli("show", "stacks", "webapp", "--json").out)
    assert [s["host"] for s in stacks] == ["a", "b", "c"], stacks
    assert {h: len(names) for h, names in running(bed).items()} == {"a": 3, "b": 3, "c": 3}
    assert cli("lb", "apply").code == 0
    _, achieved = under_load(url, "promote", "webapp", "--to", "prod")
    assert achieved >= 180
    shown = json.loads(cli("show", "services", "--json").out)[0]["stages"]
    assert shown["prod"] == "1.1.0"
    assert requests.get(url, timeout=5).text.strip() == NEW
    assert cli("verify").code == 0


def test_host_drain_empties_a_host_dropping_nothing(
    bed: Bed, routed3: tuple[Path, str], cli: CLI
) -> None:
    _, url = routed3
    before = running(bed)
    assert len(before["b"]) == 3 and before["c"] == set()
    done, _ = under_load(url, "host", "drain", "b")
    assert "host drain" in done.stdout
    after = running(bed)
    assert after["b"] == set() and after["a"] == before["a"]
    assert len(after["c"]) == 3  # the one host that holds no webapp stack
    listed = cli("host", "list", "--json")
    assert listed.code == 0, listed.err
    views = {v["name"]: v for v in json.loads(listed.out)}
    assert views["b"]["stacks"] == 0 and views["b"]["running"] == 0
    assert views["c"]["stacks"] == 1 and views["c"]["running"] == 3
    assert cli("verify").code == 0
    assert cli("stack", "add", "webapp").code == 0  # b is free again: the new stack goes there
    assert len(running(bed)["b"]) == 3
    placed = running(bed)
    again = cli("host", "drain", "a")  # distinct_hosts: no host is left without webapp
    assert again.code == 1 and "distinct-hosts" in again.err
    assert running(bed) == placed


def _stopped(pid: int, timeout: float = 120) -> bool:
    """Whether the process stopped itself (SIGSTOP) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        if fields[0] == "T":
            return True
        if fields[0] == "Z":
            return False
        time.sleep(0.05)
    return False


def test_a_host_cut_off_mid_promotion_fails_it_and_deploy_restores_after(
    bed: Bed, hosts3: Path, cli: CLI, tmp_path: Path
) -> None:
    added = cli("service", "add", "webapp", "--image", bed.images, "--stacks", "3",
                "--version", "1.0.0")  # fmt: skip
    assert added.code == 0, added.err
    before = running(bed)
    assert {h: len(n) for h, n in before.items()} == {"a": 3, "b": 3, "c": 3}
    assert cli("state", "export", str(tmp_path / "before.json")).code == 0
    env = dict(os.environ, PIPELINE_KIT_STOP_AT="started")
    command = [sys.executable, "-m", "pipeline_kit", "promote", "webapp", "1.1.0", "--to", "dev"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert _stopped(process.pid), "the promotion never reached its 'started' checkpoint"
        assert all(len(n) == 4 for n in running(bed).values())  # started on every host
        bed.cut("c")
        process.send_signal(signal.SIGCONT)
        _, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 3, err.decode()
    assert "on host c" in err.decode(), err.decode()
    now = running(bed)
    assert now["a"] == before["a"] and now["b"] == before["b"]  # nothing left started there
    assert cli("state", "export", str(tmp_path / "after.json")).code == 0
    assert (tmp_path / "before.json").read_text() == (tmp_path / "after.json").read_text()
    verify = cli("verify")
    assert verify.code == 1
    assert verify.out.count("unreachable: pk-webapp-2-") == 3, verify.out
    assert " on c: " in verify.out and "unreachable: pk-webapp-0-" not in verify.out
    listed = cli("host", "list")
    assert listed.code == 3 and "do not answer: c" in listed.err
    bed.restore("c")
    deployed = cli("deploy")
    assert deployed.code == 0, deployed.err
    assert running(bed)["c"] == before["c"]  # what the failed promotion left there is gone
    assert cli("verify").code == 0


def test_a_host_over_ssh_runs_a_container(
    bed: Bed, hosts3: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert bed.registry is not None and bed.ssh_home is not None
    c = bed.host("c")
    monkeypatch.setenv("HOME", str(bed.ssh_home))  # ~/.ssh/config, known_hosts, the key
    text = HEAD.format(registry=bed.registry.host)
    text += f'\n[[hosts]]\nname = "c"\nurl = "ssh://root@{c.address}"\naddress = "{c.address}"\n'
    (hosts3 / "pipeline-kit.toml").write_text(text)
    added = cli("service", "add", "webapp", "--image", bed.images, "--version", "1.0.0")
    assert added.code == 0, added.err
    assert len(running(bed)["c"]) == 3
    listed = cli("host", "list", "--json")
    assert listed.code == 0, listed.err
    (view,) = json.loads(listed.out)
    assert view["url"] == f"ssh://root@{c.address}" and view["running"] == 3
    assert cli("verify").code == 0


def test_a_bed_that_cannot_be_made_says_why_and_leaves_nothing() -> None:
    made = Bed(tag="x" * 20)  # too long for an interface name: the bridge cannot be made
    try:
        with pytest.raises(BedError, match=r"ip link add pkx+br type bridge exited with"):
            made.start()
    finally:
        made.stop()
    assert "pkxxxx" not in sh("ip", "-o", "link") and not made.folder.exists()
