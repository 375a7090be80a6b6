"""Commands that report per stage (JUnit, GitHub feedback): promote and the PR check."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline_kit.cli.reporting import JunitDir, StrictFeedback

if TYPE_CHECKING:
    from pipeline_kit.config import Settings

DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the exact plan; change nothing.")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def register(app: typer.Typer, settings: Callable[[], Settings]) -> None:
    """Add ``promote`` and ``check`` to ``app``."""

    @app.command()
    def promote(
        service: str,
        version: Annotated[
            str | None, typer.Argument(help="New version (default: the top one).")
        ] = None,
        to: Annotated[
            str, typer.Option("--to", help="Stage that receives the version below it.")
        ] = "",
        dry_run: DryRun = False,
        canary: Annotated[
            int | None,
            typer.Option(
                "--canary", min=1, max=99, help="Send PERCENT of the stage's traffic first."
            ),
        ] = None,
        continue_: Annotated[
            bool, typer.Option("--continue", help="Complete the canary of SERVICE.")
        ] = False,
        abort: Annotated[
            bool, typer.Option("--abort", help="End the canary: all traffic back.")
        ] = False,
        junit_dir: JunitDir = None,
        strict_feedback: StrictFeedback = False,
    ) -> None:
        """Push VERSION and pop the --to stage, atomically: every stage moves one step.

        With --canary PERCENT the stage first sends that share of its traffic to the
        incoming version; --continue completes the promotion, --abort goes back.
        """
        from pipeline_kit.cli import render
        from pipeline_kit.cli.reporting import finish
        from pipeline_kit.pipeline import promotion

        config = settings()
        if continue_ and abort:
            raise typer.BadParameter("give --continue or --abort, not both")
        if abort:
            gone = promotion.canary_abort(config, service)
            render.console.print(
                f"canary aborted: {service} {gone} removed, all traffic back", markup=False
            )
            return
        if continue_:
            run = promotion.canary_continue(config, service)
        else:
            if not to:
                raise typer.BadParameter("--to STAGE is required", param_hint="--to")
            build = promotion.promote_build(service, to, version)
            run = promotion.promote_run(config, "promote", service, build, dry_run, canary=canary)
        if run.outcome is not None:
            for note in run.outcome.notes:
                render.note(note)
            verdict = None
            if canary is not None and run.error is None and not dry_run:
                verdict = (
                    f"canary: {canary}% of {to}'s traffic goes to the incoming version, nothing "
                    f"is committed; 'pipeline-kit promote {service} --continue' completes it, "
                    "--abort goes back"
                )
            render.plan(
                run.outcome.plan, config.policy, run.outcome.applied, config.runtime.kind, verdict
            )
        finish(run, config, junit_dir, strict_feedback)

    @app.command()
    def check(
        version: Annotated[
            str | None, typer.Option(help="Also dry-run promoting this version into the top stage.")
        ] = None,
        from_git: Annotated[
            bool,
            typer.Option("--from-git", help="The version from the release tag at or before HEAD."),
        ] = False,
        config_file: Annotated[
            Path | None,
            typer.Option("--config", help="The config to check (default: the one found)."),
        ] = None,
        json: Json = False,
        junit_dir: JunitDir = None,
        strict_feedback: StrictFeedback = False,
    ) -> None:
        """Check the state against the config (a branch's), and its version's promotion.

        Reports every violation, with file:line when it comes from the config; exit 1 on any.
        """
        import os

        from pipeline_kit.cli import render
        from pipeline_kit.cli.reporting import finish
        from pipeline_kit.pipeline.check import proposed_settings, run_check

        config = proposed_settings(config_file, os.environ)
        commit = os.environ.get("GITHUB_SHA") or None
        run = run_check(config, version, from_git, Path.cwd(), commit)
        report = run.report
        failed = report.failures
        if json:
            render.emit_json(
                {
                    "version": report.version,
                    "service": report.service,
                    "ok": report.ok,
                    "checks": len(report.results),
                    "violations": [
                        {
                            "stage": r.stage,
                            "constraint": r.name,
                            "kind": r.kind,
                            "message": r.message,
                            "file": r.file,
                            "line": r.line,
                        }
                        for r in failed
                    ],
                }
            )
        else:
            for r in failed:
                where = f"{r.file}:{r.line}: " if r.file and r.line else ""
                render.console.print(f"  ✗ {where}[{r.name}] {r.stage}: {r.message}", markup=False)
        finish(run, config, junit_dir, strict_feedback, table=not json)

    del promote, check
