"""The GitHub client against the contract server built from GitHub's OpenAPI description."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

from pipeline_kit.errors import ExternalFailure
from pipeline_kit.github import Annotation, GitHub, GitHubError
from pipeline_kit.http_retry import Clock
from pipeline_kit.model.errors import InvalidInput
from tests.support.github_server import GitHubContractServer

SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
STATUSES = "/repos/{owner}/{repo}/statuses/{sha}"
CHECK_RUNS = "/repos/{owner}/{repo}/check-runs"
CHECK_RUN = "/repos/{owner}/{repo}/check-runs/{check_run_id}"
COMMENTS = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
COMMENT = "/repos/{owner}/{repo}/issues/comments/{comment_id}"
DEPLOYMENTS = "/repos/{owner}/{repo}/deployments"
DEPLOYMENT_STATUSES = "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"
MARKER = "<!-- pipeline-kit:check -->"
SECRET = "ghs_SuperSecretTokenValue0123456789abcdef"  # noqa: S105


class Sleeps:
    """A clock that records the waits instead of sleeping; its ``now`` is the real time."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.clock = Clock(sleep=self.waits.append)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def gh(github_server: GitHubContractServer, sleeps: Sleeps) -> Iterator[GitHub]:
    server = github_server
    with GitHub(server.url, server.expected_token, server.repository, clock=sleeps.clock) as client:
        yield client


@pytest.fixture
def secret_server() -> Iterator[GitHubContractServer]:
    """A contract server that expects the distinctive ``SECRET`` token."""
    server = GitHubContractServer(expected_token=SECRET).start()
    yield server
    server.stop()
    assert server.violations == []


def test_create_status(gh: GitHub, github_server: GitHubContractServer) -> None:
    gh.create_status(SHA, "success", "pipeline-kit/qa", "promoted", "https://ci.example.com/1")
    gh.create_status(SHA, "pending", "pipeline-kit/prod", "x" * 500)
    first, second = github_server.statuses
    assert first["sha"] == SHA
    assert first["body"] == {
        "state": "success",
        "context": "pipeline-kit/qa",
        "description": "promoted",
        "target_url": "https://ci.example.com/1",
    }
    assert "target_url" not in second["body"]
    assert len(second["body"]["description"]) == 140
    assert second["body"]["description"].endswith("…")
    (request,) = github_server.requests_to("POST", STATUSES)[:1]
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert request.headers["User-Agent"].startswith("pipeline-kit/")
    assert request.headers["Authorization"] == f"Bearer {github_server.expected_token}"


def test_invalid_state_is_refused_before_any_request(
    gh: GitHub, github_server: GitHubContractServer
) -> None:
    with pytest.raises(InvalidInput, match="commit status state 'done'"):
        gh.create_status(SHA, "done", "ci", "x")
    assert github_server.requests == []


def test_deployment_and_its_status(gh: GitHub, github_server: GitHubContractServer) -> None:
    deployment_id = gh.create_deployment("v1.4.0", "qa", "webapp 1.4.0 to qa")
    gh.create_deployment_status(
        deployment_id,
        "success",
        "deployed",
        environment_url="https://qa.example.com",
        log_url="https://ci.example.com/42",
    )
    deployment = github_server.deployments[deployment_id]
    assert deployment["body"] == {
        "ref": "v1.4.0",
        "environment": "qa",
        "description": "webapp 1.4.0 to qa",
        "auto_merge": False,
        "required_contexts": [],
        "production_environment": False,
        "transient_environment": False,
    }
    assert deployment["statuses"] == [
        {
            "state": "success",
            "description": "deployed",
            "environment_url": "https://qa.example.com",
            "log_url": "https://ci.example.com/42",
        }
    ]


def test_production_deployment_flags(gh: GitHub, github_server: GitHubContractServer) -> None:
    deployment_id = gh.create_deployment(SHA, "prod", "d", production=True, transient=True)
    body = github_server.deployments[deployment_id]["body"]
    assert body["production_environment"] is True
    assert body["transient_environment"] is True
    gh.create_deployment_status(deployment_id, "in_progress", "starting")
    assert github_server.deployments[deployment_id]["statuses"][0] == {
        "state": "in_progress",
        "description": "starting",
    }


def test_status_of_unknown_deployment_is_an_error(gh: GitHub) -> None:
    with pytest.raises(GitHubError, match="404 Not Found") as caught:
        gh.create_deployment_status(999_999, "success", "x")
    assert caught.value.status == 404


