"""An endpoint's home stage: the gates of the stage it was added for apply to every version
that comes to answer its users, wherever it points now; databases and exports made before
the home stage was stored keep working (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import CLI
from tests.test_traffic_gates import GATED, Snapshot


def _ok(cli: CLI, *args: str) -> str:
    result = cli(*args)
    assert result.code == 0, (args, result.out, result.err)
    return result.out


@pytest.fixture
def web(project: Path, cli: CLI) -> Path:
    """webapp v1.0.0/v1.1.0/v1.2.0 in prod/qa/dev behind endpoint ``web``, added for prod."""
    (project / "pipeline-kit.toml").write_text(GATED)
    _ok(cli, "init")
    versions = ("--version", "v1.0.0", "--version", "v1.1.0", "--version", "v1.2.0")
    _ok(cli, "service", "add", "webapp", "--image", "example/webapp", *versions)
    _ok(cli, "endpoint", "add", "web", "--service", "webapp", "--port", "8080", "--stage", "prod")
    return project


def _endpoint(cli: CLI) -> dict[str, object]:
    rows = json.loads(_ok(cli, "show", "endpoints", "--json"))
    assert len(rows) == 1
    row: dict[str, object] = rows[0]
    return row


def test_a_switched_endpoint_keeps_the_gates_of_its_home_stage(
    web: Path, cli: CLI, snapshot: Snapshot
) -> None:
    _ok(cli, "approve", "webapp", "v1.2.0", "--stage", "prod", "--by", "alice")
    _ok(cli, "switch", "web", "--stage", "dev")
    assert (_endpoint(cli)["stage"], _endpoint(cli)["home"]) == ("dev", "prod")
    assert "dev (home prod)" in _ok(cli, "show", "endpoints")
    # A new version in dev would answer prod's users: it passes prod's gates first.
    before = snapshot()
    refused = cli("promote", "webapp", "v1.3.0", "--to", "dev")
    assert refused.code == 1
    assert "[approval] webapp v1.3.0→prod: prod needs an approval" in refused.err
    assert snapshot() == before
    _ok(cli, "approve", "webapp", "v1.3.0", "--stage", "prod", "--by", "alice")
    _ok(cli, "promote", "webapp", "v1.3.0", "--to", "dev")
    # Back home: prod's own versions are there already, nothing new is asked.
    _ok(cli, "switch", "web", "--stage", "prod")
    assert (_endpoint(cli)["stage"], _endpoint(cli)["home"]) == ("prod", "prod")
    assert "(home " not in _ok(cli, "show", "endpoints")
    # At home, dev's versions no longer answer prod's users: dev's own gates apply again.
    _ok(cli, "promote", "webapp", "v1.4.0", "--to", "dev")


def _downgrade(db_url: str, version: str = "2") -> None:
    """The database as an earlier pipeline-kit left it: no home column."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE pk_endpoints DROP COLUMN home"))
            conn.execute(text("UPDATE pk_meta SET value = :v WHERE key = 'schema'"), {"v": version})
    finally:
        engine.dispose()


def _schema(db_url: str) -> tuple[str, set[str]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT value FROM pk_meta WHERE key = 'schema'")).scalar()
        columns = {c["name"] for c in inspect(engine).get_columns("pk_endpoints")}
    finally:
        engine.dispose()
    return str(found), columns


def test_a_database_of_schema_2_is_upgraded_on_its_first_read(
    web: Path, cli: CLI, db_url: str
) -> None:
    _downgrade(db_url)
    assert _endpoint(cli)["home"] == "prod"  # a read upgrades it; the home is where it points
    assert _schema(db_url) == ("3", {"name", "service", "port", "position", "home"})
    _ok(cli, "approve", "webapp", "v1.2.0", "--stage", "prod", "--by", "alice")
    _ok(cli, "switch", "web", "--stage", "dev")
    refused = cli("promote", "webapp", "v1.3.0", "--to", "dev")
    assert refused.code == 1 and "webapp v1.3.0→prod" in refused.err


def test_a_database_of_schema_2_is_upgraded_on_its_first_write(
    web: Path, cli: CLI, db_url: str
) -> None:
    _downgrade(db_url)
    _ok(cli, "approve", "webapp", "v1.2.0", "--stage", "prod", "--by", "alice")
    assert _schema(db_url)[0] == "3"
    _ok(cli, "switch", "web", "--stage", "dev")
    assert (_endpoint(cli)["stage"], _endpoint(cli)["home"]) == ("dev", "prod")


def test_a_database_of_an_unknown_schema_is_one_line_exit_3(
    web: Path, cli: CLI, db_url: str
) -> None:
    _downgrade(db_url, "1")
    result = cli("show", "endpoints")
    assert result.code == 3
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "has schema '1', this pipeline-kit needs '3'" in lines[0]
    assert _schema(db_url) == ("1", {"name", "service", "port", "position"})


def test_an_export_without_home_stages_imports_with_each_where_it_points(
    web: Path, cli: CLI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot: Snapshot
) -> None:
    exported = json.loads(snapshot())
    assert [e["home"] for e in exported["endpoints"]] == [0]
    for endpoint in exported["endpoints"]:
        del endpoint["home"]
    path = tmp_path / "older.json"
    path.write_text(json.dumps(exported))
    monkeypatch.setenv("PIPELINE_KIT_DB", f"sqlite:///{tmp_path / 'copy.db'}")
    _ok(cli, "state", "import", str(path))
    assert _endpoint(cli)["home"] == "prod"
    _ok(cli, "approve", "webapp", "v1.1.0", "--stage", "prod", "--by", "alice")
    _ok(cli, "switch", "web", "--stage", "qa")
    assert cli("promote", "webapp", "v1.1.1", "--to", "qa").code == 1  # prod's gate
    assert json.loads(snapshot())["endpoints"][0]["home"] == 0
