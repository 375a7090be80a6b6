"""GitHub feedback from the CLI, against the contract server: statuses, deployments, checks."""

from __future__ import annotations

import json
from pathlib import Path

import git
import pytest

from pipeline_kit.github import feedback
from pipeline_kit.http_retry import Clock
from tests.conftest import CLI, add_webapp
from tests.support.github_server import GitHubContractServer

STATUSES = "/repos/{owner}/{repo}/statuses/{sha}"
CHECK_RUNS = "/repos/{owner}/{repo}/check-runs"
CHECK_RUN = "/repos/{owner}/{repo}/check-runs/{check_run_id}"
COMMENTS = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
DEPLOYMENTS = "/repos/{owner}/{repo}/deployments"
HEAD = "f" * 40


@pytest.fixture
def shas(project: Path) -> dict[str, str]:
    """The project is a git repository with release tags v1.0.0 … v1.2.0; version → commit."""
    repo = git.Repo.init(project)
    with repo.config_writer() as config:
        config.set_value("user", "name", "Release Bot")
        config.set_value("user", "email", "bot@example.com")
    found = {}
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        (project / "CHANGES").write_text(version)
        repo.git.add(A=True)
        repo.index.commit(version)
        repo.create_tag(f"v{version}")
        found[version] = repo.head.commit.hexsha
    repo.close()
    return found


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the feedback's GitHub client asks for (recorded, not slept)."""
    asked: list[float] = []
    monkeypatch.setattr(feedback, "CLOCK", Clock(sleep=asked.append))
    return asked


@pytest.fixture
def github(
    project: Path,
    github_server: GitHubContractServer,
    monkeypatch: pytest.MonkeyPatch,
    waits: list[float],
) -> GitHubContractServer:
    """The environment of a GitHub Actions job whose API is the contract server."""
    monkeypatch.setenv("GITHUB_TOKEN", github_server.expected_token)
    monkeypatch.setenv("GITHUB_REPOSITORY", github_server.repository)
    monkeypatch.setenv("GITHUB_API_URL", github_server.url)
    monkeypatch.setenv("GITHUB_SHA", HEAD)
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    return github_server


def _webapp(cli: CLI) -> None:
    result = add_webapp(cli, "1.0.0")
    assert result.code == 0, result.err
    result = cli("endpoint", "add", "web", "--service", "webapp", "--port", "8080", "--stage", "qa")
    assert result.code == 0, result.err


def test_promote_posts_statuses_deployments_and_a_check_run(
    shas: dict[str, str], github: GitHubContractServer, cli: CLI
) -> None:
    _webapp(cli)
    result = cli("promote", "webapp", "1.1.0", "--to", "qa")
    assert result.code == 0, result.err
    assert "warning" not in result.err
    posted = {s["body"]["context"]: (s["sha"], s["body"]["state"]) for s in github.statuses}
    assert posted == {
        "pipeline-kit/qa": (shas["1.0.0"], "success"),
        "pipeline-kit/dev": (shas["1.1.0"], "success"),
    }
    environments = {d["body"]["environment"]: d for d in github.deployments.values()}
    assert set(environments) == {"qa", "dev"}
    qa = environments["qa"]
    assert qa["body"]["ref"] == shas["1.0.0"]
    (status,) = qa["statuses"]
    assert status["state"] == "success"
    assert status["environment_url"] == "http://localhost:8080"
    assert "environment_url" not in environments["dev"]["statuses"][0]
    (run,) = github.check_runs.values()
    assert run["body"]["head_sha"] == HEAD
    assert run["body"]["conclusion"] == "success"
    assert run["body"]["details_url"].endswith("/octo-org/webapp/actions/runs/4242")
    text = run["body"]["output"]["summary"]  # the stages, before → after, drawn by GitHub
    assert '```mermaid\nflowchart LR\n  s0["dev<br/>1.0.0 → 1.1.0"]' in text
    assert '  s1["qa<br/>1.0.0"]\n  s2["prod<br/>1.0.0"]\n  s0 --> s1 --> s2' in text


def test_refused_promote_reports_failure_and_deploys_nothing(
    shas: dict[str, str], github: GitHubContractServer, cli: CLI
) -> None:
    _webapp(cli)
    assert cli("reject", "webapp", "1.0.0", "--reason", "broken").code == 0
    result = cli("promote", "webapp", "1.1.0", "--to", "qa")
    assert result.code == 1
    states = {s["body"]["context"]: s["body"]["state"] for s in github.statuses}
    assert states == {"pipeline-kit/qa": "failure", "pipeline-kit/dev": "success"}
    assert github.deployments == {}
    (run,) = github.check_runs.values()
    assert run["body"]["conclusion"] == "failure"
    (note,) = run["annotations"]
    assert "rejected: broken" in note["message"] and note["annotation_level"] == "failure"