def test_check_run_with_120_annotations(gh: GitHub, github_server: GitHubContractServer) -> None:
    annotations = [
        Annotation(f"src/m{i}.py", i + 1, i + 2, "warning", f"issue {i}", title=f"t{i}")
        for i in range(120)
    ]
    run_id = gh.create_check_run(
        "pipeline-kit",
        SHA,
        conclusion="failure",
        title="3 constraints broken",
        summary="**summary**",
        annotations=annotations,
        details_url="https://ci.example.com/7",
    )
    assert len(github_server.requests_to("POST", CHECK_RUNS)) == 1
    assert len(github_server.requests_to("PATCH", CHECK_RUN)) == 2
    run = github_server.check_runs[run_id]
    assert run["body"]["status"] == "completed"
    assert run["body"]["conclusion"] == "failure"
    assert run["body"]["details_url"] == "https://ci.example.com/7"
    sizes = [len(run["body"]["output"]["annotations"])]
    sizes += [len(patch["output"]["annotations"]) for patch in run["patches"]]
    assert sizes == [50, 50, 20]
    for patch in run["patches"]:
        assert patch["output"]["title"] == "3 constraints broken"
        assert patch["output"]["summary"] == "**summary**"
    assert [note["message"] for note in run["annotations"]] == [f"issue {i}" for i in range(120)]
    assert run["annotations"][0] == {
        "path": "src/m0.py",
        "start_line": 1,
        "end_line": 2,
        "annotation_level": "warning",
        "message": "issue 0",
        "title": "t0",
    }


def test_check_run_without_annotations_and_long_texts(
    gh: GitHub, github_server: GitHubContractServer
) -> None:
    run_id = gh.create_check_run(
        "pipeline-kit",
        SHA,
        conclusion="success",
        title="ok",
        summary="s" * 70_000,
        annotations=[Annotation("a.py", 3, 3, "notice", "é" * 40_000, title="t" * 300)],
    )
    run = github_server.check_runs[run_id]
    assert run["patches"] == []
    assert len(run["body"]["output"]["summary"]) == 65535
    (note,) = run["annotations"]
    assert len(note["message"].encode()) <= 64 * 1024
    assert len(note["title"]) == 255


def test_annotation_lines_are_checked() -> None:
    with pytest.raises(InvalidInput):
        Annotation("a.py", 5, 4, "failure", "backwards")
    with pytest.raises(InvalidInput):
        Annotation("a.py", 0, 1, "failure", "line zero")


def test_comment_upsert_creates_then_edits(gh: GitHub, github_server: GitHubContractServer) -> None:
    first_id, created = gh.upsert_comment(12, MARKER, f"{MARKER}\nplan: 2 changes")
    assert created is True
    second_id, created = gh.upsert_comment(12, MARKER, f"{MARKER}\nplan: 3 changes")
    assert (second_id, created) == (first_id, False)
    assert github_server.comments[12] == [{"id": first_id, "body": f"{MARKER}\nplan: 3 changes"}]
    assert len(github_server.requests_to("POST", COMMENTS)) == 1
    assert len(github_server.requests_to("PATCH", COMMENT)) == 1


def test_comment_upsert_pages_through_other_comments(
    gh: GitHub, github_server: GitHubContractServer
) -> None:
    for i in range(150):
        github_server.add_comment(7, f"comment {i}")
    comment_id, created = gh.upsert_comment(7, MARKER, "plan: none")
    assert created is True
    assert github_server.comments[7][-1] == {"id": comment_id, "body": f"{MARKER}\nplan: none"}
    github_server.add_comment(7, "a later comment")
    assert gh.upsert_comment(7, MARKER, "plan: 1 change") == (comment_id, False)
    assert len(github_server.comments[7]) == 152
    assert github_server.comments[7][150]["body"] == f"{MARKER}\nplan: 1 change"
    pages = [
        parse_qs(urlsplit(request.path).query)
        for request in github_server.requests_to("GET", COMMENTS)
    ]
    assert pages == [{"per_page": ["100"]}, {"per_page": ["100"], "page": ["2"]}] * 2


def test_comment_body_is_cut_but_keeps_its_marker(
    gh: GitHub, github_server: GitHubContractServer
) -> None:
    comment_id, _ = gh.upsert_comment(3, MARKER, "x" * 70_000 + MARKER)
    (comment,) = github_server.comments[3]
    assert len(comment["body"]) == 65536
    assert comment["body"].startswith(MARKER)
    assert gh.upsert_comment(3, MARKER, "short") == (comment_id, False)


