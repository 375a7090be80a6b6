"""The first release of a service creates it: ``init`` in a folder with a Dockerfile, a tag,
and one ``pipeline-kit release`` builds, pushes, adds and deploys the service on the real
engine and registry, every stage at the tag's version."""

from __future__ import annotations

import json
import tomllib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import git
import pytest
import requests
from junitparser import JUnitXml

from pipeline_kit import config
from pipeline_kit.config_types import Host, Registry, Release, Runtime, ServiceDecl, Settings
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.policy import Gate, Policy
from pipeline_kit.pipeline import scaffold
from pipeline_kit.pipeline.manage import init, load_state
from pipeline_kit.pipeline.release import Released, release
from pipeline_kit.pipeline.unit import Unit
from pipeline_kit.runtime.build import ProgressEvent
from tests.conftest import CLI, GITHUB_ENV, Result
from tests.support.images import webapp_context
from tests.test_release import call, commit_and_tag, errors, registry_tags

STAGES = ("prod", "qa", "dev")


# -- a checkout of examples/webapp without a config, and its environment -----------------------


def committed(folder: Path, tag: str | None = None) -> git.Repo:
    """A git repository of ``folder``, everything in it committed (and tagged)."""
    repo = git.Repo.init(folder)
    with repo.config_writer() as writer:
        writer.set_value("user", "name", "Release Bot")
        writer.set_value("user", "email", "bot@example.com")
    commit_and_tag(repo, tag, "first")
    return repo


def fresh_checkout(root: Path, name: str) -> git.Repo:
    """A git repository of examples/webapp without its pipeline-kit.toml, in ``root/name``."""
    folder = webapp_context(root / name)
    (folder / "pipeline-kit.toml").unlink(missing_ok=True)
    return committed(folder)


def enter(monkeypatch: pytest.MonkeyPatch, folder: Path, docker_url: str, registry: str) -> None:
    """Work in ``folder`` as a CI job would: the engine, the registry and the state database
    (beside the checkout) come from the environment, the rest from the folder's config."""
    monkeypatch.chdir(folder)
    for key in ("TAG_NAME", "GITHUB_ACTIONS", "PIPELINE_KIT_CONFIG", "PIPELINE_KIT_RELEASE__IMAGE"):
        monkeypatch.delenv(key, raising=False)
    for key in GITHUB_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PIPELINE_KIT_DB", f"sqlite:///{folder.parent / 'state.db'}")
    # The engine as the docker CLI finds it: DOCKER_HOST is the only pointer to it.
    monkeypatch.delenv("PIPELINE_KIT_HOSTS", raising=False)
    monkeypatch.setenv("DOCKER_HOST", docker_url)
    monkeypatch.setenv("PIPELINE_KIT_REGISTRY__URL", registry)
    monkeypatch.setenv("PIPELINE_KIT_REGISTRY__INSECURE", "true")
    monkeypatch.setenv("PIPELINE_KIT_PORTS", "21000-28999")
    monkeypatch.setenv("PIPELINE_KIT_HEALTH_TIMEOUT", "20s")


def initialized(repo: git.Repo, run: Callable[..., Result], tag: str | None) -> str:
    """``pipeline-kit init`` in the checkout, its config committed (and tagged); the name of
    the service it declares."""
    done = run("init")
    assert done.code == 0, done.err
    commit_and_tag(repo, tag, "pipeline-kit init")
    return scaffold.service_name(Path(repo.working_dir))


def remove_service_containers(client: docker.DockerClient, service: str) -> None:
    label = f"io.pipeline-kit.service={service}"
    for c in client.containers.list(all=True, filters={"label": label}):
        c.remove(force=True)


def shown_services(run: Callable[..., Result]) -> list[dict[str, object]]:
    result = run("show", "services", "--json")
    assert result.code == 0, result.err
    found: list[dict[str, object]] = json.loads(result.out)
    return found


def answers(run: Callable[..., Result]) -> list[tuple[int, str, str]]:
    """(stack, stage, the first line a container answers on /) for every container."""
    out = []
    for service in json.loads(run("show", "containers", "--json").out):
        for stack in service["stacks"]:
            for c in stack["containers"]:
                text = requests.get(f"http://{c['address']}/", timeout=5).text
                out.append((stack["index"], c["stage"], text.splitlines()[0]))
    return out


def junit_cases(folder: Path) -> dict[str, dict[str, str]]:
    """Per stage, every testcase's name and outcome, parsed back with junitparser."""
    found = {}
    for path in sorted(folder.glob("pipeline-kit-*.xml")):
        (suite,) = list(JUnitXml.fromfile(str(path)))
        stage = path.stem.removeprefix("pipeline-kit-")
        found[stage] = {
            str(case.name): type(case.result[0]).__name__.lower() if case.result else "passed"
            for case in suite
        }
    return found


