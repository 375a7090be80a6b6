"""The store on SQLite and PostgreSQL: partial loads, export/import, bad import files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline_kit.model import actions
from pipeline_kit.model.actions import Context
from pipeline_kit.model.policy import Policy
from pipeline_kit.store.database import Scope, Store
from tests.conftest import CLI


def _populate(cli: CLI) -> None:
    assert cli("init").code == 0
    for name in ("webapp", "api", "db"):
        result = cli(
            "service",
            "add",
            name,
            "--image",
            f"example/{name}",
            "--stacks",
            "2",
            "--version",
            "v1.0.0",
            "--version",
            "v1.1.0",
            "--host",
            "a",
            "--host",
            "b",
        )
        assert result.code == 0, result.err
    assert (
        cli(
            "endpoint", "add", "web", "--service", "webapp", "--port", "8080", "--stage", "prod"
        ).code
        == 0
    )
    assert cli("connect", "webapp", "--child", "api", "--endpoint", "web").code == 0
    assert cli("connect", "api", "--child", "db", "--endpoint", "web", "--stage", "qa").code == 0
    assert cli("promote", "api", "v1.2.0", "--to", "prod").code == 0
    assert cli("approve", "webapp", "v1.1.0", "--stage", "prod", "--by", "alice").code == 0
    assert cli("reject", "db", "v1.0.5", "--reason", "corrupts rows").code == 0


def test_export_import_reproduces_show_services(
    project: Path, cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    _populate(cli)
    shown = cli("show", "services", "--json").out
    endpoints = cli("show", "endpoints", "--json").out
    history = cli("show", "history", "--json").out
    exported = tmp_path / "state.json"
    assert cli("state", "export", str(exported)).code == 0
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("PIPELINE_KIT_DB", fresh)
    result = cli("state", "import", str(exported))
    assert result.code == 0, result.err
    assert cli("show", "services", "--json").out == shown
    assert cli("show", "endpoints", "--json").out == endpoints
    assert cli("show", "history", "--json").out == history
    again = tmp_path / "again.json"
    assert cli("state", "export", str(again)).code == 0
    assert again.read_bytes() == exported.read_bytes()
    # the imported environment goes on working: new history ids follow the imported ones
    assert cli("promote", "webapp", "--to", "qa").code == 0
    ids = [h["id"] for h in json.loads(cli("show", "history", "--json").out)]
    assert ids == sorted(set(ids))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_import_into_postgresql_from_sqlite_export(
    project: Path, cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    _populate(cli)
    shown = cli("show", "services", "--json").out
    exported = tmp_path / "state.json"
    cli("state", "export", str(exported))
    monkeypatch.setenv("PIPELINE_KIT_DB", postgres_url)
    assert cli("state", "import", str(exported)).code == 0
    assert cli("show", "services", "--json").out == shown
    assert cli("promote", "webapp", "--to", "qa").code == 0


def _document(tmp_path: Path, cli: CLI) -> dict[str, object]:
    _populate(cli)
    path = tmp_path / "good.json"
    cli("state", "export", str(path))
    data: dict[str, object] = json.loads(path.read_text())
    return data


BAD_FILES = {
    "not-json": ("hello world", "not a pipeline-kit state file"),
    "other-json": ('{"name": "something else"}', "not a pipeline-kit state file"),
    "future": ('{"format": "pipeline-kit/state", "format_version": 99}', "not supported"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_import_refuses_files_that_are_not_ours(
    project: Path, cli: CLI, tmp_path: Path, kind: str
) -> None:
    text, words = BAD_FILES[kind]
    path = tmp_path / "bad.json"
    path.write_text(text)
    result = cli("state", "import", str(path))
    assert result.code == 2
    assert words in result.err and len(result.err.strip().splitlines()) == 1
    assert json.loads(cli("show", "services", "--json").out) == []


def test_import_refuses_truncated_and_invalid_files(
    project: Path, cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _document(tmp_path, cli)
    monkeypatch.setenv("PIPELINE_KIT_DB", f"sqlite:///{tmp_path / 'empty.db'}")
    text = json.dumps(good)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2])
    result = cli("state", "import", str(truncated))
    assert result.code == 2 and "truncated?" in result.err
    broken = dict(good)
    broken["services"] = [{"name": "x"}]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    result = cli("state", "import", str(path))
    assert result.code == 2 and "services.0" in result.err
    evil = json.loads(json.dumps(good))
    evil["services"][0]["name"] = "a;rm -rf /"
    path.write_text(json.dumps(evil))
    result = cli("state", "import", str(path))
    assert result.code == 2 and "invalid service name" in result.err
    result = cli("state", "import", str(tmp_path / "missing.json"))
    assert result.code == 2 and "cannot read" in result.err
    assert json.loads(cli("show", "services", "--json").out) == []


def test_import_refuses_a_non_empty_database_and_broken_state(
    project: Path, cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _document(tmp_path, cli)
    path = tmp_path / "good.json"
    path.write_text(json.dumps(good))
    before = cli("show", "services", "--json").out
    result = cli("state", "import", str(path))
    assert result.code == 2 and "not empty" in result.err
    assert cli("show", "services", "--json").out == before
    services = good["services"]
    assert isinstance(services, list)
    services[0]["stacks"][0]["containers"].pop()
    path.write_text(json.dumps(good))
    monkeypatch.setenv("PIPELINE_KIT_DB", f"sqlite:///{tmp_path / 'other.db'}")
    result = cli("state", "import", str(path))
    assert result.code == 1 and "[stack]" in result.err


def test_partial_load_reads_only_what_an_action_touches(
    project: Path, cli: CLI, db_url: str
) -> None:
    _populate(cli)
    for index in range(5):
        cli("service", "add", f"other-{index}", "--image", "x/other", "--version", "v1.0.0")
    store = Store(db_url)
    try:
        with store.read() as session:
            lone = session.load(Scope(services=frozenset({"other-3"})))
            tree = session.load(Scope(services=frozenset({"db"})))
            everything = session.load_all()
    finally:
        store.dispose()
    assert set(lone.services) == {"other-3"}
    # db is a child in webapp's trees: the trees and their members come along, one hop
    assert set(tree.services) == {"webapp", "api", "db"}
    assert {key[0] for key in tree.trees} == {"webapp"}
    assert set(everything.services) == {"webapp", "api", "db"} | {f"other-{i}" for i in range(5)}
    assert tree.services["db"] == everything.services["db"]
    assert tree.rejections == everything.rejections


def test_apply_writes_only_changes_and_round_trips(db_url: str) -> None:
    policy = Policy()
    ctx = Context(policy, datetime(2026, 1, 1, tzinfo=UTC), "tester")
    store = Store(db_url)
    try:
        with store.write(Scope(services=frozenset({"svc"}))) as session:
            plan = actions.add_service(session.load_all(), ctx, "svc", "x/svc", 2, ["v1.0.0"])
            session.apply(plan, policy, ctx.actor, ctx.now)
        with store.read() as session:
            loaded = session.load_all()
        assert loaded == plan.after
        with store.write(Scope(services=frozenset({"svc"}))) as session:
            plan = actions.promote(
                session.load(Scope(frozenset({"svc"}))), ctx, "svc", "prod", "v2.0.0"
            )
            session.apply(plan, policy, ctx.actor, ctx.now)
        with store.read() as session:
            assert session.load_all() == plan.after
            entries = session.history("svc")
        assert [e["action"] for e in entries] == ["service add", "promote"]
    finally:
        store.dispose()


def test_unreachable_database_is_exit_3(
    project: Path, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_KIT_DB", "postgresql+psycopg://nobody:secret@127.0.0.1:1/none")
    result = cli("show", "services")
    assert result.code == 3
    assert "secret" not in result.err
    assert len(result.err.strip().splitlines()) == 1
