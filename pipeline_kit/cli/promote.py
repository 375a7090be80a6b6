"""``promote`` and ``check``: the commands that report per stage (JUnit, GitHub feedback)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline_kit.cli.options import DryRun, Json, JunitDir, StrictFeedback, settings

if TYPE_CHECKING:
    from pipeline_kit.config_types import Settings
    from pipeline_kit.pipeline.commands import Finished

Canary = Annotated[
    str | None,
    typer.Option(
        "--canary",
        metavar="STEPS",
        help="Send a share of the stage's traffic first: PERCENT, or a ramp such as 10,25,50 "
        "(25:pause waits there for --continue).",
    ),
]


def promote(
    service: str,
    version: Annotated[
        str | None, typer.Argument(help="New version (default: the top one).")
    ] = None,
    to: Annotated[str, typer.Option("--to", help="Stage that receives the version below it.")] = "",
    dry_run: DryRun = False,
    canary: Canary = None,
    pause: Annotated[
        bool, typer.Option("--pause", help="Wait for --continue after every canary step.")
    ] = False,
    continue_: Annotated[
        bool, typer.Option("--continue", help="Complete the canary of SERVICE.")
    ] = False,
    abort: Annotated[
        bool, typer.Option("--abort", help="End the canary: all traffic back.")
    ] = False,
    junit_dir: JunitDir = None,
    strict_feedback: StrictFeedback = False,
    override_freeze: Annotated[
        bool,
        typer.Option(
            "--override-freeze", help="Pass a freeze: needs the stage's approvals and --reason."
        ),
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why the freeze is overridden.")] = None,
) -> None:
    """Push VERSION and pop the --to stage, atomically: every stage moves one step.

    With --canary PERCENT the stage first sends that share of its traffic to the
    incoming version; --continue completes the promotion, --abort goes back. With a ramp
    (--canary 10,25,50) the share grows step by step, the stage's verification window
    running after each; a breach aborts it, success after the last step completes it.
    """
    from pipeline_kit.cli import render
    from pipeline_kit.cli.finish import end
    from pipeline_kit.pipeline import commands

    if continue_ and abort:
        raise typer.BadParameter("give --continue or --abort, not both")
    if not (continue_ or abort or to):
        raise typer.BadParameter("--to STAGE is required", param_hint="--to")
    config = settings()
    if abort:
        gone = commands.promote_abort(config, service)
        render.console.print(
            f"canary aborted: {service} {gone} removed, all traffic back", markup=False
        )
        return
    if continue_:
        finished = commands.promote_continue(config, service, junit_dir)
    else:
        if override_freeze and reason is None:
            raise typer.BadParameter("--override-freeze needs --reason TEXT", param_hint="--reason")
        override = reason if override_freeze else None
        finished = commands.promote(
            config, service, version, to, dry_run, canary, junit_dir, pause, override
        )
    _show(finished, config, service, to)
    end(finished, junit_dir, strict_feedback)


def _show(finished: Finished, config: Settings, service: str, to: str) -> None:
    """The notes and the plan of a promotion, and where its canary stands."""
    from pipeline_kit.cli import render

    outcome = finished.run.outcome
    if outcome is None:
        return
    for line in outcome.notes:
        render.note(line)
    verdict = None
    if finished.canary is not None:
        stage = to or "the stage"
        verdict = (
            f"canary: {finished.canary}% of {stage}'s traffic goes to the incoming version, "
            f"nothing is committed; 'pipeline-kit promote {service} --continue' completes "
            "it, --abort goes back"
        )
    kind = config.runtime.kind
    render.plan(outcome.plan, config.policy, outcome.applied, kind, verdict, outcome.configs)


def check(
    version: Annotated[
        str | None, typer.Option(help="Also dry-run promoting this version into the top stage.")
    ] = None,
    from_git: Annotated[
        bool, typer.Option("--from-git", help="The version from the release tag at or before HEAD.")
    ] = False,
    config_file: Annotated[
        Path | None, typer.Option("--config", help="The config to check (default: the one found).")
    ] = None,
    json: Json = False,
    junit_dir: JunitDir = None,
    strict_feedback: StrictFeedback = False,
) -> None:
    """Check the state against the config (a branch's), and its version's promotion.

    Reports every violation, with file:line when it comes from the config; exit 1 on any.
    """
    from pipeline_kit.cli import render
    from pipeline_kit.cli.finish import end
    from pipeline_kit.pipeline import commands

    finished = commands.check(config_file, version, from_git, junit_dir)
    report = finished.run.report
    approved = [r for r in report.results if r.name == "approval" and r.ok and r.message]
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
                    for r in report.failures
                ],
                "approvals": [{"stage": r.stage, "message": r.message} for r in approved],
            }
        )
    else:
        for r in report.failures:
            where = f"{r.file}:{r.line}: " if r.file and r.line else ""
            render.console.print(f"  ✗ {where}[{r.name}] {r.stage}: {r.message}", markup=False)
        for r in approved:
            render.console.print(f"  ✓ [{r.name}] {r.stage}: {r.message}", markup=False)
    end(finished, junit_dir, strict_feedback, table=not json)
