"""``dashboard`` (a static site of the state and history) and ``show metrics``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline_kit.cli.options import Json, settings

if TYPE_CHECKING:
    from pipeline_kit.metrics import Metrics

Now = Annotated[
    str | None,
    typer.Option("--now", help="The time the pages are computed at (ISO 8601); default: now."),
]


def dashboard(
    out: Annotated[Path, typer.Option("--out", help="The folder to write the site into.")],
    now: Now = None,
) -> None:
    """Write the dashboard (board, a page per service, timeline, metrics) into --out."""
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline.dashboard import parse_now, write

    written = write(settings(), out, parse_now(now))
    render.console.print(
        f"dashboard: {len(written)} file(s) in {out}; open {out / 'index.html'}", markup=False
    )


def metrics(
    service: Annotated[str | None, typer.Argument(help="Only this service.")] = None,
    days: Annotated[int, typer.Option("--days", help="The window, in days before now.")] = 30,
    now: Now = None,
    json: Json = False,
) -> None:
    """Delivery metrics into the most trusted stage: deployments, lead time, failures, restore."""
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline.dashboard import metrics as compute
    from pipeline_kit.pipeline.dashboard import parse_now

    found = compute(settings(), service, days, parse_now(now))
    if json:
        render.emit_json(
            {
                "stage": found.stage,
                "overall": found.overall.as_json(),
                "services": {n: m.as_json() for n, m in found.services.items()},
            }
        )
        return
    _table(found.stage, found.overall, found.services)


def _table(stage: str, overall: Metrics, services: dict[str, Metrics]) -> None:
    """``show metrics``: one row per service and one for all of them."""
    from pipeline_kit.cli.render import console, new_table
    from pipeline_kit.metrics import duration_text, rate_text

    columns = ("service", "deployments", "per day", "lead time", "failure rate", "rollbacks")
    table = new_table(
        f"delivery into {stage}, last {overall.days} days",
        *columns,
        "time to restore",
        right=columns[1:],
    )
    rows = [*services.items()] + ([("(all)", overall)] if len(services) != 1 else [])
    for name, m in rows:
        table.add_row(
            name,
            str(m.deployments),
            f"{m.per_day:.2f}",
            duration_text(m.lead_time),
            rate_text(m.failure_rate),
            str(m.rollbacks),
            duration_text(m.restore),
        )
    console.print(table)
