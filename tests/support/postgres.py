"""A throwaway PostgreSQL server for the test suite.

The suite always runs against PostgreSQL. The session fixture ``postgres_server_url``
uses the server named by ``PIPELINE_KIT_TEST_POSTGRES`` (an SQLAlchemy URL such as
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``) when that is set and
reachable; otherwise it starts a private server with Debian's PostgreSQL binaries
(``/usr/lib/postgresql/<version>/bin``, highest version first, then ``initdb`` on
``PATH``) once per session and stops it when the session ends. The function fixture
``postgres_url`` hands each test a database of its own on that server and drops it
afterwards.

Running as root: PostgreSQL refuses to run as root, so ``initdb`` and ``pg_ctl`` are
run as the ``postgres`` system user (created by Debian's ``postgresql`` package), and
the working directory is chowned to it. That user must be able to traverse every
parent directory of the working directory, which is why the fixture creates it with
``tempfile.mkdtemp(prefix="pk-pg-", dir="/tmp")`` directly under /tmp
(mode 0o755) rather than under pytest's ``tmp_path``, whose parents may be private to
root. Not running as root: everything runs as the current user.

Either way ``initdb -U postgres`` is used, so the superuser is always ``postgres``, and
authentication is ``trust``: the server listens only on 127.0.0.1 (on a free port) and
on a Unix socket inside the working directory.

Usage from a conftest.py::

    from tests.support.postgres import postgres_server_url, postgres_url
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

__all__ = [
    "ENV_VAR",
    "TEST_DATABASE",
    "PostgresServer",
    "PostgresUnavailableError",
    "drop_database",
    "find_postgres_bindir",
    "fresh_database",
    "postgres_server_url",
    "postgres_url",
    "reachable",
    "start_postgres",
]

ENV_VAR = "PIPELINE_KIT_TEST_POSTGRES"
TEST_DATABASE = "pipeline_kit_test"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
CONNECT_TIMEOUT = 2
_COMMAND_TIMEOUT = 120


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries (initdb, pg_ctl) were found on this machine."""


# --------------------------------------------------------------------------- URLs


def _libpq_url(url: str) -> str:
    """Turn an SQLAlchemy URL (``postgresql+psycopg://...``) into a libpq URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _database_of(url: str) -> str:
    database = make_url(url).database
    if not database:
        raise ValueError(f"URL names no database: {make_url(url)!r}")
    return database


def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(_libpq_url(url), autocommit=True, connect_timeout=CONNECT_TIMEOUT)


def reachable(url: str) -> bool:
    """Whether a connection to ``url`` (an SQLAlchemy URL) succeeds within 2 seconds."""
    try:
        with _connect(url) as conn:
            conn.execute("SELECT 1")
    except (psycopg.Error, ValueError):
        return False
    return True


# ---------------------------------------------------------------------- databases


def _create_database(conn: psycopg.Connection[tuple[object, ...]], name: str) -> None:
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if conn.info.server_version >= 150000:
        # Copying the template's files is what PostgreSQL < 15 always did; for a
        # tiny template it is several times faster than 15's default WAL_LOG.
        statement = sql.SQL("{} STRATEGY FILE_COPY").format(statement)
    conn.execute(statement)


def fresh_database(admin_url: str) -> str:
    """Create a uniquely named database on ``admin_url``'s server; return its URL."""
    name = f"pk_test_{uuid.uuid4().hex[:16]}"
    with _connect(admin_url) as conn:
        _create_database(conn, name)
    return _with_database(admin_url, name)


def drop_database(url: str, admin_url: str | None = None) -> None:
    """Drop the database named by ``url``, terminating any sessions still using it.

    The statement is issued from ``admin_url``'s database when given, otherwise
    from the ``postgres`` database of the same server.
    """
    name = _database_of(url)
    via = admin_url if admin_url is not None else _with_database(url, "postgres")
    if _database_of(via) == name:
        raise ValueError(f"cannot drop {name!r} while connected to it")
    with _connect(via) as conn:
        statement = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
        if conn.info.server_version >= 130000:
            statement = sql.SQL("{} WITH (FORCE)").format(statement)
        conn.execute(statement)


