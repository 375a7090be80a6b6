"""``release``: a real git tag built, pushed to a real registry and promoted on a real engine."""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import git
import pytest
import requests

from pipeline_kit.cli.main import main
from pipeline_kit.config import Registry
from pipeline_kit.registry import RegistryClient
from tests.conftest import CLI, Result
from tests.support.images import webapp_context
from tests.support.webhook import receiver

CONFIG = """\
stages = ["prod", "qa", "dev"]
health_timeout = "20s"
ports = "21000-28999"

[registry]
url = "{registry}"
insecure = true

[release]
service = "webapp"

[[hosts]]
name = "local"
url = "{engine}"
"""


def commit_and_tag(repo: git.Repo, tag: str | None, message: str = "change") -> str:
    repo.git.add(A=True)
    repo.index.commit(message)
    if tag:
        repo.create_tag(tag)
    return repo.head.commit.hexsha


def make_checkout(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    docker_url: str,
    registry_url: str,
    docker_client: docker.DockerClient,
) -> git.Repo:
    """A git repository of examples/webapp with its config under ``root``, entered."""
    folder = webapp_context(root / "webapp")
    (folder / "pipeline-kit.toml").write_text(
        CONFIG.format(registry=registry_url, engine=docker_url)
    )
    repo = git.Repo.init(folder)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Release Bot")
        config.set_value("user", "email", "bot@example.com")
    repo.create_remote("origin", "https://bot:s3cret@git.example.com/team/webapp.git")
    commit_and_tag(repo, None, "webapp")
    remove_containers(docker_client)
    # Each checkout releases into a repository of its own in the shared registry.
    enter(monkeypatch, folder, f"t/{uuid.uuid4().hex[:12]}")
    return repo


def enter(monkeypatch: pytest.MonkeyPatch, folder: Path, image: str) -> None:
    """Work in ``folder``: its config, its state database (beside it) and its image."""
    monkeypatch.chdir(folder)
    for key in ("GITHUB_REF", "TAG_NAME", "GITHUB_ACTIONS", "PIPELINE_KIT_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PIPELINE_KIT_DB", f"sqlite:///{folder.parent / 'state.db'}")
    monkeypatch.setenv("PIPELINE_KIT_RELEASE__IMAGE", image)


def remove_containers(docker_client: docker.DockerClient) -> None:
    for c in docker_client.containers.list(all=True, filters={"label": "io.pipeline-kit.service"}):
        c.remove(force=True)


@pytest.fixture
def checkout(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    docker_url: str,
    registry_url: str,
    docker_client: docker.DockerClient,
) -> git.Repo:
    """A git repository of examples/webapp with its config; the working directory."""
    return make_checkout(tmp_path, monkeypatch, docker_url, registry_url, docker_client)


def registry_tags(registry_url: str, image: str) -> list[str]:
    with RegistryClient(Registry(registry_url, insecure=True)) as client:
        return client.tags(image)


def first_release(cli: CLI, image: str) -> None:
    """Release v1.0.0 without promoting, then put the service in every stage."""
    result = cli("release", "--tag", "v1.0.0", "--no-promote")
    assert result.code == 0, result.err
    added = cli("service", "add", "webapp", "--image", image, "--version", "1.0.0")
    assert added.code == 0, added.err


def errors(err: str) -> int:
    """How many error lines (build and push progress lines share stderr)."""
    return sum(1 for line in err.splitlines() if line.startswith("error:"))


def serving(cli: CLI) -> dict[str, str]:
    shown = json.loads(cli("show", "containers", "--json").out)[0]
    return {
        c["stage"]: requests.get(f"http://{c['address']}/", timeout=5).text.strip()
        for c in shown["stacks"][0]["containers"]
    }


