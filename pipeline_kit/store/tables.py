"""The SQL tables of the state and of its audit history.

Times are stored as ISO 8601 text in UTC so that SQLite and PostgreSQL round-trip them
identically. Relations are checked by the model's constraints, not by foreign keys.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text

SCHEMA_VERSION = "3"  # 3: pk_endpoints.home (see store/upgrade.py)

metadata = MetaData()

meta = Table(
    "pk_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

services = Table(
    "pk_services",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("image", String(255), nullable=False),
)

stacks = Table(
    "pk_stacks",
    metadata,
    Column("service", String(63), primary_key=True),
    Column("idx", Integer, primary_key=True),
    Column("host", String(64), nullable=False),
)

containers = Table(
    "pk_containers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("service", String(63), nullable=False),
    Column("stack", Integer, nullable=False),
    Column("position", Integer, nullable=False),
    Column("version", String(128), nullable=False),
    Column("entered", String(40), nullable=False),
    Column("previous", String(128)),
    Column("address", String(300)),
    Index("ix_pk_containers_service", "service", "stack", "position"),
)

endpoints = Table(
    "pk_endpoints",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("service", String(63), nullable=False, index=True),
    Column("port", Integer, nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("home", Integer),  # the stage it was added for (schema 3; NULL: ``position``)
)

trees = Table(
    "pk_trees",
    metadata,
    Column("service", String(63), primary_key=True),
    Column("position", Integer, primary_key=True),
)

edges = Table(
    "pk_edges",
    metadata,
    Column("service", String(63), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("parent", String(63), nullable=False),
    Column("child", String(63), nullable=False, index=True),
    Column("child_position", Integer, nullable=False),
)

approvals = Table(
    "pk_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(63), nullable=False, index=True),
    Column("version", String(128), nullable=False),
    Column("position", Integer, nullable=False),
    Column("by", String(200), nullable=False),
    Column("at", String(40), nullable=False),
)

rejections = Table(
    "pk_rejections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(63), nullable=False, index=True),
    Column("version", String(128), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("by", String(200), nullable=False),
    Column("at", String(40), nullable=False),
)

history = Table(
    "pk_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(40), nullable=False),
    Column("services", Text, nullable=False),  # ",webapp,api," for LIKE filtering
    Column("args", Text, nullable=False),  # JSON
    Column("changes", Text, nullable=False),  # JSON: per service, versions per stage
)

journal = Table(
    "pk_journal",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("services", Text, nullable=False),  # ",webapp,api,"
    Column("action", String(40), nullable=False),
    Column("phase", String(16), nullable=False),  # "starting" | "committed"
    Column("owner", String(255), nullable=False),  # hostname of the process applying
    Column("pid", Integer, nullable=False),
    Column("started", String(40), nullable=False),
    Column("expires", String(40), nullable=False),
    Column("operations", Text, nullable=False),  # JSON: containers to start and to stop
)

# The last ``verify`` result of each container (created on first use in older databases).
health = Table(
    "pk_health",
    metadata,
    Column("container", String(64), primary_key=True),
    Column("service", String(63), nullable=False, index=True),
    Column("status", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("at", String(40), nullable=False),
)

holds = Table(
    "pk_holds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(63)),  # NULL: every service
    Column("position", Integer, nullable=False),
    Column("reason", String(500), nullable=False),
    Column("by", String(200), nullable=False),
    Column("at", String(40), nullable=False),
)

authors = Table(
    "pk_authors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(63), nullable=False, index=True),
    Column("version", String(128), nullable=False),
    Column("author", String(300), nullable=False),
    Column("at", String(40), nullable=False),
)

# Host ports held by containers that pipeline-kit started: runtime bookkeeping (not exported).
# The primary key makes two reservations of one port on one host impossible.
ports = Table(
    "pk_ports",
    metadata,
    Column("host", String(64), primary_key=True),
    Column("port", Integer, primary_key=True),
    Column("container", String(64), nullable=False, index=True),
    Column("service", String(63), nullable=False),
)
