"""The end of every reporting command: JUnit files, the per-stage table, GitHub feedback."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline_kit.cli.errors import annotate
from pipeline_kit.model.errors import ExternalFailure

if TYPE_CHECKING:
    from pipeline_kit.config import Settings
    from pipeline_kit.pipeline.promotion import Run
    from pipeline_kit.report.results import Report

JunitDir = Annotated[
    Path | None,
    typer.Option("--junit-dir", help="Write DIR/pipeline-kit-<stage>.xml, one per stage."),
]
StrictFeedback = Annotated[
    bool,
    typer.Option(
        "--strict-feedback", help="Fail (exit 3) when GitHub feedback fails; else a warning."
    ),
]


def _warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
    annotate(message, "warning")


def stage_table(report: Report) -> None:
    """The per-stage summary every reporting command ends with."""
    from rich.table import Table

    from pipeline_kit.cli import render
    from pipeline_kit.report.summary import rows

    table = Table(title=f"{report.title()}: {'passed' if report.ok else 'failed'}")
    for name, justify in (
        ("stage", "left"),
        ("version", "left"),
        ("checks", "right"),
        ("passed", "right"),
        ("failed", "right"),
        ("seconds", "right"),
        ("result", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows(report):
        table.add_row(
            row.stage,
            row.version or "-",
            str(row.checks),
            str(row.passed),
            str(row.failed),
            f"{row.seconds:.2f}",
            row.verdict,
        )
    render.console.print(table)


def feedback(report: Report, settings: Settings) -> list[str]:
    """GitHub feedback for ``report``; the warnings."""
    environ = os.environ
    if not (environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN")):
        return []
    if not environ.get("GITHUB_REPOSITORY"):
        return []
    from pipeline_kit.pipeline.check import shown_path
    from pipeline_kit.pipeline.promotion import feedback_lookups
    from pipeline_kit.report.feedback import send

    public_host = environ.get("PIPELINE_KIT_PUBLIC_HOST") or "localhost"
    revision, url = feedback_lookups(settings, report.service, Path.cwd(), public_host)
    default_path = "pipeline-kit.toml"
    if settings.source is not None:
        default_path = shown_path(settings.source)
    return send(report, environ, revision, url, default_path)


def finish(
    run: Run,
    settings: Settings,
    junit_dir: Path | None,
    strict_feedback: bool,
    outputs: dict[str, str] | None = None,
    table: bool = True,
) -> None:
    """Write JUnit, print the stage table, write runner files, send feedback; then fail or not."""
    from pipeline_kit.cli import render
    from pipeline_kit.report import junit
    from pipeline_kit.report.summary import write_runner_files

    report = run.report
    if junit_dir is not None:
        written = junit.write(report, junit_dir)
        render.note(f"junit: wrote {len(written)} file(s) to {junit_dir}")
    if table:
        stage_table(report)
    write_runner_files(report, os.environ, outputs)
    warnings = feedback(report, settings)
    for warning in warnings:
        _warn(warning)
    if run.error is not None:
        raise run.error
    if warnings and strict_feedback:
        raise ExternalFailure(f"--strict-feedback: {len(warnings)} GitHub feedback call(s) failed")
