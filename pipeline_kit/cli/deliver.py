"""Delivery: ``release`` (tag → image → promotion), ``deploy``, ``verify``, ``upstream``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline_kit.cli.options import Json, JunitDir, StrictFeedback, settings

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print what would change; change nothing.")]
Services = Annotated[list[str] | None, typer.Argument(help="Services (default: all).")]


def deploy(services: Services = None, dry_run: DryRun = False) -> None:
    """Make the hosts match the state: start what is missing, remove what it doesn't know."""
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline import commands

    drift, notes = commands.deploy(settings(), services or None, dry_run)
    for line in notes:
        render.note(line)
    for d in drift:
        verb = "remove" if d.kind == "unknown" else "start"
        done = "would " + verb if dry_run else verb.rstrip("e") + "ed"
        render.console.print(
            f"{done} {d.container} on {d.host} ({d.kind}: {d.detail})", markup=False
        )
    if not drift:
        render.console.print("deploy: the hosts match the state", markup=False)
    elif dry_run:
        render.console.print("dry run: nothing changed", markup=False)


def verify(services: Services = None, json: Json = False, junit_dir: JunitDir = None) -> None:
    """Report drift: missing, unhealthy, unknown or wrong-version containers (exit 1)."""
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline import commands

    found, written = commands.verify(settings(), services or None, junit_dir)
    if json:
        render.emit_json({"checked": found.checked, "drift": [vars(d) for d in found.drift]})
    else:
        for d in found.drift:
            render.console.print(f"{d.kind}: {d.container} on {d.host}: {d.detail}", markup=False)
        verdict = f"{len(found.drift)} drift(s)" if found.drift else "no drift"
        render.console.print(
            f"verify: {found.checked} container(s) checked, {verdict}", markup=False
        )
    if written is not None:
        render.note(f"junit: wrote {len(written)} file(s) to {junit_dir}")
    for warning in found.warnings:
        render.note(f"warning: {warning}")
    if found.drift:
        raise typer.Exit(1)


def upstream(service: str, json: Json = False) -> None:
    """The registry's versions of a service's image, with the stages that run them."""
    from pipeline_kit.cli import render
    from pipeline_kit.pipeline import commands

    found = commands.upstream(settings(), service)
    if json:
        render.emit_json([vars(u) | {"stages": list(u.stages)} for u in found])
        return
    for u in found:
        stages = ", ".join(u.stages)
        render.console.print(
            f"{u.version:<24} {'deployed: ' + stages if stages else ''}".rstrip(), markup=False
        )
    if not found:
        render.console.print(f"no versions of {service} in the registry", markup=False)


def release(
    tag: Annotated[
        str | None,
        typer.Option(help="The tag (default: GITHUB_REF, TAG_NAME, or the tag at HEAD)."),
    ] = None,
    repo: Annotated[Path, typer.Option(help="The git checkout to build.")] = Path("."),
    to: Annotated[
        str | None, typer.Option(help="Stage to promote into (default: the top one).")
    ] = None,
    no_promote: Annotated[bool, typer.Option("--no-promote", help="Build and push only.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite a version already pushed with other content.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check and print the plan; build, push and change nothing."),
    ] = False,
    junit_dir: JunitDir = None,
    strict_feedback: StrictFeedback = False,
) -> None:
    """Build the image of a release tag, push it, and promote it into a stage.

    The first release of a service creates it with every stage at the tag's version.
    """
    from pipeline_kit.cli import render
    from pipeline_kit.cli.finish import end
    from pipeline_kit.cli.progress import make_progress
    from pipeline_kit.pipeline import commands

    config = settings()
    with make_progress(render.notes) as progress:
        done = commands.release(
            config, repo, tag, to, not no_promote, force, progress, junit_dir, dry_run
        )
    released = done.released
    if released.pushed:
        render.console.print(f"pushed {released.reference} ({released.digest})", markup=False)
    elif released.digest is not None:
        render.console.print(
            f"{released.reference} is already in the registry with the same content "
            f"({released.digest}): nothing to push",
            markup=False,
        )
    elif dry_run:
        render.console.print(f"would build and push {released.reference}", markup=False)
    outcome = released.run.outcome
    if outcome is not None and (released.digest is not None or dry_run):
        for line in outcome.notes:
            render.note(line)
        render.plan(outcome.plan, config.policy, outcome.applied, config.runtime.kind)
    elif dry_run and released.run.error is None:
        render.console.print("dry run: nothing changed", markup=False)
    end(done.finished, junit_dir, strict_feedback)