def test_next_page_link_to_another_host_is_not_followed(
    gh: GitHub, github_server: GitHubContractServer
) -> None:
    link = '<https://evil.example/repos/octo-org/webapp/issues/1/comments?page=2>; rel="next"'
    github_server.fail_next("GET", COMMENTS, 200, body=[], headers={"Link": link})
    with pytest.raises(GitHubError, match="not followed"):
        gh.upsert_comment(1, MARKER, "x")


def test_secondary_rate_limit_honours_retry_after(
    gh: GitHub, github_server: GitHubContractServer, sleeps: Sleeps
) -> None:
    github_server.fail_next(
        "POST",
        STATUSES,
        403,
        body={
            "message": "You have exceeded a secondary rate limit. Please wait a few minutes.",
            "documentation_url": "https://docs.github.com/rest/overview/rate-limits",
        },
        headers={"Retry-After": "1"},
    )
    gh.create_status(SHA, "success", "ci", "ok")
    assert sleeps.waits == [1.0]
    assert len(github_server.requests_to("POST", STATUSES)) == 2
    assert len(github_server.statuses) == 1


@pytest.mark.parametrize("status", [403, 429])
def test_primary_rate_limit_waits_until_reset(
    gh: GitHub, github_server: GitHubContractServer, sleeps: Sleeps, status: int
) -> None:
    reset = int(time.time()) + 5
    github_server.fail_next(
        "POST",
        CHECK_RUNS,
        status,
        body={"message": "API rate limit exceeded for installation ID 1."},
        headers={
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": "0",
            "x-ratelimit-reset": str(reset),
        },
    )
    before = time.time()
    gh.create_check_run("c", SHA, conclusion="success", title="t", summary="s", annotations=[])
    (wait,) = sleeps.waits
    assert reset - before <= wait <= reset - before + 1.5
    assert len(github_server.check_runs) == 1


def test_server_error_then_success(
    gh: GitHub, github_server: GitHubContractServer, sleeps: Sleeps
) -> None:
    github_server.fail_next("POST", DEPLOYMENTS, 500)
    github_server.fail_next("GET", COMMENTS, 502, times=2)
    assert gh.create_deployment("main", "dev", "d") in github_server.deployments
    assert gh.upsert_comment(5, MARKER, "x")[1] is True
    assert sleeps.waits == [1.0, 1.0, 2.0]
    assert len(github_server.deployments) == 1


def test_server_error_forever_gives_up_after_attempts(
    github_server: GitHubContractServer, sleeps: Sleeps
) -> None:
    server = github_server
    server.fail_next("POST", STATUSES, 500, times=10)
    with (
        GitHub(
            server.url, server.expected_token, server.repository, attempts=3, clock=sleeps.clock
        ) as gh,
        pytest.raises(GitHubError, match="after 3 attempts: 500") as caught,
    ):
        gh.create_status(SHA, "failure", "ci", "x")
    assert caught.value.status == 500
    assert sleeps.waits == [1.0, 2.0]
    assert len(server.requests_to("POST", STATUSES)) == 3
    assert server.statuses == []


def test_wait_longer_than_max_wait_gives_up_at_once(
    gh: GitHub, github_server: GitHubContractServer, sleeps: Sleeps
) -> None:
    github_server.fail_next(
        "POST",
        STATUSES,
        403,
        body={"message": "You have exceeded a secondary rate limit."},
        headers={"Retry-After": "120"},
    )
    with pytest.raises(GitHubError, match="wait 120s") as caught:
        gh.create_status(SHA, "success", "ci", "x")
    assert "\n" not in str(caught.value)
    assert sleeps.waits == []
    assert len(github_server.requests_to("POST", STATUSES)) == 1


def test_max_wait_bounds_the_total_of_the_waits(
    github_server: GitHubContractServer, sleeps: Sleeps
) -> None:
    server = github_server
    server.fail_next("POST", STATUSES, 503, times=10)
    with (
        GitHub(
            server.url, server.expected_token, server.repository, max_wait=2.5, clock=sleeps.clock
        ) as gh,
        pytest.raises(GitHubError, match="gave up"),
    ):
        gh.create_status(SHA, "success", "ci", "x")
    assert sleeps.waits == [1.0]


def test_primary_rate_limit_wait_is_measured_on_the_clock(
    github_server: GitHubContractServer, sleeps: Sleeps
) -> None:
    server = github_server
    clock = Clock(sleep=sleeps.waits.append, now=lambda: 1_700_000_000.0)
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000012"}
    server.fail_next("POST", STATUSES, 403, body={"message": "API rate limit"}, headers=headers)
    with GitHub(server.url, server.expected_token, server.repository, clock=clock) as gh:
        gh.create_status(SHA, "success", "ci", "ok")
    assert sleeps.waits == [13.0]  # until the reset, and a second more
    assert len(server.statuses) == 1


