"""Approval policies, freezes and stopping the line through the CLI, on the real state
database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CLI, add_webapp

Snapshot = Callable[[], str]

POLICY = """
[gates.prod]
approval = true
approvals = 2
approvers = ["alice", "bob", "release-managers"]
self_approval = false

[groups]
release-managers = ["carol", "dave"]
"""
NOW_FROZEN = """
[[freeze]]
stages = ["prod"]
from = "2000-01-01T00:00:00Z"
until = "2100-01-04T00:00:00Z"
reason = "year-end freeze"
"""


@pytest.fixture
def ready(project: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch) -> Path:
    """webapp with v0.2.0 in qa and dev, waiting for prod; no CI around."""
    for key in ("JENKINS_URL", "JENKINS_HOME", "PIPELINE_KIT_APPROVER"):
        monkeypatch.delenv(key, raising=False)
    assert add_webapp(cli, "v0.1.0").code == 0
    assert cli("promote", "webapp", "v0.2.0", "--to", "qa").code == 0
    assert cli("promote", "webapp", "--to", "qa").code == 0
    return project


def _config(project: Path, *parts: str) -> None:
    path = project / "pipeline-kit.toml"
    path.write_text(path.read_text() + "".join(parts))


def _history(cli: CLI) -> list[dict[str, object]]:
    result = cli("show", "history", "--json")
    assert result.code == 0, result.err
    entries: list[dict[str, object]] = json.loads(result.out)
    return entries


def _prod(cli: CLI) -> str:
    services = json.loads(cli("show", "services", "--json").out)
    return str(services[0]["stages"]["prod"])


def test_two_distinct_approvals_pass_one_does_not_and_junit_says_who(ready: Path, cli: CLI) -> None:
    _config(ready, POLICY)
    approve = ("approve", "webapp", "v0.2.0", "--stage", "prod", "--by")
    assert cli(*approve, "alice").code == 0
    assert cli(*approve, "alice").code == 0  # the same person twice is one approval
    refused = cli("promote", "webapp", "--to", "prod", "--junit-dir", "reports")
    assert refused.code == 1
    assert (
        "prod needs 2 approvals, has 1 (alice); 1 more from alice, bob, release-managers"
        in refused.err
    )
    junit = (ready / "reports" / "pipeline-kit-prod.xml").read_text()
    assert "has 1 (alice); 1 more from" in junit and "release-managers (carol, dave)" in junit
    assert cli(*approve, "dave").code == 0  # a group member counts
    result = cli("promote", "webapp", "--to", "prod")
    assert result.code == 0, result.err
    assert _prod(cli) == "v0.2.0"
    approvals = [h["args"] for h in _history(cli) if h["action"] == "approve"]
    assert [a["by"] for a in approvals] == ["alice", "alice", "dave"]  # type: ignore[index]


def test_a_stranger_is_refused_and_nothing_changes(
    ready: Path, cli: CLI, snapshot: Snapshot
) -> None:
    _config(ready, POLICY)
    before = snapshot()
    result = cli("approve", "webapp", "v0.2.0", "--stage", "prod", "--by", "mallory")
    assert result.code == 1
    assert "mallory may not approve prod" in result.err
    assert snapshot() == before


def test_under_github_actions_the_approver_is_github_actor(
    ready: Path, cli: CLI, snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(ready, POLICY)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_ACTOR", "bob")
    before = snapshot()
    result = cli("approve", "webapp", "v0.2.0", "--stage", "prod", "--by", "alice")
    assert result.code == 1
    assert result.err.strip() == (
        "error: --by alice is not who runs this job (bob, from GITHUB_ACTOR): refused"
    )
    assert snapshot() == before
    assert cli("approve", "webapp", "v0.2.0", "--stage", "prod").code == 0
    assert [h["args"]["by"] for h in _history(cli) if h["action"] == "approve"] == ["bob"]  # type: ignore[index]


def test_under_jenkins_the_approver_is_the_input_submitter(
    ready: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JENKINS_URL", "https://jenkins.example.com/")
    result = cli("approve", "webapp", "v0.2.0", "--stage", "prod")
    assert result.code == 2 and "input step's submitter" in result.err
    monkeypatch.setenv("BUILD_USER_ID", "carol")
    monkeypatch.setenv("PIPELINE_KIT_APPROVER", "dave")  # what the shared library passes
    assert cli("approve", "webapp", "v0.2.0", "--stage", "prod").code == 0
    refused = cli("approve", "webapp", "v0.2.0", "--stage", "prod", "--by", "carol")
    assert refused.code == 1 and "(dave, from PIPELINE_KIT_APPROVER)" in refused.err
    assert [h["args"]["by"] for h in _history(cli) if h["action"] == "approve"] == ["dave"]  # type: ignore[index]


def test_a_window_covering_now_refuses_prod_allows_qa_and_a_rollback(
    ready: Path, cli: CLI, snapshot: Snapshot
) -> None:
    assert cli("promote", "webapp", "--to", "prod").code == 0  # v0.2.0 in prod
    _config(ready, NOW_FROZEN)
    before = snapshot()
    result = cli("promote", "webapp", "v0.3.0", "--to", "prod", "--junit-dir", "reports")
    assert result.code == 1
    assert "[freeze] prod: year-end freeze until 2100-01-04" in result.err
    junit = (ready / "reports" / "pipeline-kit-prod.xml").read_text()
    assert "year-end freeze until 2100-01-04" in junit and "<failure" in junit
    assert snapshot() == before
    assert cli("promote", "webapp", "v0.3.0", "--to", "qa").code == 0
    back = cli("rollback", "webapp")
    assert back.code == 0, back.err
    assert _prod(cli) == "v0.1.0"


def test_override_freeze_needs_the_approvals_and_is_in_the_history(
    ready: Path, cli: CLI, snapshot: Snapshot
) -> None:
    _config(ready, NOW_FROZEN, "\n[gates.prod]\napprovals = 2\n")
    override = ("promote", "webapp", "--to", "prod", "--override-freeze")
    before = snapshot()
    missing = cli(*override)
    assert missing.code == 2 and "--reason" in missing.err
    refused = cli(*override, "--reason", "payment outage hotfix")
    assert refused.code == 1
    assert "--override-freeze: webapp v0.2.0 has 0 of 2 approvals" in refused.err
    assert snapshot() == before
    for person in ("alice", "bob"):
        assert cli("approve", "webapp", "v0.2.0", "--stage", "prod", "--by", person).code == 0
    assert cli("promote", "webapp", "--to", "prod").code == 1  # still frozen without it
    result = cli(*override, "--reason", "payment outage hotfix")
    assert result.code == 0, result.err
    last = _history(cli)[-1]
    assert last["action"] == "promote"
    assert last["args"]["override_freeze"] == "payment outage hotfix"  # type: ignore[index]


def test_freeze_and_unfreeze_round_trip_in_the_history(
    ready: Path, cli: CLI, snapshot: Snapshot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = cli("freeze", "webapp", "--stage", "prod", "--reason", "incident 4711")
    assert result.code == 0, result.err
    shown = cli("show", "services")
    assert "frozen: prod (webapp) by tester: incident 4711 until unfrozen" in shown.out
    rows = json.loads(cli("show", "freezes", "--json").out)
    assert [(r["stage"], r["service"], r["active"], r["by"]) for r in rows] == [
        ("prod", "webapp", True, "tester")
    ]
    refused = cli("promote", "webapp", "--to", "prod")
    assert refused.code == 1
    assert "[freeze] prod: incident 4711 (frozen by tester until unfrozen)" in refused.err
    # The freeze travels with an export into a new database.
    exported = snapshot()
    assert '"reason": "incident 4711"' in exported
    monkeypatch.setenv("PIPELINE_KIT_DB", f"sqlite:///{tmp_path / 'copy.db'}")
    path = tmp_path / "exported.json"
    path.write_text(exported)
    assert cli("state", "import", str(path)).code == 0
    assert snapshot() == exported
    assert cli("unfreeze", "webapp", "--stage", "prod").code == 0
    assert cli("promote", "webapp", "--to", "prod").code == 0
    actions = [(h["action"], h["actor"], h["args"]) for h in _history(cli)][-3:]
    assert actions[0][:2] == ("freeze", "tester")
    assert actions[0][2]["reason"] == "incident 4711"  # type: ignore[index]
    assert actions[1][:2] == ("unfreeze", "tester")
    assert actions[2][0] == "promote"


def test_a_freeze_of_every_service_and_check_reports_it(
    ready: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("freeze", "--stage", "prod", "--reason", "release train").code == 0
    _config(ready, '\n[release]\nservice = "webapp"\n')
    result = cli("check", "--version", "0.3.0")
    assert result.code == 1
    assert "[freeze] prod: release train (frozen by tester until unfrozen)" in result.out
    assert cli("unfreeze", "--stage", "prod").code == 0
    assert cli("check", "--version", "0.3.0").code == 0


BAD_CONFIG = [
    ("[gates.prod]\napproval = true\napprovals = 0\n", "gates.prod.approvals"),
    ('[groups]\nleads = ["alice", "@manegers"]\n', "groups.leads: unknown group '@manegers'"),
    (
        '[[freeze]]\nstages = ["prod"]\nfrom = "2027-01-04T00:00:00Z"\n'
        'until = "2026-12-20T00:00:00Z"\nreason = "x"\n',
        "is not after from",
    ),
    ('[[freeze]]\nstages = ["prod"]\nweekly = ["sat", "sunny"]\nreason = "x"\n', "sunny"),
    (
        '[[freeze]]\nstages = ["prod"]\nweekly = ["sat"]\ntimezone = "Europe/Atlantis"\n'
        'reason = "x"\n',
        "unknown time zone 'Europe/Atlantis'",
    ),
]


@pytest.mark.parametrize(("text", "words"), BAD_CONFIG, ids=lambda v: str(v)[:30])
def test_bad_policy_or_freeze_config_is_one_line_exit_2(
    ready: Path, cli: CLI, snapshot: Snapshot, text: str, words: str
) -> None:
    path = ready / "pipeline-kit.toml"
    good = path.read_text()
    before = snapshot()
    path.write_text(good + "\n" + text)
    for args in (("promote", "webapp", "--to", "prod"), ("show", "freezes")):
        result = cli(*args)
        assert result.code == 2, result.err
        lines = result.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]
        assert "Traceback" not in result.err + result.out
    path.write_text(good)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("freeze", "webapp", "--stage", "prod"), "--reason"),
        (("freeze", "webapp", "--stage", "prod", "--reason", " "), "--reason"),
        (("freeze", "nope", "--stage", "prod", "--reason", "x"), "unknown service 'nope'"),
        (("freeze", "--stage", "staging", "--reason", "x"), "unknown stage 'staging'"),
        (("unfreeze", "--stage", "prod"), "not frozen"),
    ],
    ids=lambda v: " ".join(v)[:40] if isinstance(v, tuple) else v,
)
def test_bad_freeze_input_is_one_line_exit_2(
    ready: Path, cli: CLI, snapshot: Snapshot, args: tuple[str, ...], words: str
) -> None:
    before = snapshot()
    result = cli(*args)
    assert result.code == 2, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.err
    assert snapshot() == before


def test_a_database_made_before_freezes_gets_their_tables_on_its_next_write(
    project: Path, cli: CLI, db_url: str
) -> None:
    from sqlalchemy import create_engine, inspect

    assert cli("init").code == 0
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            for table in ("pk_holds", "pk_authors"):
                conn.exec_driver_sql(f"DROP TABLE {table}")
        shown = cli("show", "freezes", "--json")
        assert shown.code == 0, shown.err
        assert json.loads(shown.out) == []
        assert add_webapp(cli, "v0.1.0").code == 0
        assert cli("freeze", "--stage", "qa", "--reason", "audit").code == 0
        assert {"pk_holds", "pk_authors"} <= set(inspect(engine).get_table_names())
        assert cli("promote", "webapp", "v0.3.0", "--to", "qa").code == 1
    finally:
        engine.dispose()
