"""The one place where errors become a line, an exit code and, for bugs, a log entry."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import typer

from pipeline_kit.model.errors import ConstraintFailed, PipelineKitError

ERROR_LOG = Path(".pipeline-kit") / "error.log"


def annotate(message: str, level: str = "error") -> None:
    """Under GitHub Actions, also an ``::error::`` (or ``::warning::``) annotation, escaped as
    the runner expects."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        escaped = message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        sys.stdout.write(f"::{level}::{escaped}\n")


def _say(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    annotate(message)


def run(app: typer.Typer, argv: list[str] | None = None) -> int:
    try:
        result = app(args=argv, prog_name="pipeline-kit", standalone_mode=False)
    except ConstraintFailed as exc:
        if len(exc.violations) == 1:
            _say(str(exc))
        else:
            _say(f"refused: {len(exc.violations)} violations; nothing was changed")
            for violation in exc.violations:
                sys.stderr.write(f"  ✗ {violation}\n")
        return exc.exit_code
    except PipelineKitError as exc:
        _say(str(exc))
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        _say("aborted")
        return 130
    except typer.TyperException as exc:  # usage: unknown option, missing argument, bad value
        _say(exc.format_message().replace("\n", " "))
        return 2
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback in the log
        return _bug(exc)
    return result if isinstance(result, int) else 0


def _bug(exc: BaseException) -> int:
    where = ERROR_LOG
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        with where.open("a") as log:
            log.write("".join(traceback.format_exception(exc)))
    except OSError:
        where = Path("(could not write .pipeline-kit/error.log)")
    _say(f"internal error {type(exc).__name__}: {exc} (traceback in {where}); please report it")
    return 4
