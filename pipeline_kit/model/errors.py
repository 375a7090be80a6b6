"""The one base error of pipeline-kit and its kinds, each with its documented exit code."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline_kit.model.constraints import Violation


class PipelineKitError(Exception):
    """Base of every error pipeline-kit reports to a user in one line."""

    exit_code = 4


class InvalidInput(PipelineKitError):
    """Bad input or usage: a malformed name, version, file or config (exit 2)."""

    exit_code = 2


class Refused(PipelineKitError):
    """A check refused the change, e.g. an immutable release; nothing was changed (exit 1)."""

    exit_code = 1


class ConstraintFailed(Refused):
    """A plan breaks one or more constraints; nothing was changed (exit 1)."""

    exit_code = 1

    def __init__(self, violations: Sequence[Violation], what: str = "refused") -> None:
        self.violations = tuple(violations)
        count = len(self.violations)
        lines = "; ".join(str(v) for v in self.violations)
        super().__init__(f"{what}: {count} violation{'s' if count != 1 else ''}: {lines}")
