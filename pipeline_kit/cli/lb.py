"""``lb render|apply|status``: the HAProxy in front of the endpoints."""

from __future__ import annotations

import typer

from pipeline_kit.cli.options import Json, settings


def render_config() -> None:
    """Print the HAProxy config of the current state (the same state, the same bytes)."""
    from pipeline_kit.pipeline import balancer

    typer.echo(balancer.render(settings()), nl=False)


def apply() -> None:
    """Validate the config, write it and start or reload HAProxy without dropping a request."""
    from pipeline_kit.pipeline import balancer

    done = balancer.apply(settings())
    typer.echo(f"HAProxy {done.verdict}: {done.path}")
    if not done.drained:
        typer.echo("warning: connections of the previous config are still open", err=True)


def status(json: Json = False) -> None:
    """Every server: up or down, weight, current and total sessions (HAProxy's stats)."""
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline import balancer

    rows = balancer.status(settings())
    if json:
        render.emit_json([vars(r) for r in rows])
        return
    columns = ("backend", "server", "address", "status", "weight", "sessions", "total")
    table = render.new_table("HAProxy servers", *columns, right=("weight", "sessions", "total"))
    for r in rows:
        table.add_row(
            r.backend, r.server, r.address, r.status, str(r.weight), str(r.sessions), str(r.total)
        )
    render.console.print(table)
