"""The GitHub feedback sink: a report's commit statuses, deployments, check run and PR comment.

On when ``GITHUB_TOKEN`` and ``GITHUB_REPOSITORY`` are set. Each call that fails becomes one
warning line (the client already retried what can be retried); nothing here undoes or fails
the command itself, unless the caller asks for ``--strict-feedback``. What the feedback says
is rendered by ``pipeline_kit.report.feedback``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from pipeline_kit.github.client import Annotation, GitHub
from pipeline_kit.http_retry import SYSTEM_CLOCK, Clock
from pipeline_kit.model.errors import PipelineKitError
from pipeline_kit.report.feedback import (
    check_title,
    comment_body,
    comment_marker,
    pull_request,
    run_url,
    status_description,
    status_state,
)
from pipeline_kit.report.results import Report
from pipeline_kit.report.summary import markdown
from pipeline_kit.report.summary import title as summary_title

__all__ = ["CLOCK", "Feedback", "Revision", "annotations_of", "send"]

_SHA = re.compile(r"[0-9a-f]{40}")
Revision = Callable[[str], str | None]  # version → the commit it was built from
# What the client of ``send`` waits with between retries, unless ``send`` is given a clock.
CLOCK: Clock = SYSTEM_CLOCK


def annotations_of(report: Report, default_path: str) -> list[Annotation]:
    """One failure annotation per failed check, on its config line (else line 1)."""
    out = []
    for result in report.failures:
        line = result.line or 1
        out.append(
            Annotation(
                path=result.file or default_path,
                start_line=line,
                end_line=line,
                annotation_level="failure",
                message=result.message or result.status,
                title=f"{result.stage}: {result.kind} {result.name}",
            )
        )
    return out


class Feedback:
    """Sends one report to GitHub; collects one warning line per failed call."""

    def __init__(
        self,
        github: GitHub,
        environ: Mapping[str, str],
        revision: Revision,
        endpoint_url: Callable[[str], str | None],
    ) -> None:
        self.github = github
        self.environ = environ
        self.revision = revision
        self.endpoint_url = endpoint_url
        self.warnings: list[str] = []

    def _try(self, what: str, call: Callable[[], object]) -> None:
        try:
            call()
        except PipelineKitError as exc:
            self.warnings.append(f"GitHub feedback: {what} failed: {exc}")

    def commit_of(self, report: Report, stage: str) -> str | None:
        """The commit of the version that runs in ``stage`` after the command."""
        version = report.versions.get(stage) or report.version
        if version and version == report.version and report.commit:
            return report.commit
        found = self.revision(version) if version else None
        return found if found and _SHA.fullmatch(found) else None

    def statuses(self, report: Report) -> None:
        link = run_url(self.environ)
        for stage, results in report.by_stage().items():
            commit = self.commit_of(report, stage)
            version = report.versions.get(stage) or report.version or ""
            if commit is None:
                self.warnings.append(
                    f"GitHub feedback: no commit known for {report.service} {version} in "
                    f"{stage}: no commit status (release it with pipeline-kit, or tag it)"
                )
                continue

            def post(
                sha: str = commit,
                state: str = status_state(results),
                context: str = f"pipeline-kit/{stage}",
                description: str = status_description(report, stage, version, results),
            ) -> None:
                self.github.create_status(sha, state, context, description, link)

            self._try(f"commit status pipeline-kit/{stage}", post)

    def deployments(self, report: Report) -> None:
        if not report.applied or not report.stages:
            return
        for stage in report.by_stage():
            if stage not in report.stages:
                continue
            commit = self.commit_of(report, stage)
            version = report.versions.get(stage) or report.version or ""
            if commit is None:
                continue

            def deploy(stage: str = stage, commit: str = commit, version: str = version) -> None:
                number = self.github.create_deployment(
                    commit,
                    stage,
                    f"{report.service} {version}",
                    production=stage == report.stages[0],
                )
                self.github.create_deployment_status(
                    number,
                    "success",
                    f"{report.service} {version} runs in {stage}",
                    environment_url=self.endpoint_url(stage),
                    log_url=run_url(self.environ),
                )

            self._try(f"deployment to {stage}", deploy)

    def check_run(self, report: Report, default_path: str) -> None:
        sha = self.environ.get("GITHUB_SHA", "")
        if not _SHA.fullmatch(sha):
            return
        self._try(
            "check run",
            lambda: self.github.create_check_run(
                summary_title(report),
                sha,
                conclusion="success" if report.ok else "failure",
                title=check_title(report),
                summary=markdown(report),
                annotations=annotations_of(report, default_path),
                details_url=run_url(self.environ),
            ),
        )

    def comment(self, report: Report) -> None:
        number = pull_request(self.environ)
        if number is None:
            return
        marker, body = comment_marker(report), comment_body(report)
        self._try(
            f"comment on pull request #{number}",
            lambda: self.github.upsert_comment(number, marker, body),
        )


def send(
    report: Report,
    environ: Mapping[str, str],
    revision: Revision,
    endpoint_url: Callable[[str], str | None],
    default_path: str = "pipeline-kit.toml",
    *,
    clock: Clock | None = None,
) -> list[str]:
    """Send every piece of feedback that applies; one warning line per failure."""
    try:
        github = GitHub.from_env(environ, clock=CLOCK if clock is None else clock)
    except PipelineKitError as exc:
        return [f"GitHub feedback: {exc}"]
    if github is None:
        return []
    with github:
        feedback = Feedback(github, environ, revision, endpoint_url)
        feedback.statuses(report)
        feedback.deployments(report)
        feedback.check_run(report, default_path)
        feedback.comment(report)
    return feedback.warnings
