"""The PostgreSQL fixtures give each test a working, private database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.support.postgres import (
    drop_database,
    fresh_database,
    postgres_server_url,  # noqa: F401  (pytest fixture)
    postgres_url,  # noqa: F401  (pytest fixture)
    reachable,
)

pytestmark = pytest.mark.postgresql


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:  # noqa: F811
    engine = sa.create_engine(postgres_url)
    try:
        yield engine
    finally:
        engine.dispose()


def test_url_uses_psycopg_driver(postgres_url: str) -> None:  # noqa: F811
    url = make_url(postgres_url)
    assert url.drivername == "postgresql+psycopg"
    assert url.database
    assert reachable(postgres_url)


def test_create_write_read_table(engine: sa.Engine) -> None:
    metadata = sa.MetaData()
    releases = sa.Table(
        "releases",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tag", sa.String(64), nullable=False, unique=True),
        sa.Column("notes", sa.Text),
    )
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(releases),
            [{"tag": "v1.0.0", "notes": "first"}, {"tag": "v1.1.0", "notes": "ünïcödé"}],
        )
    with engine.connect() as conn:
        rows = conn.execute(sa.select(releases.c.tag, releases.c.notes).order_by("tag")).all()
    assert [tuple(row) for row in rows] == [("v1.0.0", "first"), ("v1.1.0", "ünïcödé")]
    assert sa.inspect(engine).get_table_names() == ["releases"]


def test_each_test_starts_empty(engine: sa.Engine) -> None:
    # Runs after test_create_write_read_table: its table must not leak into this database.
    assert sa.inspect(engine).get_table_names() == []


_SEEN_DATABASES: list[str] = []


@pytest.mark.parametrize("round_", [1, 2])
def test_postgres_url_is_a_new_database_each_time(postgres_url: str, round_: int) -> None:  # noqa: F811
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            name = conn.execute(sa.text("SELECT current_database()")).scalar_one()
            tables = sa.inspect(conn).get_table_names()
            conn.execute(sa.text("CREATE TABLE marker (round integer)"))
            conn.execute(sa.text("INSERT INTO marker VALUES (:r)"), {"r": round_})
    finally:
        engine.dispose()
    assert name == make_url(postgres_url).database
    assert tables == []
    assert name not in _SEEN_DATABASES
    _SEEN_DATABASES.append(name)


def test_two_databases_are_distinct(postgres_server_url: str) -> None:  # noqa: F811
    first = fresh_database(postgres_server_url)
    second = fresh_database(postgres_server_url)
    try:
        assert make_url(first).database != make_url(second).database
        engine_a = sa.create_engine(first)
        engine_b = sa.create_engine(second)
        try:
            with engine_a.begin() as conn:
                conn.execute(sa.text("CREATE TABLE only_in_first (x integer)"))
                conn.execute(sa.text("INSERT INTO only_in_first VALUES (1)"))
            with engine_a.connect() as conn:
                name_a = conn.execute(sa.text("SELECT current_database()")).scalar_one()
                count = conn.execute(sa.text("SELECT count(*) FROM only_in_first")).scalar_one()
            with engine_b.connect() as conn:
                name_b = conn.execute(sa.text("SELECT current_database()")).scalar_one()
            assert count == 1
            assert name_a == make_url(first).database
            assert name_b == make_url(second).database
            assert sa.inspect(engine_b).get_table_names() == []
        finally:
            engine_a.dispose()
            engine_b.dispose()
    finally:
        drop_database(first, admin_url=postgres_server_url)
        drop_database(second, admin_url=postgres_server_url)
    assert not reachable(first)


def test_dropped_database_is_gone(postgres_server_url: str) -> None:  # noqa: F811
    url = fresh_database(postgres_server_url)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        # The pooled connection is still an open session: it must not block the drop.
        drop_database(url, admin_url=postgres_server_url)
    finally:
        engine.dispose()
    assert not reachable(url)
