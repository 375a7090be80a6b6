"""Per-stage summaries of a report: rows for the console, markdown for GitHub, runner files."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipeline_kit.report.results import Report, Result

MAX_LISTED = 50  # failures listed in full in a markdown summary; the rest are counted


@dataclass(frozen=True)
class StageRow:
    stage: str
    version: str
    checks: int
    passed: int
    failed: int
    seconds: float

    @property
    def verdict(self) -> str:
        return "failed" if self.failed else "passed"


def rows(report: Report) -> list[StageRow]:
    """One row per stage: its version after the command and its check counts."""
    out = []
    for stage, results in report.by_stage().items():
        failed = sum(1 for r in results if not r.ok)
        seconds = sum(r.duration or 0.0 for r in results)
        version = report.versions.get(stage, "")
        out.append(StageRow(stage, version, len(results), len(results) - failed, failed, seconds))
    return out


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell (no pipes, no line breaks, no HTML)."""
    return (
        text.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def _where(result: Result) -> str:
    if result.file is None:
        return ""
    return f" ({result.file}:{result.line})" if result.line else f" ({result.file})"


def markdown(report: Report, heading: str = "###") -> str:
    """The report as GitHub-flavoured markdown: verdict, per-stage table, failures."""
    icon = "✅" if report.ok else "❌"
    lines = [f"{heading} {icon} {_cell(report.title())}", ""]
    if report.error:
        lines += [f"**{_cell(report.error)}**", ""]
    lines += [
        "| stage | version | checks | passed | failed | result |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows(report):
        mark = "❌ failed" if row.failed else "✅ passed"
        lines.append(
            f"| {_cell(row.stage)} | {_cell(row.version) or '–'} | {row.checks} | "
            f"{row.passed} | {row.failed} | {mark} |"
        )
    failures = report.failures
    if failures:
        lines += ["", f"{len(failures)} check(s) failed:", ""]
        for result in failures[:MAX_LISTED]:
            lines.append(
                f"- **{_cell(result.stage)}** `{_cell(result.name)}`: "
                f"{_cell(result.message)}{_cell(_where(result))}"
            )
        if len(failures) > MAX_LISTED:
            lines.append(f"- … and {len(failures) - MAX_LISTED} more (see the JUnit files)")
    if report.applied:
        lines += ["", "Applied."]
    elif report.command != "check":
        lines += ["", "Nothing was changed."]
    return "\n".join(lines) + "\n"


def outputs(report: Report) -> dict[str, str]:
    """The step outputs of a command (``GITHUB_OUTPUT``)."""
    out = {"result": "passed" if report.ok else "failed"}
    if report.command == "check":
        out["violations"] = str(sum(1 for r in report.results if r.status == "failed"))
    if report.service:
        out["service"] = report.service
    if report.version:
        out["version"] = report.version
    if report.target and report.command != "check":
        out["stage"] = report.target
    return out


def write_runner_files(
    report: Report, environ: Mapping[str, str], extra: Mapping[str, str] | None = None
) -> None:
    """Append the summary to ``GITHUB_STEP_SUMMARY`` and outputs to ``GITHUB_OUTPUT``."""
    summary = environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with Path(summary).open("a", encoding="utf-8") as out:
            out.write(markdown(report) + "\n")
    target = environ.get("GITHUB_OUTPUT")
    if target:
        values = {**outputs(report), **(extra or {})}
        with Path(target).open("a", encoding="utf-8") as out:
            for key, value in values.items():
                out.write(_output_line(key, value))


def _output_line(key: str, value: str) -> str:
    """``key=value``, or the heredoc form with an unguessable delimiter for odd values."""
    if "\n" not in value and "\r" not in value:
        return f"{key}={value}\n"
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    return f"{key}<<{delimiter}\n{value}\n{delimiter}\n"
