"""End to end: the example release workflow's jobs, run in order as a runner runs them on a
tag push, against the real engine, a real registry and the GitHub contract server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import docker
import git
import pytest
from junitparser import JUnitXml

from tests.support.github_server import GitHubContractServer
from tests.support.images import webapp_context
from tests.support.runner import run_job
from tests.test_release import CONFIG, commit_and_tag

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "examples" / "github" / "release.yml"


@pytest.fixture
def checkout(
    tmp_path: Path, docker_url: str, registry_url: str, docker_client: docker.DockerClient
) -> tuple[git.Repo, str, str]:
    """A webapp repository whose v1.0.0 runs in every stage; (repo, image, state URL)."""
    folder = webapp_context(tmp_path / "webapp")
    image = f"t/{uuid.uuid4().hex[:12]}"
    (folder / "pipeline-kit.toml").write_text(
        CONFIG.format(registry=registry_url, engine=docker_url).replace(
            'service = "webapp"\n', f'service = "webapp"\nimage = "{image}"\n'
        )
    )
    repo = git.Repo.init(folder)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Release Bot")
        config.set_value("user", "email", "bot@example.com")
    commit_and_tag(repo, "v1.0.0", "webapp")
    for c in docker_client.containers.list(all=True, filters={"label": "io.pipeline-kit.service"}):
        c.remove(force=True)
    db = f"sqlite:///{tmp_path / 'state.db'}"
    env = {**_base_env(), "PIPELINE_KIT_DB": db}
    for args in (
        ["init"],
        ["release", "--tag", "v1.0.0", "--no-promote"],
        ["service", "add", "webapp", "--image", image, "--version", "1.0.0", "--stacks", "2"],
        ["endpoint", "add", "web", "--service", "webapp", "--port", "18080", "--stage", "prod"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "pipeline_kit", *args],
            check=False,
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    return repo, image, db


def _base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "DOCKER_HOST")
    return {k: v for k, v in os.environ.items() if k in keep}


def test_release_workflow_on_a_tag_push(
    checkout: tuple[git.Repo, str, str],
    github_server: GitHubContractServer,
    docker_url: str,
    tmp_path: Path,
) -> None:
    repo, _, db = checkout
    workspace = Path(repo.working_dir)
    (workspace / "CHANGES").write_text("1.1.0\n")
    sha = commit_and_tag(repo, "v1.1.0")
    # A runner that has pipeline-kit installed already: the action's install step finds it.
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    (runner_temp / "pipeline-kit").symlink_to(Path(sys.executable).parent.parent)
    env = {
        **_base_env(),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REF": "refs/tags/v1.1.0",
        "GITHUB_REF_NAME": "v1.1.0",
        "GITHUB_REF_TYPE": "tag",
        "GITHUB_SHA": sha,
        "GITHUB_REPOSITORY": github_server.repository,
        "GITHUB_API_URL": github_server.url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "777",
        "GITHUB_TOKEN": github_server.expected_token,
        "GITHUB_ACTOR": "release-bot",
    }
    secrets = {"PIPELINE_KIT_DB": db}
    variables = {"PIPELINE_KIT_HOSTS": f"local={docker_url}"}
    outputs: dict[str, dict[str, str]] = {}
    summaries = []
    for job in ("release", "promote-qa", "promote-prod"):
        for stale in (workspace / "pipeline-kit-reports").glob("*.xml"):
            stale.unlink()
        done = run_job(
            WORKFLOW, job, env, workspace, runner_temp, ROOT, outputs,
            secrets=secrets, vars=variables,
        )  # fmt: skip
        assert done.exit_code == 0, f"{job}: {done.steps[-1].stderr}"
        outputs[job] = done.outputs
        summaries.append(done.summary)
        folder = workspace / "pipeline-kit-reports"
        reports = {p.name: JUnitXml.fromfile(str(p)) for p in folder.glob("*.xml")}
        assert reports, job
        for xml in reports.values():
            (suite,) = list(xml)
            assert suite.failures == 0 and suite.errors == 0 and suite.tests > 0
        if job == "release":
            assert "pipeline-kit-dev.xml" in reports
            names = [case.name for case in next(iter(reports["pipeline-kit-dev.xml"]))]
            assert any(n.startswith("build ") for n in names)
            assert any(n.startswith("health webapp/") for n in names)
    assert outputs["release"] == {"service": "webapp", "version": "1.1.0"}
    assert outputs["promote-qa"] == {"service": "webapp", "version": "1.1.0"}
    # Every stage now runs 1.1.0: its last commit status is on 1.1.0's commit, and success.
    last = {}
    for status in github_server.statuses:
        last[status["body"]["context"]] = (status["sha"], status["body"]["state"])
    assert last == {
        "pipeline-kit/dev": (sha, "success"),
        "pipeline-kit/qa": (sha, "success"),
        "pipeline-kit/prod": (sha, "success"),
    }
    deployments = {
        (d["body"]["environment"], d["body"]["ref"]): d for d in github_server.deployments.values()
    }
    assert {("prod", sha), ("qa", sha), ("dev", sha)} <= set(deployments)
    prod = deployments[("prod", sha)]
    assert prod["body"]["production_environment"] is True
    assert prod["statuses"][-1]["environment_url"] == "http://localhost:18080"
    assert len(github_server.check_runs) == 3
    assert all("✅" in s for s in summaries)
    shown = subprocess.run(
        [sys.executable, "-m", "pipeline_kit", "show", "services", "--json"],
        cwd=workspace,
        env={**_base_env(), "PIPELINE_KIT_DB": db},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(shown.stdout)[0]["stages"] == {"prod": "1.1.0", "qa": "1.1.0", "dev": "1.1.0"}