# ------------------------------------------------------------------------ binaries


def _version_key(bindir: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> (15,) or (9, 6)
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))


def find_postgres_bindir() -> Path | None:
    """Directory holding ``initdb`` and ``pg_ctl``: Debian's newest, else from PATH."""
    candidates = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    for bindir in sorted(candidates, key=_version_key, reverse=True):
        if os.access(bindir / "initdb", os.X_OK) and os.access(bindir / "pg_ctl", os.X_OK):
            return bindir
    initdb = shutil.which("initdb")
    if initdb is not None:
        bindir = Path(initdb).resolve().parent
        if os.access(bindir / "pg_ctl", os.X_OK):
            return bindir
    return None


# -------------------------------------------------------------------------- server


@dataclass(frozen=True)
class _RunAs:
    """Who runs initdb/pg_ctl: ``None`` ids mean the current user."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_current_process(cls) -> _RunAs:
        if os.geteuid() != 0:
            return cls()
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailableError(
                "running as root but there is no 'postgres' system user to run "
                "PostgreSQL as; install Debian's postgresql package "
                "(apt-get install postgresql)"
            ) from None
        return cls(entry.pw_uid, entry.pw_gid)

    def run(self, args: Sequence[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(arg) for arg in args],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            timeout=_COMMAND_TIMEOUT,
            user=self.uid,
            group=self.gid,
            # Drop root's supplementary groups along with its uid/gid.
            extra_groups=None if self.uid is None else [],
        )

    def chown(self, path: Path) -> None:
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)

    def check_traversable(self, path: Path) -> None:
        """Fail early, with a clear message, if the user cannot reach ``path``."""
        if self.uid is None:
            return
        for parent in path.resolve().parents:
            try:
                st = parent.stat()
            except FileNotFoundError:
                continue  # created below by mkdir(parents=True), mode 0o777 & ~umask
            if st.st_uid == self.uid:
                bit = stat.S_IXUSR
            elif st.st_gid == self.gid:
                bit = stat.S_IXGRP
            else:
                bit = stat.S_IXOTH
            if not st.st_mode & bit:
                raise RuntimeError(
                    f"the postgres user cannot traverse {parent} (mode "
                    f"{stat.filemode(st.st_mode)}); put the PostgreSQL work directory "
                    f"somewhere it can reach, e.g. tempfile.mkdtemp() under /tmp"
                )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _describe_failure(what: str, result: subprocess.CompletedProcess[str], log: Path) -> str:
    parts = [f"{what} failed with exit status {result.returncode}"]
    for label, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        if text.strip():
            parts.append(f"--- {label}\n{text.strip()}")
    with contextlib.suppress(OSError):
        tail = log.read_text(errors="replace").strip().splitlines()[-20:]
        if tail:
            parts.append(f"--- {log}\n" + "\n".join(tail))
    return "\n".join(parts)


@dataclass
class PostgresServer:
    """A private PostgreSQL server started by :func:`start_postgres`."""

    workdir: Path
    bindir: Path
    port: int
    run_as: _RunAs
    url: str = field(init=False)
    _stopped: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.url = f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self.port}/{TEST_DATABASE}"

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    @property
    def admin_url(self) -> str:
        """URL of the ``postgres`` maintenance database on this server."""
        return _with_database(self.url, "postgres")

    def stop(self) -> None:
        """Stop the server immediately and remove its work directory. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if (self.datadir / "postmaster.pid").exists():
                self.run_as.run(
                    [self.bindir / "pg_ctl", "stop", "-D", self.datadir, "-m", "immediate", "-w"],
                    cwd=self.workdir,
                )
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_postgres(workdir: Path) -> PostgresServer:
    """Initialise and start a PostgreSQL server in ``workdir`` (cluster in ``workdir/data``).

    Creates the database ``pipeline_kit_test``; the result's ``url`` points at it.
    As root, ``workdir`` is chowned to the ``postgres`` user, which must be able to
    traverse all of its parents. Raises :class:`PostgresUnavailableError` when no
    PostgreSQL binaries are installed, ``RuntimeError`` when the server won't start.
    """
    bindir = find_postgres_bindir()
    if bindir is None:
        raise PostgresUnavailableError(
            "no PostgreSQL server binaries (initdb, pg_ctl) found; "
            "install Debian's postgresql package (apt-get install postgresql)"
        )
    run_as = _RunAs.for_current_process()

    run_as.check_traversable(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    run_as.chown(workdir)
    socketdir = workdir / "socket"
    socketdir.mkdir(exist_ok=True)
    run_as.chown(socketdir)
    datadir = workdir / "data"
    log = workdir / "postgres.log"

    initdb: list[str | Path] = [
        bindir / "initdb",
        "-D",
        datadir,
        "-U",
        SUPERUSER,
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
    ]
    help_text = run_as.run([bindir / "initdb", "--help"], cwd=workdir).stdout
    for option in ("--no-sync", "--no-instructions"):
        if option in help_text:
            initdb.append(option)
    result = run_as.run(initdb, cwd=workdir)
    if result.returncode != 0:
        raise RuntimeError(_describe_failure("initdb", result, log))

    # The port is only known free at the time we looked; retry if someone took it.
    last_failure = ""
    for _attempt in range(3):
        server = PostgresServer(workdir=workdir, bindir=bindir, port=_free_port(), run_as=run_as)
        options = (
            f"-h {HOST} -p {server.port} -k {shlex.quote(str(socketdir))} -F "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        # -l sends the server's output to a file; without it the server would
        # inherit our capture pipes and subprocess.run would never return.
        result = run_as.run(
            [bindir / "pg_ctl", "start", "-w", "-t", "60", "-D", datadir, "-l", log, "-o", options],
            cwd=workdir,
        )
        if result.returncode == 0:
            break
        last_failure = _describe_failure("pg_ctl start", result, log)
        if (datadir / "postmaster.pid").exists():
            run_as.run([bindir / "pg_ctl", "stop", "-D", datadir, "-m", "immediate"], cwd=workdir)
    else:
        raise RuntimeError(last_failure)

    try:
        with _connect(server.admin_url) as conn:
            _create_database(conn, TEST_DATABASE)
    except BaseException:
        server.stop()
        raise
    return server


# ------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL server for the whole session.

    ``$PIPELINE_KIT_TEST_POSTGRES`` when set and reachable, otherwise a private server
    started here (once) and stopped at the end of the session.
    """
    configured = os.environ.get(ENV_VAR, "").strip()
    if configured:
        if reachable(configured):
            yield configured
            return
        print(  # shown with the test output if something fails later
            f"{ENV_VAR}={make_url(configured)!r} is not reachable; "
            "starting a private PostgreSQL server instead",
            file=sys.stderr,
        )

    if find_postgres_bindir() is None:
        pytest.fail(
            "PostgreSQL is required for the test suite but initdb/pg_ctl were not found: "
            f"install Debian's postgresql package (apt-get install postgresql) or set {ENV_VAR}",
            pytrace=False,
        )
    # Directly under /tmp (not pytest's tmp_path, not $TMPDIR): as root the postgres
    # user must traverse every parent, and the Unix socket path must stay short.
    workdir = Path(tempfile.mkdtemp(prefix="pk-pg-", dir="/tmp" if Path("/tmp").is_dir() else None))
    started = time.monotonic()
    try:
        server = start_postgres(workdir)
    except (PostgresUnavailableError, RuntimeError, OSError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL for the tests: {exc}", pytrace=False)
    atexit.register(server.stop)  # in case the session dies before teardown
    print(
        f"started PostgreSQL in {time.monotonic() - started:.2f}s at {server.url}",
        file=sys.stderr,
    )
    try:
        yield server.url
    finally:
        server.stop()
        atexit.unregister(server.stop)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """SQLAlchemy URL of a new, empty database, dropped after the test."""
    url = fresh_database(postgres_server_url)
    try:
        yield url
    finally:
        drop_database(url, admin_url=postgres_server_url)
