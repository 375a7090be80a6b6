"""Bring a database made by an earlier pipeline-kit up to this schema version, in place.

Each step is additive (a nullable column, filled for the rows that exist) and runs in the
transaction that found the older version, so a database is either upgraded or untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text, update

from pipeline_kit.store import tables as t


def _endpoint_home(conn: Connection) -> None:
    """2 → 3: an endpoint's home stage; an existing endpoint's is the stage it points at."""
    conn.execute(text("ALTER TABLE pk_endpoints ADD COLUMN home INTEGER"))
    conn.execute(update(t.endpoints).values(home=t.endpoints.c.position))


STEPS: dict[str, tuple[str, Callable[[Connection], None]]] = {
    "2": ("3", _endpoint_home),
}


def can_upgrade(found: str | None) -> bool:
    """Whether a database of schema ``found`` can be brought up to this version."""
    while found in STEPS:
        found = STEPS[found][0]
    return found == t.SCHEMA_VERSION


def upgrade(conn: Connection, found: str) -> None:
    """Run every step from ``found`` to this version, and record the version reached."""
    version = found
    while version != t.SCHEMA_VERSION:
        version, step = STEPS[version]
        step(conn)
    conn.execute(update(t.meta).where(t.meta.c.key == "schema").values(value=version))
