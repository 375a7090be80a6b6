"""How every reporting command ends on the console: JUnit note, the per-stage table, feedback
warnings; then the command's error, if it had one."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_kit.cli.errors import annotate
from pipeline_kit.errors import ExternalFailure

if TYPE_CHECKING:
    from pipeline_kit.pipeline.commands import Finished


def _warn(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")
    annotate(message, "warning")


def end(
    finished: Finished, junit_dir: Path | None, strict_feedback: bool, table: bool = True
) -> None:
    """Render the end of a reporting command and fail as it did."""
    from pipeline_kit.cli import render

    written = finished.concluded.junit
    if junit_dir is not None and written is not None:
        render.note(f"junit: wrote {len(written)} file(s) to {junit_dir}")
    if table:
        render.stage_table(finished.run.report)
    warnings = finished.concluded.warnings
    for warning in [*warnings, *finished.concluded.notices]:
        _warn(warning)
    if finished.run.error is not None:
        raise finished.run.error
    if warnings and strict_feedback:
        raise ExternalFailure(f"--strict-feedback: {len(warnings)} GitHub feedback call(s) failed")
