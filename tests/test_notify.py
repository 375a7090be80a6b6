"""Webhook notifications of promotions, against a local receiver.

started/succeeded/failed of ``promote``, ``rolled back`` of ``rollback``; retries after a
500; a receiver that is down is a warning and the promotion is applied; the URL (a secret)
never appears in output, JUnit files or the exported state.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from pipeline_kit.config import load
from pipeline_kit.pipeline import notify
from tests.conftest import CLI, add_webapp
from tests.support.webhook import receiver

NOTIFY = '\n[notify]\nwebhook_env = "SHOP_WEBHOOK"\n'
HOOK_PATH = "/hooks/T0KEN-s3cr3t-value"  # the URL is the secret: a path that shows it


@pytest.fixture
def notified(project: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch) -> Path:
    """webapp at 1.0.0 everywhere, [notify] configured, a GitHub run in the environment."""
    with (project / "pipeline-kit.toml").open("a") as config:
        config.write(NOTIFY)
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "team/shop")
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.delenv("SHOP_WEBHOOK", raising=False)
    assert add_webapp(cli, "1.0.0", stacks=1).code == 0
    return project


def _stages(cli: CLI) -> dict[str, str]:
    stages: dict[str, str] = json.loads(cli("show", "services", "--json").out)[0]["stages"]
    return stages


def test_a_promotion_sends_started_and_succeeded_with_its_fields(
    notified: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    with receiver(HOOK_PATH) as got:
        monkeypatch.setenv("SHOP_WEBHOOK", got.url)
        result = cli("promote", "webapp", "1.1.0", "--to", "prod")
    assert result.code == 0, result.err
    assert got.events() == ["started", "succeeded"]
    done = got.bodies[1]
    link = "https://github.example/team/shop/actions/runs/4242"
    assert {k: done[k] for k in ("service", "version", "stage", "event", "link")} == {
        "service": "webapp",
        "version": "1.1.0",
        "stage": "prod",
        "event": "succeeded",
        "link": link,
    }
    assert done["result"] == "1.1.0 runs in prod"
    assert isinstance(done["text"], str) and "webapp 1.1.0" in done["text"] and link in done["text"]
    attachment = done["attachments"][0]  # type: ignore[index]
    titles = [f["title"] for f in attachment["fields"]]
    assert titles == ["service", "version", "stage", "event", "result"]
    assert "warning" not in result.err


def test_a_refused_promotion_sends_failed_with_the_reason(
    notified: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("reject", "webapp", "1.1.0", "--reason", "broken").code == 0
    with receiver() as got:
        monkeypatch.setenv("SHOP_WEBHOOK", got.url)
        result = cli("promote", "webapp", "1.1.0", "--to", "prod")
    assert result.code == 1
    assert got.events() == ["started", "failed"]
    assert "refused" in str(got.bodies[1]["result"])


def test_rollback_sends_rolled_back_through_the_shared_function(
    notified: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("promote", "webapp", "1.1.0", "--to", "prod").code == 0  # unset: a warning
    assert cli("promote", "webapp", "--to", "prod").code == 0
    assert cli("promote", "webapp", "--to", "prod").code == 0
    assert _stages(cli)["prod"] == "1.1.0"
    monkeypatch.delenv("GITHUB_RUN_ID")
    monkeypatch.setenv("BUILD_URL", "https://jenkins.example/job/shop/7/")
    with receiver() as got:
        monkeypatch.setenv("SHOP_WEBHOOK", got.url)
        result = cli("rollback", "webapp", "--stage", "prod")
    assert result.code == 0, result.err
    (body,) = got.bodies
    assert (body["event"], body["service"], body["version"], body["stage"]) == (
        "rolled back",
        "webapp",
        "1.1.0",
        "prod",
    )
    assert body["result"] == "1.0.0 restored, 1.1.0 rejected"
    assert body["link"] == "https://jenkins.example/job/shop/7/"


def test_a_500_is_retried_and_the_notification_delivered(
    notified: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    with receiver(fail_first=2) as got:
        monkeypatch.setenv("SHOP_WEBHOOK", got.url)
        result = cli("promote", "webapp", "1.1.0", "--to", "prod")
    assert result.code == 0
    assert got.attempts == 4  # started: 500, 500, 200; succeeded: 200
    assert got.events() == ["started", "succeeded"]
    assert "warning" not in result.err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def test_a_receiver_that_is_down_is_a_warning_and_the_promotion_applies(
    notified: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}{HOOK_PATH}"
    monkeypatch.setenv("SHOP_WEBHOOK", url)
    junit = tmp_path / "junit"
    result = cli("promote", "webapp", "1.1.0", "--to", "prod", "--junit-dir", str(junit))
    assert result.code == 0, result.err
    assert _stages(cli)["dev"] == "1.1.0"
    lines = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert len(lines) == 2  # started and succeeded, one line each
    assert all("could not be reached" in line and "3 attempt(s)" in line for line in lines)
    export = tmp_path / "state.json"
    assert cli("state", "export", str(export)).code == 0
    shown = cli("show", "history", "--json")
    texts = [result.out, result.err, export.read_text(), shown.out]
    reports = [p.read_text() for p in junit.rglob("*.xml")]
    assert reports
    texts += reports
    for secret in ("s3cr3t", url):
        assert all(secret not in text for text in texts)


def test_an_unset_variable_is_a_warning(notified: Path, cli: CLI) -> None:
    result = cli("promote", "webapp", "1.1.0", "--to", "prod")
    assert result.code == 0
    assert "warning: [notify] is configured but SHOP_WEBHOOK is not set" in result.err
    assert _stages(cli)["dev"] == "1.1.0"


@pytest.mark.parametrize(
    "value", ["ftp://127.0.0.1/s3cr3t", "not a url s3cr3t", "http:///s3cr3t", "https://h:0/s3cr3t"]
)
def test_a_malformed_url_is_one_line_and_changes_nothing(
    notified: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SHOP_WEBHOOK", value)
    for args in (("promote", "webapp", "1.1.0", "--to", "prod"), ("rollback", "webapp")):
        result = cli(*args)
        assert result.code == 2, (args, result.out, result.err)
        text = (result.out + result.err).strip()
        assert len(text.splitlines()) == 1 and "SHOP_WEBHOOK is not an http" in text
        assert "s3cr3t" not in text
    assert _stages(cli) == {"prod": "1.0.0", "qa": "1.0.0", "dev": "1.0.0"}


def test_no_notify_table_sends_nothing_and_warns_nothing(project: Path, cli: CLI) -> None:
    assert add_webapp(cli, "1.0.0", stacks=1).code == 0
    result = cli("promote", "webapp", "1.1.0", "--to", "prod")
    assert result.code == 0 and "warning" not in result.err


def test_the_shared_rollback_function_never_raises(
    notified: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load()
    env = {"SHOP_WEBHOOK": "gopher://s3cr3t"}
    (warning,) = notify.rolled_back(settings, "webapp", "1.1.0", "prod", "1.0.0", env)
    assert "SHOP_WEBHOOK is not an http" in warning and "s3cr3t" not in warning
    with receiver() as got:
        env = {"SHOP_WEBHOOK": got.url}
        assert notify.rolled_back(settings, "webapp", "1.1.0", "prod", "1.0.0", env) == []
    assert got.events() == ["rolled back"]


def test_a_promotion_that_ends_before_its_plan_sends_failed(
    notified: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    with receiver() as got:
        monkeypatch.setenv("SHOP_WEBHOOK", got.url)
        result = cli("promote", "nope", "1.1.0", "--to", "prod")
    assert result.code == 2
    assert got.events() == ["started", "failed"]
    assert "unknown service 'nope'" in str(got.bodies[1]["result"])
