"""``state export`` and ``state import``: the whole environment as one versioned JSON file."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline_kit.cli.options import settings


def export(file: Path) -> None:
    """Write the whole state and history to FILE (versioned JSON)."""
    from pipeline_kit.pipeline.manage import export_state

    count = export_state(settings(), file)
    typer.echo(f"exported {count} services to {file}")


def import_(file: Path) -> None:
    """Reproduce an exported environment in an empty state database."""
    from pipeline_kit.pipeline.manage import import_state

    count = import_state(settings(), file)
    typer.echo(f"imported {count} services from {file}")
