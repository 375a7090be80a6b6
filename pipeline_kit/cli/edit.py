"""Writes of the state model: each parses, calls ``pipeline.changes``, renders the plan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline_kit.cli.options import DryRun, Stage, settings, show_outcome


def init() -> None:
    """Write pipeline-kit.toml (when there is none) and create the state database."""
    from pipeline_kit.pipeline.manage import init as do_init

    for line in do_init(settings(), Path.cwd()):
        typer.echo(line)


def service_add(
    name: str,
    image: Annotated[str, typer.Option(help="Image repository, e.g. example/webapp.")],
    stacks: Annotated[int, typer.Option(help="Number of identical stacks.")] = 1,
    version: Annotated[list[str], typer.Option(help="Versions from prod upward; padded.")] = [],  # noqa: B006
    host: Annotated[list[str], typer.Option(help="Hosts for the stacks, round-robin.")] = [],  # noqa: B006
    dry_run: DryRun = False,
) -> None:
    """Add a service with identical stacks (fewer versions than min_height are padded)."""
    from pipeline_kit.pipeline import changes

    config = settings()
    outcome = changes.add_service(config, name, image, stacks, version, host, dry_run)
    show_outcome(outcome, config)


def stack_add(
    service: str,
    host: Annotated[str | None, typer.Option(help="Host of the new stack.")] = None,
    dry_run: DryRun = False,
) -> None:
    """Add a stack identical to the others."""
    from pipeline_kit.pipeline import changes

    config = settings()
    show_outcome(changes.add_stack(config, service, host, dry_run), config)


def stack_remove(
    service: str,
    stack: Annotated[int | None, typer.Option(help="Stack index (default: the last).")] = None,
    dry_run: DryRun = False,
) -> None:
    """Remove a stack."""
    from pipeline_kit.pipeline import changes

    config = settings()
    show_outcome(changes.remove_stack(config, service, stack, dry_run), config)


def endpoint_add(
    name: str,
    service: Annotated[str, typer.Option(help="The main service behind it.")],
    port: Annotated[int, typer.Option(help="Public port.")],
    stage: Stage,
    dry_run: DryRun = False,
) -> None:
    """Add an endpoint bound to a stage of a main service."""
    from pipeline_kit.pipeline import changes

    config = settings()
    show_outcome(changes.add_endpoint(config, name, service, port, stage, dry_run), config)


def connect(
    parent: str,
    child: Annotated[str, typer.Option(help="Child service.")],
    endpoint: Annotated[str, typer.Option(help="Endpoint whose trees get the edge.")],
    stage: Annotated[str | None, typer.Option(help="Child position in that tree.")] = None,
    dry_run: DryRun = False,
) -> None:
    """Add parent → child to the service trees of an endpoint."""
    from pipeline_kit.pipeline import changes

    config = settings()
    show_outcome(changes.connect(config, parent, child, endpoint, stage, dry_run), config)


def push(service: str, version: str, dry_run: DryRun = False) -> None:
    """Push VERSION onto every stack of SERVICE."""
    from pipeline_kit.pipeline import changes

    config = settings()
    show_outcome(changes.push(config, service, version, dry_run), config)


def pop(service: str, stage: Stage, dry_run: DryRun = False) -> None:
    """Remove STAGE's position from every stack; everything above shifts down one."""
    from pipeline_kit.pipeline import changes

    config = settings()
    show_outcome(changes.pop(config, service, stage, dry_run), config)


def replace_stage(
    service: str,
    stage: Stage,
    with_: Annotated[str, typer.Option("--with", help="'above' or 'below'.")],
    dry_run: DryRun = False,
) -> None:
    """Replace the container at STAGE by the version above or below it."""
    from pipeline_kit.pipeline import changes

    config = settings()
    show_outcome(changes.replace_stage(config, service, stage, with_, dry_run), config)


def rollback(
    service: str,
    stage: Annotated[str | None, typer.Option(help="Stage (default: the lowest).")] = None,
    to: Annotated[str | None, typer.Option(help="Version (default: the previous one).")] = None,
    dry_run: DryRun = False,
) -> None:
    """Put an older version back into a stage; the bad one is marked rejected."""
    from pipeline_kit.pipeline import changes

    config = settings()
    show_outcome(changes.rollback(config, service, stage, to, dry_run), config)


def switch(endpoint: str, stage: Stage, dry_run: DryRun = False) -> None:
    """Bind ENDPOINT to the tree of another stage."""
    from pipeline_kit.pipeline import changes

    config = settings()
    show_outcome(changes.switch(config, endpoint, stage, dry_run), config)


def approve(
    service: str,
    version: str,
    stage: Stage,
    by: Annotated[
        str | None, typer.Option("--by", help="Who signs off (under CI: the CI's identity).")
    ] = None,
    dry_run: DryRun = False,
) -> None:
    """Approve VERSION of SERVICE for STAGE (once per person; see [gates] approvals)."""
    from pipeline_kit.pipeline import signoff

    config = settings()
    show_outcome(signoff.approve(config, service, version, stage, by, dry_run), config)


def reject(
    service: str,
    version: str,
    reason: Annotated[str, typer.Option(help="Why it must never enter a stage again.")],
    dry_run: DryRun = False,
) -> None:
    """Mark VERSION as rejected: it may never enter a stage again."""
    from pipeline_kit.pipeline import changes

    config = settings()
    show_outcome(changes.reject(config, service, version, reason, dry_run), config)
