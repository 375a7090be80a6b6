"""``freeze`` / ``unfreeze`` (stop the line now) and ``show freezes``."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline_kit.cli.options import DryRun, Json, Stage, settings, show_outcome

Service = Annotated[str | None, typer.Argument(help="One service (default: every service).")]
By = Annotated[str | None, typer.Option("--by", help="Who (under CI: the CI's identity).")]


def freeze(
    stage: Stage,
    service: Service = None,
    reason: Annotated[str | None, typer.Option(help="Why: shown to everyone refused.")] = None,
    by: By = None,
    dry_run: DryRun = False,
) -> None:
    """Freeze STAGE now (for SERVICE, or every service) until 'pipeline-kit unfreeze'."""
    from pipeline_kit.pipeline import signoff

    config = settings()
    show_outcome(signoff.freeze(config, service, stage, reason, by, dry_run), config)


def unfreeze(stage: Stage, service: Service = None, by: By = None, dry_run: DryRun = False) -> None:
    """End the immediate freeze of STAGE (configured [[freeze]] windows stay)."""
    from pipeline_kit.pipeline import signoff

    config = settings()
    show_outcome(signoff.freeze(config, service, stage, None, by, dry_run, end=True), config)


def freezes(json: Json = False) -> None:
    """What is frozen now (immediate freezes and [[freeze]] windows) and what is scheduled."""
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline import signoff

    rows = signoff.freezes(settings())
    if json:
        render.emit_json(rows)
        return
    table = render.new_table("freezes", "stage", "service", "state", "reason", "from", "until")
    for r in rows:
        state = "frozen now" if r["active"] else "scheduled"
        who = f" (by {r['by']})" if r["by"] else ""
        until = r["until"] or "until unfrozen"
        table.add_row(r["stage"], r["service"], state, r["reason"] + who, r["from"] or "-", until)
    render.console.print(table)
