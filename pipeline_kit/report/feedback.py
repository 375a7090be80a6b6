"""What GitHub feedback says about a report: links, states, descriptions, the PR comment.

Pure rendering, from the report and the job's environment; ``pipeline_kit.github.feedback``
sends it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from pipeline_kit.report.results import Report, Result
from pipeline_kit.report.summary import markdown

_PULL_REF = re.compile(r"refs/pull/([0-9]{1,10})/(?:merge|head)")


def run_url(environ: Mapping[str, str]) -> str | None:
    """The page of the running job: a GitHub Actions run, or a Jenkins build."""
    server = environ.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    repo, run_id = environ.get("GITHUB_REPOSITORY"), environ.get("GITHUB_RUN_ID")
    if repo and run_id and run_id.isdigit():
        return f"{server}/{repo}/actions/runs/{run_id}"
    build = environ.get("BUILD_URL", "")
    return build if build.startswith(("https://", "http://")) else None


def pull_request(environ: Mapping[str, str]) -> int | None:
    """The pull request a run is about: from the event payload, else from ``GITHUB_REF``."""
    event = environ.get("GITHUB_EVENT_PATH")
    if event:
        try:
            number = json.loads(Path(event).read_text()).get("pull_request", {}).get("number")
        except (OSError, ValueError, AttributeError):
            number = None
        if isinstance(number, int) and number > 0:
            return number
    found = _PULL_REF.fullmatch(environ.get("GITHUB_REF", ""))
    return int(found.group(1)) if found else None


def status_state(results: list[Result]) -> str:
    """The commit status of a stage's results: ``error``, ``failure`` or ``success``."""
    if any(r.status == "error" for r in results):
        return "error"
    return "success" if all(r.ok for r in results) else "failure"


def status_description(report: Report, stage: str, version: str, results: list[Result]) -> str:
    """``webapp 1.2.0 in qa: checks passed`` (or how many of them failed)."""
    failed = sum(1 for r in results if not r.ok)
    verdict = f"{failed} of {len(results)} checks failed" if failed else "checks passed"
    return f"{report.service or report.command} {version} in {stage}: {verdict}"


def check_title(report: Report) -> str:
    """The title of the report's check run."""
    failures = len(report.failures)
    return f"{failures} check(s) failed" if failures else "every check passed"


def comment_marker(report: Report) -> str:
    """The hidden line that finds the pull-request comment of this command and service."""
    return f"<!-- pipeline-kit:{report.command}:{report.service or ''} -->"


def comment_body(report: Report) -> str:
    """The pull-request comment: its marker, then the report in markdown."""
    return f"{comment_marker(report)}\n{markdown(report, '###')}"
