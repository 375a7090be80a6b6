"""GitHub REST client: commit statuses, deployments, check runs and pull-request comments."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self
from urllib.parse import quote, urlsplit

import requests

import pipeline_kit
from pipeline_kit import http_retry
from pipeline_kit.github.wire import (
    GitHubError,
    check_choice,
    clip,
    clip_bytes,
    id_of,
    json_of,
    one_line,
    permissions,
)
from pipeline_kit.http_retry import SYSTEM_CLOCK, Clock
from pipeline_kit.model.errors import InvalidInput

__all__ = ["DEFAULT_API_URL", "Annotation", "GitHub", "GitHubError"]

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
# GitHub's documented limits (characters; bytes for annotation messages): a longer text makes
# GitHub refuse the whole request, so texts are cut to them.
DESCRIPTION_MAX, SUMMARY_MAX, COMMENT_MAX = 140, 65535, 65536
ANNOTATION_MESSAGE_MAX, ANNOTATION_TITLE_MAX, ANNOTATIONS_PER_REQUEST = 64 * 1024, 255, 50

_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/(?!\.\.?$)[A-Za-z0-9._-]{1,100}")
_TOKEN = re.compile(r"[\x21-\x7e]+")  # visible ASCII: no whitespace, no header injection
_STATES = ("error", "failure", "pending", "success")
_DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
_CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped",
                "timed_out")  # fmt: skip
_STATUSES = "/repos/{owner}/{repo}/statuses/{sha}"
_DEPLOYMENTS = "/repos/{owner}/{repo}/deployments"
_DEPLOYMENT_STATUSES = "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"
_CHECK_RUNS = "/repos/{owner}/{repo}/check-runs"
_CHECK_RUN = "/repos/{owner}/{repo}/check-runs/{check_run_id}"
_COMMENTS = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
_COMMENT = "/repos/{owner}/{repo}/issues/comments/{comment_id}"


@dataclass(frozen=True)
class Annotation:
    """A check-run annotation on lines of a file."""

    path: str
    start_line: int
    end_line: int
    annotation_level: Literal["notice", "warning", "failure"]
    message: str
    title: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.start_line <= self.end_line:
            raise InvalidInput(f"annotation lines {self.start_line}-{self.end_line} of {self.path}")

    def to_json(self) -> dict[str, Any]:
        """The annotation as GitHub takes it, its texts cut to GitHub's limits."""
        data: dict[str, Any] = {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "annotation_level": self.annotation_level,
            "message": clip_bytes(self.message, ANNOTATION_MESSAGE_MAX),
        }
        if self.title is not None:
            data["title"] = clip(self.title, ANNOTATION_TITLE_MAX)
        return data