def call(*args: str) -> Result:
    """Run ``pipeline-kit ARGS`` in-process outside a test (no ``capsys``): code, out, err."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return Result(code, out.getvalue(), err.getvalue())


@dataclass(frozen=True)
class Released:
    """A checkout where v1.0.0 runs in prod and qa and v1.1.0, released at HEAD, in dev.

    After the v1.1.0 release two more commits were made: one tagged v2.0.0, then HEAD,
    tagged v1.0.5 (lower than dev runs).
    """

    folder: Path
    image: str
    sha: str  # the commit tagged v1.1.0
    release: Result  # `pipeline-kit release` of v1.1.0, the tag at HEAD then


@pytest.fixture(scope="class")
def prepared(
    tmp_path_factory: pytest.TempPathFactory,
    docker_url: str,
    registry_url: str,
    docker_client: docker.DockerClient,
) -> Iterator[Released]:
    """Two real releases, built, pushed and promoted once for every test of a class."""
    root = tmp_path_factory.mktemp("released")
    with pytest.MonkeyPatch.context() as monkeypatch:
        repo = make_checkout(root, monkeypatch, docker_url, registry_url, docker_client)
        image = os.environ["PIPELINE_KIT_RELEASE__IMAGE"]
        commit_and_tag(repo, "v1.0.0")
        first_release(call, image)
        (Path(repo.working_dir) / "CHANGES").write_text("1.1.0\n")
        sha = commit_and_tag(repo, "v1.1.0")
        release = call("release")  # the tag at HEAD
        assert release.code == 0, release.err
        (Path(repo.working_dir) / "CHANGES").write_text("next\n")
        commit_and_tag(repo, "v2.0.0")
        (Path(repo.working_dir) / "CHANGES").write_text("later\n")
        commit_and_tag(repo, "v1.0.5")
    yield Released(Path(repo.working_dir), image, sha, release)
    remove_containers(docker_client)


@pytest.fixture
def released(prepared: Released, monkeypatch: pytest.MonkeyPatch) -> Released:
    """The shared checkout of :func:`prepared`, entered; a test must leave it as it was."""
    enter(monkeypatch, prepared.folder, prepared.image)
    return prepared


class TestAfterTwoReleases:
    """What a release did, and what it refuses, on one checkout released twice."""

    def test_release_builds_pushes_and_promotes_into_dev(
        self,
        released: Released,
        cli: CLI,
        registry_url: str,
        docker_client: docker.DockerClient,
    ) -> None:
        image, result = released.image, released.release
        assert result.code == 0, result.err
        assert f"pushed {registry_url}/{image}:1.1.0 (sha256:" in result.out
        assert registry_tags(registry_url, image) == ["1.0.0", "1.1.0"]
        labels = docker_client.images.get(f"{registry_url}/{image}:1.1.0").labels
        assert labels["org.opencontainers.image.version"] == "1.1.0"
        assert labels["org.opencontainers.image.revision"] == released.sha
        assert (
            labels["org.opencontainers.image.source"] == "https://git.example.com/team/webapp.git"
        )
        assert "org.opencontainers.image.created" in labels
        assert labels["org.opencontainers.image.authors"] == "Release Bot <bot@example.com>"
        history = json.loads(cli("show", "history", "--service", "webapp", "--json").out)
        assert history[-1]["args"]["author"] == "Release Bot <bot@example.com>"
        assert serving(cli) == {
            "prod": "webapp 1.0.0",
            "qa": "webapp 1.0.0",
            "dev": "webapp 1.1.0",
        }
        upstream = cli("upstream", "webapp", "--json")
        assert upstream.code == 0, upstream.err
        assert [(u["version"], u["stages"]) for u in json.loads(upstream.out)] == [
            ("1.0.0", ["prod", "qa"]),
            ("1.1.0", ["dev"]),
        ]

    @pytest.mark.parametrize(
        ("tag", "code", "message"),
        [
            ("v1.2", 2, "invalid tag"),
            ("latest", 2, "invalid tag"),
            ("v1.2.3;rm -rf /", 2, "invalid tag"),
            ("v1.0.5", 1, "dev already runs 1.1.0"),
            ("v2.0.0", 2, "points at"),
        ],
    )
    def test_bad_tags_build_and_push_nothing(
        self,
        released: Released,
        cli: CLI,
        snapshot: Callable[[], str],
        registry_url: str,
        docker_client: docker.DockerClient,
        tag: str,
        code: int,
        message: str,
    ) -> None:
        before, images = snapshot(), len(docker_client.images.list())
        tags = registry_tags(registry_url, released.image)
        result = cli("release", "--tag", tag)
        assert result.code == code, result.err
        assert message in result.err
        assert result.err.count("\n") == 1
        assert snapshot() == before
        assert registry_tags(registry_url, released.image) == tags
        assert len(docker_client.images.list()) == images


def test_the_same_tag_again_is_a_no_op(
    checkout: git.Repo, cli: CLI, snapshot: Callable[[], str], registry_url: str
) -> None:
    image = _image()
    commit_and_tag(checkout, "v1.0.0")
    first_release(cli, image)
    before = snapshot()
    again = cli("release", "--tag", "v1.0.0", "--no-promote")
    assert again.code == 0, again.err
    assert "already in the registry with the same content" in again.out
    assert snapshot() == before


def test_a_pushed_version_is_immutable_unless_forced(
    checkout: git.Repo, cli: CLI, registry_url: str
) -> None:
    image = _image()
    commit_and_tag(checkout, "v1.0.0")
    assert cli("release", "--no-promote").code == 0
    with RegistryClient(Registry(registry_url, insecure=True)) as client:
        digest = client.digest(image, "1.0.0")
    (Path(checkout.working_dir) / "app.sh").write_text("#!/bin/sh\nexec httpd -f -p $PORT\n")
    commit_and_tag(checkout, None)
    checkout.delete_tag(checkout.tags["v1.0.0"])
    checkout.create_tag("v1.0.0")
    refused = cli("release", "--no-promote")
    assert refused.code == 1
    assert "releases are immutable" in refused.err
    assert errors(refused.err) == 1
    with RegistryClient(Registry(registry_url, insecure=True)) as client:
        assert client.digest(image, "1.0.0") == digest
    forced = cli("release", "--no-promote", "--force")
    assert forced.code == 0, forced.err
    with RegistryClient(Registry(registry_url, insecure=True)) as client:
        assert client.digest(image, "1.0.0") != digest


def test_a_build_error_in_the_stream_is_exit_3(
    checkout: git.Repo, cli: CLI, registry_url: str
) -> None:
    image = _image()
    dockerfile = Path(checkout.working_dir) / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text() + 'RUN ["/bin/sh", "-c", "exit 7"]\n')
    commit_and_tag(checkout, "v1.0.0")
    result = cli("release", "--no-promote")
    assert result.code == 3
    assert "docker build of" in result.err
    assert errors(result.err) == 1
    assert registry_tags(registry_url, image) == []


def _image() -> str:
    return os.environ["PIPELINE_KIT_RELEASE__IMAGE"]


def test_a_release_notifies_its_promotion_started_and_succeeded(
    checkout: git.Repo, cli: CLI, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _image()
    commit_and_tag(checkout, "v1.0.0")
    first_release(cli, image)
    config = Path(checkout.working_tree_dir or ".") / "pipeline-kit.toml"
    config.write_text(config.read_text() + '\n[notify]\nwebhook_env = "SHOP_WEBHOOK"\n')
    (Path(checkout.working_tree_dir or ".") / "CHANGES").write_text("1.1.0\n")
    commit_and_tag(checkout, "v1.1.0")
    with receiver() as got:
        monkeypatch.setenv("SHOP_WEBHOOK", got.url)
        result = cli("release", "--tag", "v1.1.0")
    assert result.code == 0, result.err
    assert got.events() == ["started", "succeeded"]
    assert [(b["service"], b["version"], b["stage"]) for b in got.bodies] == [
        ("webapp", "1.1.0", "dev"),
        ("webapp", "1.1.0", "dev"),
    ]
    assert "warning" not in result.err
