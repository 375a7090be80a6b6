"""Declared services on the real engine: per-stage configuration reaches each stage's
containers, a prod-only change starts new prod containers, failing hooks and smoke checks
change nothing, and a secret's value appears nowhere but in the container's environment."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from tests.conftest import CLI
from tests.support.docker import labelled
from tests.support.github_server import GitHubContractServer
from tests.test_runtime import clean, served, site, webapp_repository  # noqa: F401

SECRET = "s3cr3t-value-7f2a9c"  # noqa: S105 (a test value)
SERVICE = """
[services.webapp]
image = "webapp"
stacks = 2
env = {{ LOG_LEVEL = "info" }}
secrets = ["API_TOKEN"]
{extra}
[services.webapp.stages.prod]
env = {{ LOG_LEVEL = "warning" }}
"""


def declare(folder: Path, extra: str = "") -> None:
    with (folder / "pipeline-kit.toml").open("a") as config:
        config.write(SERVICE.format(extra=extra))


def env_of(client: docker.DockerClient, service: str = "webapp") -> dict[str, dict[str, str]]:
    """Per running container name: its environment."""
    out = {}
    for c in client.containers.list(filters={"label": f"io.pipeline-kit.service={service}"}):
        pairs = (item.split("=", 1) for item in c.attrs["Config"]["Env"])
        out[c.name] = dict(pairs)
    return out


def stage_env(cli: CLI, client: docker.DockerClient) -> dict[str, set[str]]:
    """stage → the LOG_LEVEL values its containers run with."""
    env = env_of(client)
    shown = json.loads(cli("show", "containers", "--json").out)[0]
    out: dict[str, set[str]] = {}
    for stack in shown["stacks"]:
        for c in stack["containers"]:
            name = f"pk-webapp-{stack['index']}-{c['id']}"
            out.setdefault(c["stage"], set()).add(env[name].get("LOG_LEVEL", "-"))
    return out


@pytest.fixture
def declared(site: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch, webapp_repository: str) -> Path:  # noqa: F811
    """webapp declared with per-stage env and a secret; prod 1.0.0, qa and dev 1.1.0."""
    monkeypatch.setenv("API_TOKEN", SECRET)
    declare(site)
    for args in (
        ("service", "add", "webapp", "--image", webapp_repository, "--stacks", "2",
         "--version", "1.0.0"),
        ("promote", "webapp", "1.1.0", "--to", "qa"),
        ("promote", "webapp", "--to", "qa"),
    ):  # fmt: skip
        done = cli(*args)
        assert done.code == 0, done.err
    return site


def test_each_stage_runs_its_own_configuration(
    declared: Path, cli: CLI, docker_client: docker.DockerClient
) -> None:
    assert stage_env(cli, docker_client) == {"prod": {"warning"}, "qa": {"info"}, "dev": {"info"}}
    assert all(e["API_TOKEN"] == SECRET for e in env_of(docker_client).values())


def test_a_prod_only_change_starts_new_prod_containers_and_moves_the_others(
    declared: Path, cli: CLI, docker_client: docker.DockerClient
) -> None:
    before = set(labelled(docker_client))
    done = cli("promote", "webapp", "1.2.0", "--to", "prod")
    assert done.code == 0, done.err
    assert "configuration: webapp in prod: LOG_LEVEL=warning, API_TOKEN=(secret)" in done.out
    after = json.loads(cli("show", "containers", "--json").out)[0]["stacks"]
    names = {s["index"]: {c["stage"]: f"pk-webapp-{s['index']}-{c['id']}" for c in s["containers"]}
             for s in after}  # fmt: skip
    assert all(names[i]["prod"] not in before for i in names)  # 1.1.0 into prod: new ones
    assert all(names[i]["qa"] in before for i in names)  # 1.1.0 dev → qa: moved as they are
    assert stage_env(cli, docker_client) == {"prod": {"warning"}, "qa": {"info"}, "dev": {"info"}}
    firsts = {body.splitlines()[0] for body in served(cli).values()}
    assert firsts == {"webapp 1.1.0", "webapp 1.2.0"}
    assert all("api token: present" in body for body in served(cli).values())


HOOK = (
    '[[services.webapp.hooks]]\nwhen = "before_switch"\n'
    'command = ["/bin/sh", "-c", "echo migrating; echo column exists; exit 3"]\n'
)
ECHO = (
    '[[services.webapp.hooks]]\nwhen = "before_switch"\n'
    'command = ["/bin/sh", "-c", "echo token=$API_TOKEN"]\n'
)
CHECK = '[[services.webapp.checks]]\npath = "/"\nstatus = 200\ncontains = "no such text"\n'


@pytest.mark.parametrize(
    ("extra", "why"),
    [(HOOK, "exit 3"), (CHECK, "without 'no such text'")],
    ids=["before_switch hook", "smoke check"],
)
def test_a_failing_hook_or_smoke_check_changes_nothing(
    declared: Path,
    cli: CLI,
    docker_client: docker.DockerClient,
    snapshot: Callable[[], str],
    extra: str,
    why: str,
) -> None:
    config = declared / "pipeline-kit.toml"
    config.write_text(
        config.read_text().replace('secrets = ["API_TOKEN"]\n', f'secrets = ["API_TOKEN"]\n{extra}')
    )
    before, containers = snapshot(), labelled(docker_client)
    serving = served(cli)
    done = cli("promote", "webapp", "1.2.0", "--to", "prod")
    assert done.code == 1, done.err
    assert why in done.err and "nothing was changed" in done.err
    assert snapshot() == before
    assert labelled(docker_client) == containers
    assert served(cli) == serving


def test_a_secret_value_appears_nowhere(
    declared: Path,
    cli: CLI,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    github_server: GitHubContractServer,
) -> None:
    config = declared / "pipeline-kit.toml"  # a hook that prints the secret: masked
    text = config.read_text().replace(
        'secrets = ["API_TOKEN"]\n', f'secrets = ["API_TOKEN"]\n{ECHO}'
    )
    config.write_text(text)
    summary = tmp_path / "summary.md"
    for key, value in (
        ("GITHUB_STEP_SUMMARY", str(summary)),
        ("GITHUB_TOKEN", github_server.expected_token),
        ("GITHUB_REPOSITORY", github_server.repository),
        ("GITHUB_API_URL", github_server.url),
        ("GITHUB_SHA", "f" * 40),
    ):
        monkeypatch.setenv(key, value)
    junit = tmp_path / "junit"
    done = cli("promote", "webapp", "1.2.0", "--to", "prod", "--junit-dir", str(junit))
    assert done.code == 0, done.err
    dry = cli("promote", "webapp", "--to", "qa", "--dry-run")
    export = tmp_path / "export.json"
    assert cli("state", "export", str(export)).code == 0
    history = cli("show", "history", "--json")
    texts = [done.out, done.err, dry.out, dry.err, history.out, export.read_text(),
             summary.read_text(), *(p.read_text() for p in junit.iterdir())]  # fmt: skip
    texts += [p.read_text(errors="replace") for p in (declared / ".pipeline-kit").rglob("*.log")]
    sent = [f"{r.method} {r.path} {r.headers} {r.body}" for r in github_server.requests]
    assert "API_TOKEN=(secret)" in dry.out
    assert any("token=***" in t for t in texts), "the hook's output is reported, masked"
    assert github_server.requests and not [t for t in sent if SECRET in t]
    assert not [t for t in texts if SECRET in t]


def test_an_unset_secret_is_bad_input_and_starts_nothing(
    declared: Path,
    cli: CLI,
    docker_client: docker.DockerClient,
    snapshot: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("API_TOKEN")
    before, containers = snapshot(), labelled(docker_client)
    done = cli("promote", "webapp", "1.2.0", "--to", "prod")
    assert done.code == 2, done.err
    assert "API_TOKEN" in done.err and "pipeline-kit.toml:" in done.err
    assert snapshot() == before and labelled(docker_client) == containers


def test_verify_reports_a_changed_configuration_and_deploy_fixes_it(
    declared: Path, cli: CLI, docker_client: docker.DockerClient
) -> None:
    config = declared / "pipeline-kit.toml"
    config.write_text(config.read_text().replace('LOG_LEVEL = "info"', 'LOG_LEVEL = "debug"'))
    found = cli("verify")
    assert found.code == 1
    assert found.out.count("config: pk-webapp-") == 4  # qa and dev on both stacks
    fixed = cli("deploy")
    assert fixed.code == 0, fixed.err
    assert cli("verify").code == 0
    assert stage_env(cli, docker_client) == {"prod": {"warning"}, "qa": {"debug"}, "dev": {"debug"}}