class _Bearer(requests.auth.AuthBase):
    """Token auth that also wins over any ``.netrc`` entry, and never shows the token."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(***)"


class GitHub:
    """One repository's GitHub REST API, with bounded retries on rate limits and 5xx.

    Requests are retried as ``pipeline_kit.http_retry.GITHUB`` says, within ``attempts``
    and ``max_wait`` seconds of waiting in all, waiting with ``clock``.
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        repository: str,
        *,
        attempts: int = http_retry.GITHUB.attempts,
        max_wait: float = http_retry.GITHUB.max_wait,
        timeout: float = 10.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        token = token.strip()
        if not _TOKEN.fullmatch(token):
            raise InvalidInput("the GitHub token is empty or has whitespace or non-ASCII")
        if not _REPOSITORY.fullmatch(repository):
            shown = one_line(repository.replace(token, "***"), 100)
            raise InvalidInput(f"GITHUB_REPOSITORY must be 'owner/repo', got {shown!r}")
        url = urlsplit(api_url.strip())
        if url.scheme not in ("http", "https") or not url.hostname or "@" in url.netloc:
            raise InvalidInput("GITHUB_API_URL must be an http(s) URL without credentials")
        if url.query or url.fragment:
            raise InvalidInput("GITHUB_API_URL must not have a query or a fragment")
        if attempts < 1 or max_wait < 0 or timeout <= 0:
            raise InvalidInput("GitHub client: attempts >= 1, max_wait >= 0 and timeout > 0")
        self.api_url = url.geturl().rstrip("/")
        self.repository = repository
        self._token = token
        self._policy = dataclasses.replace(http_retry.GITHUB, attempts=attempts, max_wait=max_wait)
        self._timeout, self._clock = timeout, clock
        self._session = requests.Session()
        self._session.auth = _Bearer(token)
        version = getattr(pipeline_kit, "__version__", "0")
        self._session.headers["Accept"] = MEDIA_TYPE
        self._session.headers["X-GitHub-Api-Version"] = API_VERSION
        self._session.headers["User-Agent"] = f"pipeline-kit/{version}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], clock: Clock = SYSTEM_CLOCK) -> GitHub | None:
        """From GITHUB_TOKEN (or GH_TOKEN), GITHUB_REPOSITORY, GITHUB_API_URL; None if unset."""
        token = (environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN") or "").strip()
        repository = environ.get("GITHUB_REPOSITORY", "").strip()
        if not token or not repository:
            return None
        api_url = environ.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
        return cls(api_url, token, repository, clock=clock)

    def __repr__(self) -> str:
        return f"GitHub(api_url={self.api_url!r}, repository={self.repository!r}, token='***')"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- operations ------------------------------------------------------------------------

    def create_status(
        self, sha: str, state: str, context: str, description: str, target_url: str | None = None
    ) -> None:
        """Set the commit status of ``context`` on ``sha``."""
        check_choice("commit status state", state, _STATES)
        body = {
            "state": state,
            "context": context,
            "description": clip(description, DESCRIPTION_MAX),
        }
        if target_url is not None:
            body["target_url"] = target_url
        self._call("POST", _STATUSES, body, sha=sha)

    def create_deployment(
        self,
        ref: str,
        environment: str,
        description: str,
        *,
        production: bool = False,
        transient: bool = False,
    ) -> int:
        """Create a deployment of ``ref`` to ``environment``; its id."""
        body = {
            "ref": ref,
            "environment": environment,
            "description": clip(description, DESCRIPTION_MAX),
            "auto_merge": False,  # never merge the default branch into the ref
            "required_contexts": [],  # deploy what was decided, whatever checks are pending
            "production_environment": production,
            "transient_environment": transient,
        }
        return id_of(self._call("POST", _DEPLOYMENTS, body))

    def create_deployment_status(
        self,
        deployment_id: int,
        state: str,
        description: str,
        *,
        environment_url: str | None = None,
        log_url: str | None = None,
    ) -> None:
        """Add a status to a deployment."""
        check_choice("deployment state", state, _DEPLOYMENT_STATES)
        body = {"state": state, "description": clip(description, DESCRIPTION_MAX)}
        if environment_url is not None:
            body["environment_url"] = environment_url
        if log_url is not None:
            body["log_url"] = log_url
        self._call("POST", _DEPLOYMENT_STATUSES, body, deployment_id=deployment_id)

    def create_check_run(
        self,
        name: str,
        head_sha: str,
        *,
        conclusion: str,
        title: str,
        summary: str,
        annotations: Sequence[Annotation],
        details_url: str | None = None,
    ) -> int:
        """Create a completed check run; annotations go 50 per request (GitHub's limit)."""
        check_choice("check run conclusion", conclusion, _CONCLUSIONS)
        notes = [note.to_json() for note in annotations]
        size = ANNOTATIONS_PER_REQUEST
        chunks = [notes[start : start + size] for start in range(0, len(notes), size)] or [[]]
        output = {"title": title, "summary": clip(summary, SUMMARY_MAX)}
        body: dict[str, Any] = {"name": name, "head_sha": head_sha, "status": "completed"}
        body |= {"conclusion": conclusion, "output": {**output, "annotations": chunks[0]}}
        if details_url is not None:
            body["details_url"] = details_url
        run_id = id_of(self._call("POST", _CHECK_RUNS, body))
        for chunk in chunks[1:]:  # each update appends its annotations
            patch = {"output": {**output, "annotations": chunk}}
            self._call("PATCH", _CHECK_RUN, patch, check_run_id=run_id)
        return run_id

    def upsert_comment(self, issue_number: int, marker: str, body: str) -> tuple[int, bool]:
        """Edit the comment holding ``marker`` (e.g. an HTML comment), or post one.

        The marker is put first when ``body`` lacks it. Returns (comment id, created).
        """
        if not marker.strip():
            raise InvalidInput("the comment marker must not be empty")
        text = clip(body if marker in body else f"{marker}\n{body}", COMMENT_MAX)
        if marker not in text:  # the cut took the marker away: put it first
            text = clip(f"{marker}\n{body}", COMMENT_MAX)
        for comment in self._comments(issue_number):
            if marker in str(comment.get("body") or ""):
                comment_id = id_of(comment)
                self._call("PATCH", _COMMENT, {"body": text}, comment_id=comment_id)
                return comment_id, False
        created = self._call("POST", _COMMENTS, {"body": text}, issue_number=issue_number)
        return id_of(created), True

    def _comments(self, issue_number: int) -> Iterator[dict[str, Any]]:
        """Every comment of an issue or pull request, following the ``next`` links."""
        url: str | None = self._url(_COMMENTS, {"issue_number": issue_number})
        params: dict[str, Any] | None = {"per_page": 100}
        while url is not None:
            response = self._request("GET", _COMMENTS, url, params=params)
            page = json_of(response, f"GET {self._show(_COMMENTS)}")
            if not isinstance(page, list):
                raise GitHubError(f"GitHub answered GET {self._show(_COMMENTS)} with no list")
            yield from (item for item in page if isinstance(item, dict))
            url, params = response.links.get("next", {}).get("url"), None
            if url is not None and not url.startswith(self.api_url + "/"):
                # The token must only ever go to the API it was configured for.
                raise GitHubError(f"GitHub's next page link leaves {self.api_url}; not followed")

    # -- HTTP ------------------------------------------------------------------------------

    def _url(self, template: str, path: Mapping[str, object]) -> str:
        owner, repo = self.repository.split("/")
        values = {"owner": owner, "repo": repo, **path}
        return self.api_url + template.format_map(
            {key: quote(str(value), safe="") for key, value in values.items()}
        )

    def _show(self, template: str) -> str:
        """The path template with owner and repository filled in, for messages."""
        owner, repo = self.repository.split("/")
        return template.replace("{owner}", owner).replace("{repo}", repo)

    def _call(self, method: str, template: str, body: Any, **path: object) -> Any:
        response = self._request(method, template, self._url(template, path), json=body)
        return json_of(response, f"{method} {self._show(template)}")

    def _request(
        self,
        method: str,
        template: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> requests.Response:
        """Send, resending as the shared retry policy says (``pipeline_kit.http_retry``).

        POSTs are not idempotent, yet are resent on 5xx and rate-limit answers: GitHub did not
        act on those (its own retry guidance, as Octokit's retry plugin does). A POST whose
        connection failed is resent only when it was never made, never after a read timeout.
        """
        what = f"{method} {self._show(template)}"
        outcome = http_retry.send(
            lambda: self._session.request(
                method, url, params=params, json=json, timeout=self._timeout
            ),
            method=method,
            policy=self._policy,
            clock=self._clock,
            what=what,
        )
        result = outcome.result
        if isinstance(result, requests.Response) and result.status_code < 400:
            return result
        if isinstance(result, requests.Response):
            reason = f"GitHub answered {what} with {result.status_code}"
        else:
            reason = one_line(self._redact(f"GitHub unreachable on {what}: {result!r}"))
        if outcome.declined is not None:
            budget = self._policy.max_wait
            left = max(budget - outcome.waited, 0.0)
            raise GitHubError(
                f"{reason}; gave up rather than wait {outcome.declined:.0f}s, more than the "
                f"{left:.0f}s left of max_wait ({budget:.0f}s)"
            )
        if isinstance(result, requests.Response):
            raise self._refusal(what, result, outcome)
        raise GitHubError(reason) from None

    def _refusal(
        self, what: str, response: requests.Response, outcome: http_retry.Outcome
    ) -> GitHubError:
        """The error for a 4xx or 5xx answer, in one line, naming a missing permission."""
        status = response.status_code
        if status == 401:
            return GitHubError(f"GitHub rejected the token (401) on {what}", status=401)
        try:
            data = response.json()
        except ValueError:
            data = None
        data = data if isinstance(data, dict) else {}
        message = str(data.get("message") or response.reason or "no message")
        errors = data.get("errors")
        errors = errors if isinstance(errors, list) else []
        details = [e.get("message") or e.get("code") if isinstance(e, dict) else e for e in errors]
        if any(details):
            message += ": " + "; ".join(str(detail) for detail in details if detail)
        message = one_line(self._redact(message), 240)
        if outcome.retryable:
            verb = "failed" if status >= 500 else "still refuses"
            text = f"GitHub {verb} {what} after {outcome.attempts} attempts: {status} {message}"
            return GitHubError(text, status=status)
        header = response.headers.get("X-Accepted-GitHub-Permissions", "") if status == 403 else ""
        permission = permissions(self._redact(one_line(header, 200)))
        text = f"GitHub refused {what}: {status} {message}"
        text += f"; the token needs {permission}" if permission else ""
        return GitHubError(text, status=status, permission=permission)

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "***")