def unique(prefix: str) -> str:
    """A folder (and so service and image) name of its own in the shared registry."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- one first release, shared by the tests that only read what it did --------------------------


@dataclass(frozen=True)
class First:
    folder: Path
    name: str  # the service, and its image repository
    release: Result  # `pipeline-kit release` of v0.1.0, the tag at HEAD
    outputs: str  # what it wrote to GITHUB_OUTPUT
    junit: Path


@pytest.fixture(scope="class")
def first(
    tmp_path_factory: pytest.TempPathFactory,
    docker_url: str,
    registry_url: str,
    docker_client: docker.DockerClient,
) -> Iterator[First]:
    """``init``, ``git tag v0.1.0``, ``pipeline-kit release``: once for the tests of a class.

    Afterwards a commit tagged v0.2.0 is made (HEAD), and nothing is released of it.
    """
    root = tmp_path_factory.mktemp("first")
    name = unique("webapp")
    with pytest.MonkeyPatch.context() as monkeypatch:
        repo = fresh_checkout(root, name)
        folder = Path(repo.working_dir)
        enter(monkeypatch, folder, docker_url, registry_url)
        assert initialized(repo, call, "v0.1.0") == name
        monkeypatch.setenv("GITHUB_OUTPUT", str(root / "outputs"))
        done = call("release", "--junit-dir", str(root / "junit"))
        (folder / "CHANGES").write_text("0.2.0\n")
        commit_and_tag(repo, "v0.2.0")
    outputs = (root / "outputs").read_text() if (root / "outputs").exists() else ""
    yield First(folder, name, done, outputs, root / "junit")
    remove_service_containers(docker_client, name)


@pytest.fixture
def released(
    first: First, monkeypatch: pytest.MonkeyPatch, docker_url: str, registry_url: str
) -> First:
    """The checkout of :func:`first`, entered; a test must leave it as it was."""
    enter(monkeypatch, first.folder, docker_url, registry_url)
    return first


class TestFirstRelease:
    def test_init_declares_the_folders_service(self, released: First) -> None:
        text = (released.folder / "pipeline-kit.toml").read_text()
        data = tomllib.loads(text)
        assert data["release"]["service"] == released.name
        assert data["services"] == {released.name: {"image": released.name, "stacks": 1}}
        for example in ("# env =", "# secrets =", "# volumes =", "hooks]]", "checks]]"):
            assert example in text
        settings = config.load()
        declared = settings.declared(released.name)
        assert declared is not None
        assert (declared.image, declared.stacks, declared.hooks) == (released.name, 1, ())
        assert settings.runtime.kind == "docker"
        assert settings.policy.gate(0).prereleases is False

    def test_one_release_creates_and_deploys_the_service(
        self, released: First, cli: CLI, registry_url: str
    ) -> None:
        done, name = released.release, released.name
        assert done.code == 0, done.err
        assert f"pushed {registry_url}/{name}:0.1.0 (sha256:" in done.out
        assert "plan: service add" in done.out
        assert registry_tags(registry_url, name) == ["0.1.0"]
        [service] = shown_services(cli)
        assert service["name"] == name
        assert service["image"] == name
        assert service["stages"] == dict.fromkeys(STAGES, "0.1.0")
        assert answers(cli) == [(0, stage, f"{name} 0.1.0") for stage in STAGES]
        verify = cli("verify")
        assert verify.code == 0, verify.out + verify.err

    def test_it_is_reported_like_a_promotion(self, released: First, registry_url: str) -> None:
        outputs = dict(line.split("=", 1) for line in released.outputs.splitlines() if "=" in line)
        assert outputs["result"] == "passed"
        assert (outputs["service"], outputs["version"], outputs["stage"]) == (
            released.name,
            "0.1.0",
            "dev",
        )
        cases = junit_cases(released.junit)
        assert sorted(cases) == sorted(STAGES)  # every stage is entered
        for stage in STAGES:  # its checks, its container's health, all passed
            assert cases[stage]["constraint version-order"] == "passed"
            assert cases[stage]["gate prerelease"] == "passed"
            assert cases[stage][f"health {released.name}/0 0.1.0"] == "passed"
        reference = f"{registry_url}/{released.name}:0.1.0"
        for name in (f"build {reference}", f"push {reference}", f"plan service add {released.name}",
                     f"apply service add {released.name}"):  # fmt: skip
            assert cases["dev"][name] == "passed"

    @pytest.mark.parametrize(
        ("flags", "planned"),
        [((), ["plan: promote", "dev    0.1.0 → 0.2.0"]), (("--no-promote",), [])],
    )
    def test_a_dry_run_of_the_next_tag_builds_and_changes_nothing(
        self,
        released: First,
        cli: CLI,
        snapshot: Callable[[], str],
        registry_url: str,
        docker_client: docker.DockerClient,
        flags: tuple[str, ...],
        planned: list[str],
    ) -> None:
        before, images = snapshot(), len(docker_client.images.list())
        result = cli("release", "--dry-run", *flags)  # v0.2.0, the tag at HEAD
        assert result.code == 0, result.err
        assert f"would build and push {registry_url}/{released.name}:0.2.0" in result.out
        for line in [*planned, "dry run: nothing changed"]:
            assert line in result.out
        assert snapshot() == before
        assert registry_tags(registry_url, released.name) == ["0.1.0"]
        assert len(docker_client.images.list()) == images


# -- first releases of their own -------------------------------------------------------------


@pytest.fixture
def checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker_url: str, registry_url: str
) -> git.Repo:
    """A checkout of examples/webapp without a config, of a name of its own; entered."""
    repo = fresh_checkout(tmp_path, unique("webapp"))
    enter(monkeypatch, Path(repo.working_dir), docker_url, registry_url)
    return repo


def test_a_dry_run_on_a_fresh_state_plans_the_service_and_changes_nothing(
    checkout: git.Repo,
    cli: CLI,
    snapshot: Callable[[], str],
    registry_url: str,
    docker_client: docker.DockerClient,
) -> None:
    name = initialized(checkout, cli, "v0.1.0")
    before, images = snapshot(), len(docker_client.images.list())
    result = cli("release", "--dry-run")
    assert result.code == 0, result.err
    assert f"would build and push {registry_url}/{name}:0.1.0" in result.out
    assert f"plan: service add name={name} image={name} stacks=1" in result.out
    for stage in STAGES:
        assert f"{stage:<6} - → 0.1.0" in result.out
    assert "dry run: nothing changed" in result.out
    assert snapshot() == before
    assert registry_tags(registry_url, name) == []
    assert len(docker_client.images.list()) == images


def test_a_declaration_of_two_stacks_gives_two_stacks(
    checkout: git.Repo, cli: CLI, docker_client: docker.DockerClient
) -> None:
    name = initialized(checkout, cli, None)
    path = Path(checkout.working_dir) / "pipeline-kit.toml"
    path.write_text(path.read_text().replace("\nstacks = 1 ", "\nstacks = 2 "))
    commit_and_tag(checkout, "v0.1.0", "two stacks")
    try:
        done = cli("release")
        assert done.code == 0, done.err
        [service] = shown_services(cli)
        stacks = service["stacks"]
        assert isinstance(stacks, list)
        assert len(stacks) == 2
        assert service["stages"] == dict.fromkeys(STAGES, "0.1.0")
        expected = [(i, stage, f"{name} 0.1.0") for i in (0, 1) for stage in STAGES]
        assert answers(cli) == expected
    finally:
        remove_service_containers(docker_client, name)


def test_a_pre_release_refused_in_prod_builds_nothing(
    checkout: git.Repo,
    cli: CLI,
    snapshot: Callable[[], str],
    registry_url: str,
    docker_client: docker.DockerClient,
) -> None:
    name = initialized(checkout, cli, "v0.1.0-rc.1")  # init's config: no pre-release in prod
    before, images = snapshot(), len(docker_client.images.list())
    planned = cli("release", "--dry-run")
    assert planned.code == 1
    assert "plan: service add" in planned.out
    assert "refused: 1 violation(s)" in planned.out
    refused = cli("release")
    assert refused.code == 1
    assert "prerelease" in refused.err or "pre-release" in refused.err
    assert errors(refused.err) == 1
    assert snapshot() == before
    assert registry_tags(registry_url, name) == []
    assert len(docker_client.images.list()) == images


CONFIG = """\
stages = ["prod", "qa", "dev"]

