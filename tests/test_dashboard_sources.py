"""Where the dashboard's facts come from: ``verify`` against a real Docker engine records each
container's health, and a real registry's image labels give the commits and lead times."""

from __future__ import annotations

import json
import re
from pathlib import Path

import docker
import pytest

from tests.conftest import CLI
from tests.support.registry import upload_image
from tests.test_runtime import clean, site, webapp_repository  # noqa: F401

NOW = "2026-12-01T12:00:00Z"


def _ok(cli: CLI, *args: str) -> str:
    result = cli(*args)
    assert result.code == 0, (args, result.err)
    return result.out


def _health(board: str) -> dict[str, str]:
    """stage → the health line of webapp's cell."""
    row = board.split('<tr data-service="webapp">', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r'data-stage="(\w+)">(.*?)</td>', row)
    return {stage: re.search(r"health: ([^<]*)<", html).group(1) for stage, html in cells}  # type: ignore[union-attr]


def test_the_board_shows_the_health_the_last_verify_found(
    site: Path,  # noqa: F811
    cli: CLI,
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    _ok(cli, "service", "add", "webapp", "--image", "webapp", "--version", "1.0.0")
    _ok(cli, "dashboard", "--out", str(tmp_path / "before"), "--now", NOW)
    board = (tmp_path / "before" / "index.html").read_text()
    assert _health(board) == {"prod": "unknown", "qa": "unknown", "dev": "unknown"}
    _ok(cli, "verify")
    _ok(cli, "dashboard", "--out", str(tmp_path / "healthy"), "--now", NOW)
    board = (tmp_path / "healthy" / "index.html").read_text()
    assert _health(board) == {"prod": "healthy", "qa": "healthy", "dev": "healthy"}
    dev = next(
        c
        for c in json.loads(_ok(cli, "show", "containers", "--json"))[0]["stacks"][0]["containers"]
        if c["stage"] == "dev"
    )
    (gone,) = docker_client.containers.list(filters={"label": f"io.pipeline-kit.id={dev['id']}"})
    gone.remove(force=True)
    assert cli("verify").code == 1
    _ok(cli, "dashboard", "--out", str(tmp_path / "after"), "--now", NOW)
    board = (tmp_path / "after" / "index.html").read_text()
    assert _health(board) == {"prod": "healthy", "qa": "healthy", "dev": "missing"}
    page = (tmp_path / "after" / "services" / "webapp.html").read_text()
    assert page.count(">healthy</span>") == 2 and page.count(">missing</span>") == 1


def _labels(version: str, commit: str, created: str) -> dict[str, str]:
    return {
        "org.opencontainers.image.version": version,
        "org.opencontainers.image.revision": commit,
        "org.opencontainers.image.created": created,
        "org.opencontainers.image.source": "https://git.example.com/team/web.git",
    }


@pytest.fixture
def labelled_shop(project: Path, cli: CLI, registry_url: str) -> dict[str, str]:
    """web's versions pushed to a real registry with the labels ``release`` sets."""
    (project / "pipeline-kit.toml").write_text(
        f'stages = ["prod", "qa", "dev"]\n[registry]\nurl = "{registry_url}"\ninsecure = true\n'
    )
    commits = {v: f"{n:x}" * 40 for n, v in enumerate(("1.0.0", "1.1.0", "1.2.0"), start=10)}
    created = {"1.0.0": "2026-11-01T00:00:00Z", "1.1.0": "2026-11-02T00:00:00Z"}
    for version, commit in commits.items():
        stamp = created.get(version, "2026-11-03T00:00:00Z")
        upload_image(registry_url, "dash/web", version, labels=_labels(version, commit, stamp))
    _ok(cli, "init")
    _ok(cli, "service", "add", "web", "--image", "dash/web", "--version", "1.0.0",
        "--version", "1.1.0", "--version", "1.2.0")  # fmt: skip
    _ok(cli, "promote", "web", "--to", "prod")  # 1.1.0 into prod
    return commits


def test_commits_and_lead_time_come_from_the_image_labels(
    labelled_shop: dict[str, str], cli: CLI, tmp_path: Path
) -> None:
    _ok(cli, "dashboard", "--out", str(tmp_path / "site"), "--now", NOW)
    page = (tmp_path / "site" / "services" / "web.html").read_text()
    for version in ("1.1.0", "1.2.0"):
        commit = labelled_shop[version]
        url = f"https://git.example.com/team/web/commit/{commit}"
        assert f'<a href="{url}">{commit[:12]}</a>' in page
    assert "2026-11-02T00:00:00+00:00" in page
    history = json.loads(_ok(cli, "show", "history", "--json"))
    promoted = history[-1]["at"]
    found = json.loads(_ok(cli, "show", "metrics", "web", "--json", "--now", NOW))["overall"]
    from datetime import datetime

    expected = datetime.fromisoformat(promoted) - datetime.fromisoformat(
        "2026-11-02T00:00:00+00:00"
    )
    assert found["lead_time_seconds"] == expected.total_seconds()
    assert found["lead_time_samples"] == 1 and found["deployments"] == 1
