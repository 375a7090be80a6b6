"""Shared fixtures: a project folder with a config, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline_kit.cli.main import main
from tests.support.browser import browser  # noqa: F401
from tests.support.docker import busybox_image, docker_client, docker_url  # noqa: F401
from tests.support.github_server import github_server  # noqa: F401
from tests.support.multihost import bed  # noqa: F401
from tests.support.postgres import postgres_server_url, postgres_url  # noqa: F401
from tests.support.registry import registry_factory, registry_url  # noqa: F401

DEFAULT_CONFIG = """\
stages = ["prod", "qa", "dev"]
versions = "non-decreasing"
"""


# What a runner sets that would turn GitHub feedback on or write runner files.
GITHUB_ENV = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "GITHUB_REPOSITORY",
    "GITHUB_SHA",
    "GITHUB_REF",
    "GITHUB_EVENT_PATH",
    "GITHUB_OUTPUT",
    "GITHUB_STEP_SUMMARY",
    "GITHUB_RUN_ID",
    "BUILD_URL",
)


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


CLI = Callable[..., Result]


def add_webapp(cli: CLI, *versions: str, stacks: int = 2) -> Result:
    """``init`` and ``service add webapp`` with ``stacks`` stacks of the given versions."""
    assert cli("init").code == 0
    flags = [part for version in versions for part in ("--version", version)]
    args = ["service", "add", "webapp", "--image", "example/webapp", "--stacks", str(stacks)]
    return cli(*args, *flags)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)],
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh state database URL: SQLite in a temp dir, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    """A project folder with pipeline-kit.toml, made the working directory."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "pipeline-kit.toml").write_text(DEFAULT_CONFIG)
    monkeypatch.chdir(folder)
    for key in ("GITHUB_ACTIONS", "GITHUB_ACTOR", "BUILD_USER_ID", "PIPELINE_KIT_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    for key in GITHUB_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("USER", "tester")
    monkeypatch.setenv("PIPELINE_KIT_DB", db_url)
    return folder


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> CLI:
    """Run ``pipeline-kit ARGS`` in-process; exit code, stdout and stderr."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def snapshot(cli: CLI, tmp_path: Path) -> Callable[[], str]:
    """The exported state as text, to show that a refused command changed nothing."""
    counter = iter(range(10_000))

    def take() -> str:
        path = tmp_path / f"snapshot-{next(counter)}.json"
        result = cli("state", "export", str(path))
        assert result.code == 0, result.err
        return path.read_text()

    return take