def test_secondary_rate_limit_without_retry_after_waits_a_minute(
    github_server: GitHubContractServer, sleeps: Sleeps
) -> None:
    server = github_server
    body = {"message": "You have exceeded a secondary rate limit."}
    server.fail_next("POST", STATUSES, 403, body=body)
    with GitHub(
        server.url, server.expected_token, server.repository, max_wait=90, clock=sleeps.clock
    ) as gh:
        gh.create_status(SHA, "success", "ci", "ok")
    assert sleeps.waits == [60.0]
    server.fail_next("POST", STATUSES, 403, body=body)
    with (
        GitHub(server.url, server.expected_token, server.repository, clock=sleeps.clock) as gh,
        pytest.raises(GitHubError, match=r"403; gave up rather than wait 60s, more than the 30s"),
    ):
        gh.create_status(SHA, "success", "ci", "ok")
    assert sleeps.waits == [60.0]


def test_a_post_whose_connection_dropped_is_not_resent(
    gh: GitHub, github_server: GitHubContractServer, sleeps: Sleeps
) -> None:
    github_server.drop_next("POST", COMMENTS)
    with pytest.raises(GitHubError, match=r"^GitHub unreachable on POST .*/comments: "):
        gh.upsert_comment(9, MARKER, "x")
    assert len(github_server.requests_to("POST", COMMENTS)) == 1
    assert sleeps.waits == []
    github_server.drop_next("GET", COMMENTS)
    assert gh.upsert_comment(9, MARKER, "x")[1] is True  # a GET is resent
    assert len(github_server.requests_to("GET", COMMENTS)) == 3
    assert sleeps.waits == [1.0]


def test_missing_permission_names_it(gh: GitHub, github_server: GitHubContractServer) -> None:
    github_server.fail_next(
        "POST",
        STATUSES,
        403,
        body={
            "message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/commits/statuses",
        },
        headers={"X-Accepted-GitHub-Permissions": "statuses=write"},
    )
    with pytest.raises(GitHubError) as caught:
        gh.create_status(SHA, "success", "ci", "x")
    assert str(caught.value) == (
        "GitHub refused POST /repos/octo-org/webapp/statuses/{sha}: 403 Resource not accessible"
        " by integration; the token needs statuses: write"
    )
    assert caught.value.status == 403
    assert caught.value.permission == "statuses: write"
    assert caught.value.exit_code == 3
    assert isinstance(caught.value, ExternalFailure)


def test_validation_failure_shows_githubs_errors(
    gh: GitHub, github_server: GitHubContractServer
) -> None:
    github_server.fail_next(
        "POST",
        DEPLOYMENTS,
        422,
        body={
            "message": "Validation Failed",
            "errors": [{"resource": "Deployment", "code": "custom", "message": "No ref found"}],
        },
    )
    with pytest.raises(GitHubError, match="422 Validation Failed: No ref found"):
        gh.create_deployment("nope", "qa", "d")


def test_wrong_token_is_401(github_server: GitHubContractServer, sleeps: Sleeps) -> None:
    server = github_server
    with (
        GitHub(server.url, SECRET, server.repository, clock=sleeps.clock) as gh,
        pytest.raises(GitHubError, match=r"GitHub rejected the token \(401\)") as caught,
    ):
        gh.create_status(SHA, "success", "ci", "x")
    assert caught.value.status == 401
    assert SECRET not in str(caught.value)
    assert sleeps.waits == []


def test_the_token_never_leaks(secret_server: GitHubContractServer, sleeps: Sleeps) -> None:
    server = secret_server
    errors: list[BaseException] = []
    permission = {"X-Accepted-GitHub-Permissions": f"statuses={SECRET}"}
    faults = [
        (403, {"message": f"Resource not accessible: {SECRET}"}, permission),
        (404, {"message": f"Not Found {SECRET}"}, {}),
        (500, {"message": SECRET}, {}),
        (403, {"message": "secondary rate limit"}, {"Retry-After": "3600"}),
    ]
    with GitHub(server.url, SECRET, server.repository, attempts=2, clock=sleeps.clock) as gh:
        assert SECRET not in repr(gh)
        assert SECRET not in str(vars(gh).get("_session"))
        gh.create_status(SHA, "success", "ci", "ok")
        for status, body, headers in faults:
            server.fail_next("POST", STATUSES, status, body=body, headers=headers, times=2)
            with pytest.raises(GitHubError) as caught:
                gh.create_status(SHA, "success", "ci", "x")
            errors.append(caught.value)
    with (
        GitHub("http://127.0.0.1:1", SECRET, server.repository, attempts=1) as gh,
        pytest.raises(GitHubError, match="unreachable") as caught,
    ):
        gh.create_status(SHA, "success", "ci", "x")
    errors.append(caught.value)
    for error in errors:
        assert SECRET not in str(error)
        assert SECRET not in repr(error)
        assert "\n" not in str(error)
    for request in server.requests:
        others = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        assert SECRET not in request.path
        assert SECRET not in request.body
        assert SECRET not in json.dumps(others)
    with pytest.raises(InvalidInput) as bad:
        GitHub(server.url, SECRET, f"{SECRET}/x/y")
    assert SECRET not in str(bad.value)


