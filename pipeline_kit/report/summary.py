"""Per-stage summaries of a report: rows for the console, markdown for GitHub, runner files."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline_kit.model.constraints import APPROVAL
from pipeline_kit.report.results import Report, Result

MAX_LISTED = 50  # failures listed in full in a markdown summary; the rest are counted
# The steps that make and publish an image: a report of only these acted on no stage.
IMAGE_STEPS = ("build", "push")
# What an image step did, in the words of a result cell (else "push failed" and the like).
_DID = {
    ("build", "passed"): "built",
    ("push", "passed"): "pushed",
    ("push", "skipped"): "already in the registry",
}


@dataclass(frozen=True)
class StageRow:
    """A stage's row; ``stage`` is empty for the row of a command that acted on no stage."""

    stage: str
    version: str
    checks: int
    passed: int
    failed: int
    seconds: float
    done: str = ""  # what the command did, when it acted on no stage ("built, pushed")

    @property
    def verdict(self) -> str:
        return self.done or ("failed" if self.failed else "passed")


def image_only(report: Report) -> bool:
    """The report is of a build and push that promoted nothing (``release --no-promote``)."""
    return (
        bool(report.results)
        and not report.applied
        and all(r.kind in IMAGE_STEPS for r in report.results)
    )


def title(report: Report) -> str:
    """The report's title; an image-only report says what it did instead of a target stage."""
    if not image_only(report):
        return report.title()
    parts = [f"pipeline-kit {report.command}", report.service or "", report.version or ""]
    return " ".join(p for p in parts if p) + f" ({', '.join(_steps(report))}; no promotion)"


def _steps(report: Report) -> list[str]:
    """The kinds of step a report holds, in order: ``["build", "push"]``."""
    return list(dict.fromkeys(r.kind for r in report.results))


def _row(stage: str, version: str, results: Sequence[Result], done: str = "") -> StageRow:
    failed = sum(1 for r in results if not r.ok)
    seconds = sum(r.duration or 0.0 for r in results)
    return StageRow(stage, version, len(results), len(results) - failed, failed, seconds, done)


def _image_row(report: Report) -> StageRow:
    """The one row of an image-only report: the version built and what was done with it."""
    words = (_DID.get((r.kind, r.status), f"{r.kind} {r.status}") for r in report.results)
    return _row("", report.version or "", report.results, ", ".join(dict.fromkeys(words)))


def rows(report: Report) -> list[StageRow]:
    """One row per stage: its version after the command and its check counts.

    A report that acted on no stage (a build and push only) has one row without a stage.
    """
    if image_only(report):
        return [_image_row(report)]
    return [
        _row(stage, report.versions.get(stage, ""), results)
        for stage, results in report.by_stage().items()
    ]


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


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted mermaid label: anything but plain characters as ``#N;``."""
    plain = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._+-")
    return "".join(ch if ch in plain else f"#{ord(ch)};" for ch in text)


def mermaid(report: Report) -> list[str]:
    """The stages (entry first) with the service's versions before → after, as mermaid."""
    if not report.service or not (report.versions or report.before):
        return []
    stages = [s for s in reversed(report.stages) if s in report.versions or s in report.before]
    lines = ["```mermaid", "flowchart LR"]
    changed = []
    for i, stage in enumerate(stages):
        old, new = report.before.get(stage, "none"), report.versions.get(stage, "none")
        shown = _mermaid_text(new) if old == new else f"{_mermaid_text(old)} → {_mermaid_text(new)}"
        lines.append(f'  s{i}["{_mermaid_text(stage)}<br/>{shown}"]')
        if old != new:
            changed.append(f"s{i}")
    lines.append("  " + " --> ".join(f"s{i}" for i in range(len(stages))))
    if changed:
        lines += ["  classDef changed stroke-width:3px", f"  class {','.join(changed)} changed"]
    return ["", f"{_cell(report.service)}: versions per stage, before → after", "", *lines, "```"]


def _where(result: Result) -> str:
    if result.file is None:
        return ""
    return f" ({result.file}:{result.line})" if result.line else f" ({result.file})"


def markdown(report: Report, heading: str = "###") -> str:
    """The report as GitHub-flavoured markdown: verdict, per-stage table, failures."""
    icon = "✅" if report.ok else "❌"
    lines = [f"{heading} {icon} {_cell(title(report))}", ""]
    if report.error:
        lines += [f"**{_cell(report.error)}**", ""]
    lines += [
        "| stage | version | checks | passed | failed | result |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows(report):
        mark = f"{'❌' if row.failed else '✅'} {_cell(row.verdict)}"
        lines.append(
            f"| {_cell(row.stage) or '–'} | {_cell(row.version) or '–'} | {row.checks} | "
            f"{row.passed} | {row.failed} | {mark} |"
        )
    lines += _watched(report)
    lines += _approvals(report)
    lines += mermaid(report)
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
    elif image_only(report):
        lines += ["", f"{' and '.join(_steps(report)).capitalize()} only: no stage was changed."]
    elif report.command != "check":
        lines += ["", "Nothing was changed."]
    return "\n".join(lines) + "\n"


def _watched(report: Report) -> list[str]:
    """The figures of the verification windows the command watched, passed or not."""
    watched = [r for r in report.results if r.kind == "watch"]
    if not watched:
        return []
    lines = ["", "Verification window:", ""]
    for r in watched:
        took = f" ({r.duration:.1f}s)" if r.duration is not None else ""
        lines.append(
            f"- {'✅' if r.ok else '❌'} **{_cell(r.stage)}** `{_cell(r.name)}`: "
            f"{_cell(r.message)}{took}"
        )
    return lines


def _approvals(report: Report) -> list[str]:
    """The approval gates the command passed: how many approvals, and from whom."""
    found = [r for r in report.results if r.name == APPROVAL and r.ok and r.message]
    if not found:
        return []
    lines = ["", "Approvals:", ""]
    lines += [f"- ✅ **{_cell(r.stage)}** {_cell(r.message)}" for r in found]
    return lines


def outputs(report: Report) -> dict[str, str]:
    """The step outputs of a command (``GITHUB_OUTPUT``)."""
    out = {"result": "passed" if report.ok else "failed"}
    if report.command == "check":
        out["violations"] = str(sum(1 for r in report.results if r.status == "failed"))
    if report.service:
        out["service"] = report.service
    if report.version:
        out["version"] = report.version
    if report.target and report.command != "check" and not image_only(report):
        out["stage"] = report.target  # the stage promoted into: none for a build and push
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
