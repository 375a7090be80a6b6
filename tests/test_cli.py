"""The CLI as a newcomer types it, and every bad input: one line, exit code, nothing changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CLI, add_webapp

Snapshot = Callable[[], str]


@pytest.fixture
def webapp(project: Path, cli: CLI) -> Path:
    """The README scenario up to the endpoint: two stacks of three, padded, and an endpoint."""
    result = add_webapp(cli, "v0.1.0")
    assert result.code == 0, result.err
    result = cli(
        "endpoint", "add", "web", "--service", "webapp", "--port", "8080", "--stage", "prod"
    )
    assert result.code == 0, result.err
    return project


def _stages(cli: CLI, name: str = "webapp") -> dict[str, str]:
    result = cli("show", "services", name, "--json")
    assert result.code == 0, result.err
    (service,) = json.loads(result.out)
    stages: dict[str, str] = service["stages"]
    return stages


def test_readme_scenario(webapp: Path, cli: CLI, snapshot: Snapshot) -> None:
    assert _stages(cli) == {"prod": "v0.1.0", "qa": "v0.1.0", "dev": "v0.1.0"}
    before = snapshot()
    dry = cli("promote", "webapp", "v0.2.0", "--to", "prod", "--dry-run")
    assert dry.code == 0
    assert "dev    v0.1.0 → v0.2.0" in dry.out
    assert "dry run: nothing changed" in dry.out
    assert snapshot() == before
    done = cli("promote", "webapp", "v0.2.0", "--to", "prod")
    assert done.code == 0, done.err
    assert _stages(cli) == {"prod": "v0.1.0", "qa": "v0.1.0", "dev": "v0.2.0"}
    shown = cli("show", "services")
    assert "webapp" in shown.out and "v0.2.0" in shown.out
    assert "nothing is deployed by pipeline-kit" in shown.out


def test_promotion_semantics_through_the_cli(project: Path, cli: CLI) -> None:
    add = add_webapp(cli, "v1.1.0", "v1.2.0", "v1.3.0")
    assert add.code == 0, add.err
    assert cli("promote", "webapp", "--to", "qa").code == 0
    assert _stages(cli) == {"prod": "v1.1.0", "qa": "v1.3.0", "dev": "v1.3.0"}
    assert cli("promote", "webapp", "v1.4.0", "--to", "prod").code == 0
    assert _stages(cli) == {"prod": "v1.3.0", "qa": "v1.3.0", "dev": "v1.4.0"}
    history = json.loads(cli("show", "history", "--json").out)
    assert [h["action"] for h in history] == ["service add", "promote", "promote"]
    last = history[-1]
    assert last["actor"] == "tester"
    assert last["args"] == {"service": "webapp", "to": "prod", "version": "v1.4.0"}
    assert last["changes"]["webapp"]["before"]["dev"] == ["v1.3.0", "v1.3.0"]
    assert last["changes"]["webapp"]["after"] == {
        "prod": ["v1.3.0", "v1.3.0"],
        "qa": ["v1.3.0", "v1.3.0"],
        "dev": ["v1.4.0", "v1.4.0"],
    }


def test_history_actor_from_ci(webapp: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILD_USER_ID", "jenkins-alice")
    assert cli("promote", "webapp", "--to", "qa").code == 0
    monkeypatch.setenv("GITHUB_ACTOR", "octocat")
    assert cli("promote", "webapp", "--to", "qa").code == 0
    actors = [h["actor"] for h in json.loads(cli("show", "history", "--json").out)]
    assert actors[-2:] == ["jenkins-alice", "octocat"]


BAD_INPUT = [
    # (arguments, exit code, words the one line must hold)
    (["promote", "nope", "v0.2.0", "--to", "prod"], 2, "unknown service 'nope'"),
    (["promote", "webapp", "v0.2.0", "--to", "staging"], 2, "unknown stage 'staging'"),
    (["promote", "webapp", "v1..2", "--to", "prod"], 2, "invalid version 'v1..2'"),
    (["promote", "webapp", "v0.0.9", "--to", "prod"], 1, "v0.0.9 is lower than v0.1.0"),
    (["pop", "webapp", "--stage", "qa"], 1, "below min_height 3"),
    (["pop", "webapp", "--stage", "5"], 2, "beyond the stack"),
    (
        ["endpoint", "add", "web2", "--service", "webapp", "--port", "8080", "--stage", "qa"],
        1,
        "share port 8080",
    ),
    (
        ["service", "add", "Bad_Name", "--image", "example/x", "--version", "v1.0.0"],
        2,
        "invalid service name",
    ),
    (
        ["service", "add", "webapp", "--image", "example/webapp", "--version", "v1.0.0"],
        2,
        "exists already",
    ),
    (["push", "webapp", "v0.3.0"], 1, "above max_height 3"),
    (["show", "service", "nope"], 2, "unknown service 'nope'"),
    (["promote", "webapp", "v0.2.0"], 2, "--to"),
    (["promote", "webapp", "v1.2.3;rm -rf /", "--to", "prod"], 2, "invalid version"),
    (["rollback", "webapp"], 2, "no earlier version"),
    (["connect", "webapp", "--child", "webapp", "--endpoint", "web"], 2, "already"),
    (["switch", "nope", "--stage", "qa"], 2, "unknown endpoint 'nope'"),
    (["approve", "webapp", "v0.2.0", "--stage", "prod", "--by", " "], 2, "--by"),
]


@pytest.mark.parametrize(("args", "code", "words"), BAD_INPUT, ids=lambda v: str(v)[:40])
def test_bad_input_one_line_exit_code_nothing_changed(
    webapp: Path, cli: CLI, snapshot: Snapshot, args: list[str], code: int, words: str
) -> None:
    before = snapshot()
    result = cli(*args)
    assert result.code == code, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert words in lines[0]
    assert "Traceback" not in result.err + result.out
    assert snapshot() == before


def test_refused_plan_lists_every_violation(webapp: Path, cli: CLI, tmp_path: Path) -> None:
    config = webapp / "pipeline-kit.toml"
    config.write_text(config.read_text() + "\n[gates.prod]\nprereleases = false\napproval = true\n")
    assert cli("promote", "webapp", "1.0.0-rc.1", "--to", "qa").code == 0
    assert cli("promote", "webapp", "--to", "qa").code == 0
    result = cli("promote", "webapp", "--to", "prod")
    assert result.code == 1
    assert "2 violations" in result.err
    assert "[prerelease]" in result.err and "[approval]" in result.err
    dry = cli("promote", "webapp", "--to", "prod", "--dry-run")
    assert dry.code == 1
    assert "refused: 2 violation(s)" in dry.out


def test_approval_then_promotion(webapp: Path, cli: CLI) -> None:
    config = webapp / "pipeline-kit.toml"
    config.write_text(config.read_text() + "\n[gates.prod]\napproval = true\n")
    assert cli("promote", "webapp", "v0.2.0", "--to", "qa").code == 0
    assert cli("promote", "webapp", "--to", "qa").code == 0
    assert cli("promote", "webapp", "--to", "prod").code == 1
    assert cli("approve", "webapp", "v0.2.0", "--stage", "prod", "--by", "alice").code == 0
    result = cli("promote", "webapp", "--to", "prod")
    assert result.code == 0, result.err
    assert _stages(cli)["prod"] == "v0.2.0"


def test_reject_and_rollback(webapp: Path, cli: CLI) -> None:
    for _ in range(3):
        assert cli("promote", "webapp", "v0.2.0", "--to", "prod").code == 0
    assert _stages(cli)["prod"] == "v0.2.0"
    result = cli("rollback", "webapp")
    assert result.code == 0, result.err
    assert _stages(cli)["prod"] == "v0.1.0"
    again = cli("promote", "webapp", "--to", "prod")
    assert again.code == 1
    assert "[rejected]" in again.err
    assert cli("reject", "webapp", "v0.3.0", "--reason", "bad migration").code == 0
    refused = cli("promote", "webapp", "v0.3.0", "--to", "qa")
    assert refused.code == 1 and "bad migration" in refused.err


def test_check_lists_every_violation(webapp: Path, cli: CLI) -> None:
    assert cli("check").code == 0
    config = webapp / "pipeline-kit.toml"
    config.write_text('stages = ["prod", "qa", "dev", "canary"]\nmin_stacks = 3\n')
    result = cli("check", "--json")
    assert result.code == 1
    found = {v["constraint"] for v in json.loads(result.out)["violations"]}
    assert found == {"service", "stack-height", "trees"}


def test_show_commands_and_wildcards(webapp: Path, cli: CLI) -> None:
    cli("service", "add", "api", "--image", "example/api", "--version", "v2.0.0")
    cli("connect", "webapp", "--child", "api", "--endpoint", "web")
    names = [s["name"] for s in json.loads(cli("show", "services", "web*", "--json").out)]
    assert names == ["webapp"]
    assert len(json.loads(cli("show", "services", "--json").out)) == 2
    containers = json.loads(cli("show", "containers", "api", "--json").out)
    assert containers[0]["stacks"][0]["containers"][2]["stage"] == "dev"
    (endpoint,) = json.loads(cli("show", "endpoint", "w?b", "--json").out)
    assert endpoint["tree"] == [{"parent": "webapp", "child": "api", "stage": "prod"}]
    stacks = json.loads(cli("show", "stacks", "webapp", "--json").out)
    assert [(s["index"], s["host"], s["versions"]["dev"]) for s in stacks] == [
        (0, "local", "v0.1.0"),
        (1, "local", "v0.1.0"),
    ]
    assert cli("switch", "web", "--stage", "qa").code == 0
    (endpoint,) = json.loads(cli("show", "endpoints", "--json").out)
    assert endpoint["stage"] == "qa"
    for args in (
        ["show", "stacks"],
        ["show", "containers"],
        ["show", "endpoints"],
        ["show", "history"],
        ["show", "service", "webapp"],
    ):
        result = cli(*args)
        assert result.code == 0 and "webapp" in result.out, args


def test_stack_add_and_remove(webapp: Path, cli: CLI) -> None:
    assert cli("stack", "add", "webapp", "--host", "node-2").code == 0
    (service,) = json.loads(cli("show", "services", "webapp", "--json").out)
    assert [s["host"] for s in service["stacks"]] == ["local", "local", "node-2"]
    assert cli("stack", "remove", "webapp").code == 0
    assert cli("stack", "remove", "webapp").code == 0
    result = cli("stack", "remove", "webapp")
    assert result.code == 1 and "min_stacks" in result.err


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("stages = []\n", "stages: needs at least one stage"),
        ('stages = ["prod"]\ncolour = "blue"\n', "colour: unknown key"),
        ('stages = ["prod", "qa", "dev"]\nmin_height = 2\n', "min_height = 2 is below"),
        ('stages = ["prod"\n', "not valid TOML"),
        ('versions = "sideways"\n', "versions:"),
        ('[gates.prod]\nsoak = "soon"\n', "gates.prod.soak"),
    ],
)
def test_broken_config_is_exit_2_with_file_and_key(
    project: Path, cli: CLI, text: str, words: str
) -> None:
    (project / "pipeline-kit.toml").write_text(text)
    result = cli("show", "services")
    assert result.code == 2
    line = result.err.strip()
    assert "\n" not in line
    assert str(project / "pipeline-kit.toml") in line
    assert words in line


def test_config_line_numbers_and_env_override(
    project: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "pipeline-kit.toml").write_text(
        'stages = ["prod", "qa"]\n\n[gates.qa]\nsoak = "x"\n'
    )
    result = cli("check")
    assert f"{project / 'pipeline-kit.toml'}:4:" in result.err
    (project / "pipeline-kit.toml").write_text('stages = ["prod", "qa", "dev"]\n')
    monkeypatch.setenv("PIPELINE_KIT_MIN_STACKS", "zero")
    result = cli("check")
    assert result.code == 2 and "min_stacks" in result.err


def test_config_in_pyproject_found_upward(
    tmp_path: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pipeline-kit]\nstages = ["live", "test"]\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    monkeypatch.setenv("PIPELINE_KIT_DB", db_url)
    assert cli("service", "add", "svc", "--image", "x/svc", "--version", "1.0.0").code == 0
    (service,) = json.loads(cli("show", "services", "--json").out)
    assert service["stages"] == {"live": "1.0.0", "test": "1.0.0"}


def test_bug_is_exit_4_with_traceback_in_log(
    webapp: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline_kit.model import actions

    def broken(*_args: object) -> None:
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(actions, "push", broken)
    result = cli("push", "webapp", "v0.2.0")
    assert result.code == 4
    assert len(result.err.strip().splitlines()) == 1
    assert "Traceback" not in result.err
    log = (webapp / ".pipeline-kit" / "error.log").read_text()
    assert "ZeroDivisionError: boom" in log and "Traceback" in log


def test_github_actions_annotation(webapp: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    result = cli("promote", "nope", "--to", "prod")
    assert result.code == 2
    assert result.out.startswith("::error::unknown service 'nope'")