def test_the_token_is_checked(github_server: GitHubContractServer) -> None:
    with pytest.raises(InvalidInput, match="token"):
        GitHub(github_server.url, "ghs_abc\r\nX-Evil: 1", "o/r")
    with pytest.raises(InvalidInput, match="token"):
        GitHub(github_server.url, "  ", "o/r")


def test_repr_and_close(github_server: GitHubContractServer) -> None:
    gh = GitHub(github_server.url + "/", "ghs_secret_value", "octo-org/webapp")
    try:
        assert repr(gh) == (
            f"GitHub(api_url='{github_server.url}', repository='octo-org/webapp', token='***')"
        )
    finally:
        gh.close()


def test_from_env() -> None:
    assert GitHub.from_env({}) is None
    assert GitHub.from_env({"GITHUB_TOKEN": "t"}) is None
    assert GitHub.from_env({"GITHUB_REPOSITORY": "o/r"}) is None
    assert GitHub.from_env({"GITHUB_TOKEN": "", "GITHUB_REPOSITORY": "o/r"}) is None
    gh = GitHub.from_env({"GH_TOKEN": "t", "GITHUB_REPOSITORY": "octo-org/web.app_2"})
    assert gh is not None
    with gh:
        assert gh.api_url == "https://api.github.com"
        assert gh.repository == "octo-org/web.app_2"
    env = {
        "GITHUB_TOKEN": "t",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_API_URL": "https://ghe.example.com/api/v3/",
    }
    gh = GitHub.from_env(env)
    assert gh is not None
    with gh:
        assert gh.api_url == "https://ghe.example.com/api/v3"


@pytest.mark.parametrize(
    "repository",
    ["webapp", "o/r/x", "-o/r", "o/..", "o/.", "o /r", "o/r\nx", "o/r?x=1", "/r", "o/", "ö/r"],
)
def test_from_env_refuses_a_malformed_repository(repository: str) -> None:
    with pytest.raises(InvalidInput, match="GITHUB_REPOSITORY"):
        GitHub.from_env({"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": repository})


@pytest.mark.parametrize(
    "api_url",
    ["ftp://api.github.com", "api.github.com", "file:///etc/passwd", "https://u:p@h.example",
     "https://h.example/?x=1", "https://"],
)  # fmt: skip
def test_from_env_refuses_a_bad_api_url(api_url: str) -> None:
    env = {"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": api_url}
    with pytest.raises(InvalidInput, match="GITHUB_API_URL"):
        GitHub.from_env(env)


def test_contract_server_records_violations(github_server: GitHubContractServer) -> None:
    """The server itself: a request off the contract is answered 422 and recorded."""
    import requests

    headers = {
        "Authorization": f"token {github_server.expected_token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    url = f"{github_server.url}/repos/octo-org/webapp/statuses/{SHA}"
    with requests.Session() as session:
        bad = session.post(url, json={"state": "done"}, headers=headers, timeout=5)
        typo = session.post(
            url, json={"state": "success", "contxt": "x"}, headers=headers, timeout=5
        )
        no_version = session.post(
            url,
            json={"state": "success"},
            headers={**headers, "X-GitHub-Api-Version": "2021"},
            timeout=5,
        )
        other_repo = session.post(
            url.replace("webapp", "other"), json={"state": "success"}, headers=headers, timeout=5
        )
        no_token = session.post(url, json={"state": "success"}, timeout=5)
    assert [bad.status_code, typo.status_code, no_version.status_code] == [422, 422, 422]
    assert bad.json()["message"] == "Validation Failed"
    assert other_repo.status_code == 404
    assert other_repo.json()["message"] == "Not Found"
    assert no_token.status_code == 401
    assert len(github_server.violations) == 3
    assert "'done' is not one of" in github_server.violations[0]
    assert "'contxt' was unexpected" in github_server.violations[1]
    github_server.violations.clear()
