"""Commands beyond the state model: deploy, verify, upstream, release; state export/import."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline_kit.cli.reporting import JunitDir, StrictFeedback

if TYPE_CHECKING:
    from pipeline_kit.config import Settings

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print what would change; change nothing.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Services = Annotated[list[str] | None, typer.Argument(help="Services (default: all).")]


def register(app: typer.Typer, settings: Callable[[], Settings]) -> None:
    """Add the delivery commands to ``app``."""

    @app.command()
    def deploy(services: Services = None, dry_run: DryRun = False) -> None:
        """Make the hosts match the state: start what is missing, remove what it doesn't know."""
        from pipeline_kit.cli import render
        from pipeline_kit.pipeline.manage import open_store
        from pipeline_kit.pipeline.reconcile import deploy as run_deploy

        config = settings()
        store = open_store(config)
        try:
            drift = run_deploy(config, store, services or None, dry_run, render.note)
        finally:
            store.dispose()
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

    @app.command()
    def verify(services: Services = None, json: Json = False, junit_dir: JunitDir = None) -> None:
        """Report drift: missing, unhealthy, unknown or wrong-version containers (exit 1)."""
        from pipeline_kit.cli import render
        from pipeline_kit.pipeline.manage import open_store
        from pipeline_kit.pipeline.reconcile import verify as run_verify
        from pipeline_kit.report import junit
        from pipeline_kit.report.results import Report

        config = settings()
        store = open_store(config)
        try:
            found = run_verify(config, store, services or None)
        finally:
            store.dispose()
        if json:
            render.emit_json({"checked": found.checked, "drift": [vars(d) for d in found.drift]})
        else:
            for d in found.drift:
                render.console.print(
                    f"{d.kind}: {d.container} on {d.host}: {d.detail}", markup=False
                )
            verdict = f"{len(found.drift)} drift(s)" if found.drift else "no drift"
            render.console.print(
                f"verify: {found.checked} container(s) checked, {verdict}", markup=False
            )
        if junit_dir is not None:
            report = Report("verify", config.policy.stages, tuple(found.results))
            written = junit.write(report, junit_dir)
            render.note(f"junit: wrote {len(written)} file(s) to {junit_dir}")
        if found.drift:
            raise typer.Exit(1)

    @app.command()
    def upstream(service: str, json: Json = False) -> None:
        """The registry's versions of a service's image, with the stages that run them."""
        from pipeline_kit.cli import render
        from pipeline_kit.pipeline.release import upstream as run_upstream

        found = run_upstream(settings(), service)
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

    @app.command()
    def release(
        tag: Annotated[
            str | None,
            typer.Option(help="The tag (default: GITHUB_REF, TAG_NAME, or the tag at HEAD)."),
        ] = None,
        repo: Annotated[Path, typer.Option(help="The git checkout to build.")] = Path("."),
        to: Annotated[
            str | None, typer.Option(help="Stage to promote into (default: the top one).")
        ] = None,
        no_promote: Annotated[
            bool, typer.Option("--no-promote", help="Build and push only.")
        ] = False,
        force: Annotated[
            bool,
            typer.Option("--force", help="Overwrite a version already pushed with other content."),
        ] = False,
        junit_dir: JunitDir = None,
        strict_feedback: StrictFeedback = False,
    ) -> None:
        """Build the image of a release tag, push it, and promote it into a stage."""
        from pipeline_kit.cli import render
        from pipeline_kit.cli.progress import make_progress
        from pipeline_kit.cli.reporting import finish
        from pipeline_kit.pipeline.release import release as run_release

        config = settings()
        with make_progress(render.notes) as progress:
            done = run_release(config, repo, tag, to, not no_promote, force, progress)
        if done.pushed:
            render.console.print(f"pushed {done.reference} ({done.digest})", markup=False)
        elif done.digest is not None:
            render.console.print(
                f"{done.reference} is already in the registry with the same content "
                f"({done.digest}): nothing to push",
                markup=False,
            )
        outcome = done.run.outcome
        if outcome is not None and done.digest is not None:
            for note in outcome.notes:
                render.note(note)
            render.plan(outcome.plan, config.policy, outcome.applied, config.runtime.kind)
        finish(done.run, config, junit_dir, strict_feedback, {"image": done.reference})

    del deploy, verify, upstream, release


def register_state(state_app: typer.Typer, settings: Callable[[], Settings]) -> None:
    """``state export`` and ``state import``."""

    @state_app.command("export")
    def state_export(file: Path) -> None:
        """Write the whole state and history to FILE (versioned JSON)."""
        from pipeline_kit.pipeline.manage import export_state

        count = export_state(settings(), file)
        typer.echo(f"exported {count} services to {file}")

    @state_app.command("import")
    def state_import(file: Path) -> None:
        """Reproduce an exported environment in an empty state database."""
        from pipeline_kit.pipeline.manage import import_state

        count = import_state(settings(), file)
        typer.echo(f"imported {count} services from {file}")

    del state_export, state_import