def test_check_on_a_pull_request_annotates_every_violation_and_upserts_one_comment(
    project: Path,
    github: GitHubContractServer,
    cli: CLI,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assert cli("init").code == 0
    for n in range(60):
        assert (
            cli("service", "add", f"svc-{n}", "--image", "ex/app", "--version", "1.0.0").code == 0
        )
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    github.add_comment(7, "looks good to me")
    (project / "proposed.toml").write_text('stages = ["prod", "qa", "dev"]\nmin_stacks = 2\n')
    first = cli("check", "--config", "proposed.toml")
    assert first.code == 1
    (run,) = github.check_runs.values()
    assert len(run["annotations"]) == 60
    assert len(github.requests_to("PATCH", CHECK_RUN)) == 1  # 50 in the create, 10 in an update
    assert {a["path"] for a in run["annotations"]} == {"proposed.toml"}
    assert {a["start_line"] for a in run["annotations"]} == {2}
    second = cli("check", "--config", "proposed.toml")
    assert second.code == 1
    comments = github.comments[7]
    assert len(comments) == 2  # someone else's, and ours, edited in place
    assert len(github.requests_to("POST", COMMENTS)) == 1
    assert "min_stacks is 2" in comments[1]["body"]


def test_rate_limits_and_server_errors_are_retried(
    shas: dict[str, str], github: GitHubContractServer, cli: CLI, waits: list[float]
) -> None:
    _webapp(cli)
    github.fail_next(
        "POST",
        STATUSES,
        403,
        {"message": "You have exceeded a secondary rate limit. Please wait."},
        {"Retry-After": "1"},
    )
    github.fail_next("POST", CHECK_RUNS, 500)
    result = cli("promote", "webapp", "1.1.0", "--to", "qa")
    assert result.code == 0, result.err
    assert "warning" not in result.err
    assert len(github.statuses) == 2
    assert len(github.requests_to("POST", STATUSES)) == 3
    assert len(github.check_runs) == 1 and len(github.requests_to("POST", CHECK_RUNS)) == 2
    assert waits == [1.0, 1.0]  # the Retry-After of the rate limit, then the 500's backoff


def test_missing_permission_is_one_warning_and_never_fails_the_promotion(
    shas: dict[str, str], github: GitHubContractServer, cli: CLI
) -> None:
    _webapp(cli)
    refusal = {"message": "Resource not accessible by integration"}
    github.fail_next(
        "POST", DEPLOYMENTS, 403, refusal, {"X-Accepted-GitHub-Permissions": "deployments=write"},
        times=2,
    )  # fmt: skip
    result = cli("promote", "webapp", "1.1.0", "--to", "qa")
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2  # one per stage's deployment
    assert all("the token needs deployments: write" in w for w in warnings)
    states = json.loads(cli("show", "services", "--json").out)[0]["stages"]
    assert states["dev"] == "1.1.0"
    github.fail_next(
        "POST", STATUSES, 403, refusal, {"X-Accepted-GitHub-Permissions": "statuses=write"},
        times=2,
    )  # fmt: skip
    strict = cli("promote", "webapp", "1.2.0", "--to", "qa", "--strict-feedback")
    assert strict.code == 3
    assert "statuses: write" in strict.err
    assert json.loads(cli("show", "services", "--json").out)[0]["stages"]["dev"] == "1.2.0"


def test_the_token_appears_nowhere(
    shas: dict[str, str],
    github: GitHubContractServer,
    cli: CLI,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = github.expected_token
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    _webapp(cli)
    github.fail_next("POST", STATUSES, 401, {"message": f"Bad credentials {token}"}, times=9)
    seen = [cli("promote", "webapp", "1.1.0", "--to", "qa", "--junit-dir", "reports")]
    seen.append(cli("promote", "webapp", "9.9.9", "--to", "prod", "--junit-dir", "reports"))
    seen.append(cli("state", "export", str(tmp_path / "state.json")))
    texts = [r.out + r.err for r in seen]
    texts += [p.read_text() for p in (project / "reports").glob("*.xml")]
    texts += [summary.read_text(), outputs.read_text(), (tmp_path / "state.json").read_text()]
    texts += [p.read_text() for p in project.rglob("*.log")]
    texts += [r.body for r in github.requests]
    assert "401" in seen[0].err  # the failure is reported …
    assert all(token not in text for text in texts)  # … and the token nowhere
    headers = [h for r in github.requests for h in r.headers.values()]
    assert f"Bearer {token}" in headers
