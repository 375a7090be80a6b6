"""``lb render|apply|status``: the HAProxy in front of the endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pipeline_kit.config import Settings

Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(app: typer.Typer, settings: Callable[[], Settings]) -> None:
    """Add the ``lb`` commands to ``app``."""
    lb_app = typer.Typer(help="The HAProxy in front of the endpoints.", no_args_is_help=True)
    app.add_typer(lb_app, name="lb")

    def whole_state(config: Settings, validate: bool = False) -> str:
        """The config of the whole state with its running canaries."""
        from pipeline_kit.pipeline import routing
        from pipeline_kit.pipeline.manage import open_store

        store = open_store(config)
        try:
            state, canaries = routing.current(config, store)
        finally:
            store.dispose()
        if validate:
            return routing.prepare(config, state, canaries)
        return routing.config_of(config, state, canaries)

    @lb_app.command("render")
    def render_cmd() -> None:
        """Print the HAProxy config of the current state (the same state, the same bytes)."""
        typer.echo(whole_state(settings()), nl=False)

    @lb_app.command("apply")
    def apply_cmd() -> None:
        """Validate the config, write it and start or reload HAProxy without dropping a request."""
        from pipeline_kit.pipeline import routing

        config = settings()
        text = whole_state(config, validate=True)
        proxy = routing.haproxy(config)
        was_running = proxy.running()
        switched = routing.switch(config, text)
        if not switched.changed:
            verdict = "already runs this config"
        else:
            verdict = "reloaded" if was_running else "started"
        typer.echo(f"HAProxy {verdict}: {proxy.config_path}")
        if not switched.drained:
            typer.echo("warning: connections of the previous config are still open", err=True)

    @lb_app.command("status")
    def status_cmd(json: Json = False) -> None:
        """Every server: up or down, weight, current and total sessions (HAProxy's stats)."""
        from pipeline_kit.cli import render
        from pipeline_kit.pipeline import routing

        rows = routing.status(settings())
        if json:
            render.emit_json([vars(r) for r in rows])
            return
        from rich.table import Table

        table = Table(title="HAProxy servers")
        for name in ("backend", "server", "address", "status", "weight", "sessions", "total"):
            table.add_column(name)
        for r in rows:
            table.add_row(
                r.backend, r.server, r.address, r.status, str(r.weight), str(r.sessions),
                str(r.total),
            )  # fmt: skip
        render.console.print(table)

    del render_cmd, apply_cmd, status_cmd
