"""``host list|drain``: the configured Docker hosts."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline_kit.cli.options import DryRun, Json, settings, show_outcome


def list_hosts(json: Json = False) -> None:
    """Every host: its URL and address, the stacks and containers the state places there,
    the labelled containers its engine runs, and whether it answers (exit 3 if one does not)."""
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline import hosts

    views = hosts.listing(settings())
    if json:
        render.emit_json([vars(v) for v in views])
    else:
        columns = ("host", "url", "address", "stacks", "containers", "running", "answers")
        right = ("stacks", "containers", "running")
        table = render.new_table("Docker hosts", *columns, right=right)
        for v in views:
            running = "-" if v.running is None else str(v.running)
            answers = "yes" if v.error is None else f"no: {v.error}"
            table.add_row(
                v.name, v.url, v.address, str(v.stacks), str(v.containers), running, answers
            )
        render.console.print(table)
    failure = hosts.unreachable(views)
    if failure is not None:
        raise failure


def drain(
    host: Annotated[str, typer.Argument(help="The host to empty.")],
    dry_run: DryRun = False,
) -> None:
    """Move every stack off HOST to the least loaded other hosts, one service at a time,
    each through a blue-green rollout (for maintenance: nothing is dropped)."""
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline import hosts

    config = settings()
    done = hosts.drain(config, host, dry_run)
    if not done.outcomes:
        render.note(f"host {host} holds no stack: nothing to move")
    for outcome in done.outcomes:
        show_outcome(outcome, config)
