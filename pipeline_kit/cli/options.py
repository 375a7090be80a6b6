"""What every command shares: option types, the settings, and the rendering of a write."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pipeline_kit.config_types import Settings
    from pipeline_kit.pipeline.rollout import Outcome

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the exact plan; change nothing.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Stage = Annotated[str, typer.Option("--stage", help="Stage name or position number.")]
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


def settings() -> Settings:
    """The configuration found from the working directory (or PIPELINE_KIT_CONFIG)."""
    from pipeline_kit import config

    return config.load()


def show_outcome(outcome: Outcome, config: Settings, verdict: str | None = None) -> None:
    """Render a write: recovery notes, the plan, and exit 1 when it was refused."""
    from pipeline_kit.cli import render

    for line in outcome.notes:
        render.note(line)
    kind = config.runtime.kind
    render.plan(outcome.plan, config.policy, outcome.applied, kind, verdict, outcome.configs)
    if outcome.plan.violations:
        raise typer.Exit(1)