[release]
service = "webapp"
"""


@pytest.mark.parametrize("dry_run", [False, True])
def test_no_declaration_and_no_release_image_is_exit_2_and_builds_nothing(
    checkout: git.Repo,
    cli: CLI,
    snapshot: Callable[[], str],
    docker_client: docker.DockerClient,
    dry_run: bool,
) -> None:
    (Path(checkout.working_dir) / "pipeline-kit.toml").write_text(CONFIG)
    commit_and_tag(checkout, "v0.1.0", "config")
    before, images = snapshot(), len(docker_client.images.list())
    result = cli("release", *(["--dry-run"] if dry_run else []))
    assert result.code == 2
    assert result.err.count("\n") == 1
    assert "service 'webapp' is not in the state and nothing says which image" in result.err
    assert "[services.webapp]" in result.err
    assert snapshot() == before
    assert len(docker_client.images.list()) == images


# -- the release's plan, on settings made here (no engine, no registry: a dry run) ---------------


def settings_of(tmp_path: Path, *services: ServiceDecl, image: str | None = None) -> Settings:
    hosts = (Host("a", "unix:///a.sock"), Host("b", "unix:///b.sock"))
    return Settings(
        policy=Policy(STAGES, gates={"prod": Gate(prereleases=False)}),
        database=f"sqlite:///{tmp_path / 'state.db'}",
        runtime=Runtime(kind="none", hosts=hosts),
        lock_timeout=5,
        source=None,
        home=tmp_path,
        registry=Registry("127.0.0.1:5999", insecure=True),  # never reached by a dry run
        release=Release(service="api", image=image),
        services=services,
    )


@pytest.fixture
def tagged(tmp_path: Path) -> Path:
    """A git repository whose HEAD is tagged v1.0.0."""
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "Dockerfile").write_text("FROM scratch\n")
    return Path(committed(tmp_path / "api", "v1.0.0").working_dir)


def dry_release(settings: Settings, repo: Path, to: str | None = None) -> Released:
    def progress(_event: ProgressEvent) -> None:
        raise AssertionError("a dry run builds nothing")

    with Unit(settings) as unit:
        return release(unit, repo, None, to, True, False, progress, environ={}, dry_run=True)


@pytest.mark.parametrize(
    ("declared", "image", "to", "reference", "hosts"),
    [  # no image declared: the service's name; the stacks round-robin over the hosts
        ((ServiceDecl("api", stacks=3),), None, None, "api", ["a", "b", "a"]),
        ((), "team/api", "qa", "team/api", ["a"]),  # no declaration: [release] image
        ((ServiceDecl("api", image="team/api-v2"),), "team/old", None, "team/api-v2", ["a"]),
    ],
)
def test_the_plan_of_a_new_service(
    tmp_path: Path,
    tagged: Path,
    declared: tuple[ServiceDecl, ...],
    image: str | None,
    to: str | None,
    reference: str,
    hosts: list[str],
) -> None:
    settings = settings_of(tmp_path, *declared, image=image)
    done = dry_release(settings, tagged, to)
    assert (done.reference, done.digest) == (f"127.0.0.1:5999/{reference}:1.0.0", None)
    assert done.run.error is None
    assert done.run.outcome is not None
    plan = done.run.outcome.plan
    assert plan.action == "service add"
    service = plan.after.services["api"]
    assert service.image == reference
    assert [s.host for s in service.stacks] == hosts
    assert {s.versions for s in service.stacks} == {("1.0.0",) * 3}
    report = done.run.report
    assert (report.command, report.version, report.target) == ("release", "1.0.0", to or "dev")
    assert report.versions == dict.fromkeys(STAGES, "1.0.0")
    assert not report.applied
    checked = {r.stage for r in report.results if r.kind == "constraint"}
    assert checked == set(STAGES)  # every stage is entered
    assert [r.status for r in report.results if r.kind == "plan"] == ["passed"]
    assert load_state(settings).services == {}


@pytest.mark.parametrize(
    ("declared", "to", "message"),
    [
        ((), None, r"'api' is not in the state and nothing says which image v1\.0\.0 builds"),
        ((ServiceDecl("api"),), "3", "its first release enters the stages prod, qa, dev"),
    ],
)
def test_bad_input_for_a_new_service(
    tmp_path: Path, tagged: Path, declared: tuple[ServiceDecl, ...], to: str | None, message: str
) -> None:
    settings = settings_of(tmp_path, *declared)
    with pytest.raises(InvalidInput, match=message):
        dry_release(settings, tagged, to)
    assert load_state(settings).services == {}


# -- init ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("webapp", "webapp"),
        ("My_Web App", "my-web-app"),
        ("--api--", "api"),
        ("Café.Service", "cafe-service"),
        ("___", scaffold.FALLBACK),
        ("x" * 70, "x" * 63),
        ("a" * 62 + "-b", "a" * 62),
    ],
)
def test_the_service_name_comes_from_the_folder(folder: str, name: str) -> None:
    assert scaffold.service_name(Path("/src") / folder) == name
    data = tomllib.loads(scaffold.render_service_config(name))
    assert data["release"]["service"] == name
    assert data["services"][name] == {"image": name, "stacks": 1}


def test_init_without_a_dockerfile_writes_the_default_config(tmp_path: Path) -> None:
    settings = config.load(tmp_path, environ={})
    init(settings, tmp_path)
    assert (tmp_path / "pipeline-kit.toml").read_text() == config.render_default()
