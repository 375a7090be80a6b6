"""Promotions against a real Docker engine: containers started, health-checked, removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
import requests
from junitparser import JUnitXml

from tests.conftest import CLI
from tests.support.docker import labelled
from tests.support.images import CRASH, SICK, build_webapp_images

CONFIG = """\
stages = ["prod", "qa", "dev"]
network = "host"
health_path = "/health"
health_timeout = "{timeout}"
ports = "21000-28999"

[registry]
url = "{registry}"
insecure = true

[[hosts]]
name = "a"
url = "{engine}"

[[hosts]]
name = "b"
url = "{engine}"
"""


@pytest.fixture(scope="session")
def webapp_repository(
    docker_client: docker.DockerClient, registry_url: str, tmp_path_factory: pytest.TempPathFactory
) -> str:
    return build_webapp_images(docker_client, registry_url, tmp_path_factory.mktemp("images"))


@pytest.fixture
def clean(docker_client: docker.DockerClient) -> Iterator[None]:
    """No labelled container before or after a test."""
    _remove_labelled(docker_client)
    yield
    _remove_labelled(docker_client)


def _remove_labelled(client: docker.DockerClient) -> None:
    for c in client.containers.list(all=True, filters={"label": "io.pipeline-kit.service"}):
        c.remove(force=True)


def write_config(folder: Path, engine: str, registry: str, timeout: str = "20s") -> None:
    text = CONFIG.format(engine=engine, registry=registry, timeout=timeout)
    (folder / "pipeline-kit.toml").write_text(text)


@pytest.fixture
def site(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    docker_url: str,
    registry_url: str,
    webapp_repository: str,
    clean: None,
) -> Path:
    """A project whose stacks run on two hosts (both the test engine)."""
    folder = tmp_path / "project"
    folder.mkdir()
    write_config(folder, docker_url, registry_url)
    monkeypatch.chdir(folder)
    for key in ("GITHUB_ACTIONS", "PIPELINE_KIT_CONFIG", "PIPELINE_KIT_KILL_AT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("USER", "tester")
    monkeypatch.setenv("PIPELINE_KIT_DB", f"sqlite:///{tmp_path / 'state.db'}")
    return folder


def containers_json(cli: CLI) -> list[dict[str, object]]:
    result = cli("show", "containers", "--json")
    assert result.code == 0, result.err
    return [
        {"stack": s["index"], "host": s["host"], **c}
        for svc in json.loads(result.out)
        for s in svc["stacks"]
        for c in s["containers"]
    ]


def served(cli: CLI) -> dict[tuple[int, str], str]:
    """(stack, stage) → what the container at that position answers on /."""
    out = {}
    for c in containers_json(cli):
        answer = requests.get(f"http://{c['address']}/", timeout=5)
        out[(int(str(c["stack"])), str(c["stage"]))] = answer.text.strip()
    return out


def running_ids(client: docker.DockerClient) -> set[str]:
    return {
        c.labels["io.pipeline-kit.id"]
        for c in client.containers.list(filters={"label": "io.pipeline-kit.service"})
    }


def state_ids(cli: CLI) -> set[str]:
    return {str(c["id"]) for c in containers_json(cli)}


def test_service_add_starts_every_container_on_its_host(
    site: Path, cli: CLI, docker_client: docker.DockerClient
) -> None:
    result = cli(
        "service", "add", "webapp", "--image", "webapp", "--stacks", "2", "--version", "1.0.0"
    )
    assert result.code == 0, result.err
    rows = containers_json(cli)
    assert len(rows) == 6
    assert {r["host"] for r in rows if r["stack"] == 0} == {"a"}
    assert {r["host"] for r in rows if r["stack"] == 1} == {"b"}
    assert all(str(r["address"]).startswith("127.0.0.1:") for r in rows)
    assert set(served(cli).values()) == {"webapp 1.0.0"}
    assert running_ids(docker_client) == state_ids(cli)
    labels = docker_client.containers.list(filters={"label": "io.pipeline-kit.service"})[0].labels
    assert {"io.pipeline-kit.stack", "io.pipeline-kit.version", "io.pipeline-kit.id"} <= set(labels)
    assert cli("verify").code == 0


def test_promote_starts_the_new_version_and_removes_the_popped_one(
    site: Path, cli: CLI, docker_client: docker.DockerClient
) -> None:
    assert (
        cli(
            "service", "add", "webapp", "--image", "webapp", "--stacks", "2", "--version", "1.0.0"
        ).code
        == 0
    )
    for version in ("1.1.0", "1.2.0"):
        result = cli("promote", "webapp", version, "--to", "prod")
        assert result.code == 0, result.err
    answers = served(cli)
    for stack in (0, 1):
        assert answers[(stack, "prod")] == "webapp 1.0.0"
        assert answers[(stack, "qa")] == "webapp 1.1.0"
        assert answers[(stack, "dev")] == "webapp 1.2.0"
    assert running_ids(docker_client) == state_ids(cli)
    assert len(labelled(docker_client)) == 6
    verify = cli("verify", "--json")
    assert verify.code == 0
    assert json.loads(verify.out) == {"checked": 6, "drift": []}


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("9.9.9", "cannot pull"),
        (CRASH, "exited with code 3 at start: boom: cannot open config"),
        (SICK, "was not healthy within 3 s (GET /health answered 404)"),
    ],
)
def test_a_failed_start_changes_nothing(
    site: Path,
    cli: CLI,
    snapshot: Callable[[], str],
    docker_client: docker.DockerClient,
    docker_url: str,
    registry_url: str,
    version: str,
    message: str,
) -> None:
    write_config(site, docker_url, registry_url, timeout="3s")
    assert (
        cli(
            "service", "add", "webapp", "--image", "webapp", "--stacks", "2", "--version", "1.0.0"
        ).code
        == 0
    )
    before, containers = snapshot(), labelled(docker_client)
    result = cli("promote", "webapp", version, "--to", "prod")
    assert result.code == 3
    assert message in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert snapshot() == before
    assert labelled(docker_client) == containers


def test_registry_down_is_exit_3_and_changes_nothing(
    site: Path,
    cli: CLI,
    snapshot: Callable[[], str],
    docker_client: docker.DockerClient,
    docker_url: str,
) -> None:
    assert cli("service", "add", "webapp", "--image", "webapp", "--version", "1.0.0").code == 0
    write_config(site, docker_url, "127.0.0.1:9")
    before, containers = snapshot(), labelled(docker_client)
    result = cli("promote", "webapp", "1.1.0", "--to", "prod")
    assert result.code == 3
    assert "127.0.0.1:9" in result.err
    assert snapshot() == before
    assert labelled(docker_client) == containers


def test_engine_unreachable_is_one_line_naming_the_host(
    site: Path, cli: CLI, snapshot: Callable[[], str], registry_url: str, tmp_path: Path
) -> None:
    write_config(site, f"unix://{tmp_path}/no-docker.sock", registry_url)
    before = snapshot()
    result = cli("service", "add", "webapp", "--image", "webapp", "--version", "1.0.0")
    assert result.code == 3
    assert result.err.count("\n") == 1
    assert "docker host a (unix://" in result.err and "unreachable" in result.err
    assert snapshot() == before


def test_verify_reports_drift_and_deploy_repairs_it(
    site: Path, cli: CLI, docker_client: docker.DockerClient, busybox_image: str
) -> None:
    assert cli("service", "add", "webapp", "--image", "webapp", "--version", "1.0.0").code == 0
    victim = labelled(docker_client)[0]
    docker_client.containers.get(victim).remove(force=True)
    docker_client.containers.run(
        busybox_image,
        ["sleep", "300"],
        name="pk-webapp-0-stray",
        detach=True,
        network_mode="host",
        labels={
            "io.pipeline-kit.service": "webapp",
            "io.pipeline-kit.id": "stray",
            "io.pipeline-kit.version": "0.0.1",
            "io.pipeline-kit.stack": "0",
        },
    )
    verify = cli("verify", "--json")
    assert verify.code == 1
    kinds = sorted((d["kind"], d["container"]) for d in json.loads(verify.out)["drift"])
    assert kinds == [("missing", victim), ("unknown", "pk-webapp-0-stray")]
    dry = cli("deploy", "--dry-run")
    assert dry.code == 0 and "would start" in dry.out and "would remove" in dry.out
    assert cli("verify", "--junit-dir", "reports").code == 1
    suites = {p.stem: next(iter(JUnitXml.fromfile(str(p)))) for p in Path("reports").glob("*.xml")}
    assert sorted(suites) == ["pipeline-kit-dev", "pipeline-kit-prod", "pipeline-kit-qa",
                              "pipeline-kit-unknown"]  # fmt: skip
    assert sum(s.failures for s in suites.values()) == 2
    assert sum(s.tests for s in suites.values()) == 4  # three containers and the stray
    fixed = cli("deploy")
    assert fixed.code == 0, fixed.err
    assert cli("verify").code == 0
    assert running_ids(docker_client) == state_ids(cli)
    assert set(served(cli).values()) == {"webapp 1.0.0"}


def _run(site: Path, *args: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PIPELINE_KIT_KILL_AT"}
    if kill_at:
        env["PIPELINE_KIT_KILL_AT"] = kill_at
    return subprocess.run(
        [sys.executable, "-m", "pipeline_kit", *args],
        cwd=site,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("step", "committed"),
    [
        ("journaled", False),
        ("started", False),
        ("healthy", False),
        ("committed", True),
        ("removed", True),
    ],
)
def test_sigkill_during_an_apply_is_recovered_by_the_next_command(
    site: Path,
    cli: CLI,
    snapshot: Callable[[], str],
    docker_client: docker.DockerClient,
    step: str,
    committed: bool,
) -> None:
    assert (
        cli(
            "service", "add", "webapp", "--image", "webapp", "--stacks", "2", "--version", "1.0.0"
        ).code
        == 0
    )
    before = snapshot()
    killed = _run(site, "promote", "webapp", "1.1.0", "--to", "prod", kill_at=step)
    assert killed.returncode == -9, killed.stderr
    after_kill = snapshot()
    assert (after_kill != before) == committed
    nxt = _run(site, "deploy")
    assert nxt.returncode == 0, nxt.stderr
    verb = "finished" if committed else "undid"
    assert f"recovered: {verb} the interrupted promote of webapp" in nxt.stderr
    assert running_ids(docker_client) == state_ids(cli)
    assert cli("verify").code == 0
    expected = "webapp 1.1.0" if committed else "webapp 1.0.0"
    assert served(cli)[(0, "dev")] == expected
    assert snapshot() == after_kill
    again = _run(site, "deploy")
    assert "recovered" not in again.stderr


def test_concurrent_promotions_of_one_service_are_applied_one_after_the_other(
    site: Path, cli: CLI, docker_client: docker.DockerClient
) -> None:
    assert cli("service", "add", "webapp", "--image", "webapp", "--version", "1.0.0").code == 0
    env = {**os.environ, "PIPELINE_KIT_LOCK_TIMEOUT": "60"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "pipeline_kit", "promote", "webapp", version, "--to", "prod"],
            cwd=site,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for version in ("1.1.0", "1.2.0")
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    for p in procs:
        for stream in (p.stdout, p.stderr):
            if stream:
                stream.close()
    # Planned one after the other: the second sees the first's result, so 1.1.0 after 1.2.0
    # is refused by the version order; never a mix of both.
    for code, err in outcomes:
        assert code == 0 or (code == 1 and "[version-order]" in err), outcomes
    applied = sum(1 for code, _ in outcomes if code == 0)
    history = json.loads(cli("show", "history", "--json").out)
    assert [h["action"] for h in history] == ["service add"] + ["promote"] * applied
    assert running_ids(docker_client) == state_ids(cli)
    assert len(labelled(docker_client)) == 3
    assert cli("verify").code == 0
