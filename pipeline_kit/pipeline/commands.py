"""The commands that report, each as one call: open the command's unit of work, do the work,
conclude (JUnit, runner files, GitHub feedback). The CLI renders what they return."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline_kit.config_types import Settings
from pipeline_kit.model.errors import InvalidInput, PipelineKitError
from pipeline_kit.pipeline.conclude import Concluded, conclude
from pipeline_kit.pipeline.promotion import Run
from pipeline_kit.pipeline.unit import Unit
from pipeline_kit.runtime.build import Progress

if TYPE_CHECKING:
    from pipeline_kit.pipeline.reconcile import Drift, Survey
    from pipeline_kit.pipeline.release import Released, Upstream


@dataclass(frozen=True)
class Finished:
    """A reporting command's run and what its end wrote and sent."""

    run: Run
    concluded: Concluded
    canary: int | None = None  # the share a canary's start gave the incoming version


def promote(
    settings: Settings,
    service: str,
    version: str | None,
    to: str,
    dry_run: bool,
    canary: str | None,
    junit_dir: Path | None,
    pause: bool = False,
    override: str | None = None,
) -> Finished:
    """``promote SERVICE [VERSION] --to STAGE [--canary STEPS [--pause]]
    [--override-freeze --reason R]``."""
    from pipeline_kit.pipeline import notify
    from pipeline_kit.pipeline.promotion import promote_build, promote_run
    from pipeline_kit.pipeline.rollout.ramp import parse
    from pipeline_kit.pipeline.signoff import overriding

    if not to:
        raise InvalidInput("--to STAGE is required")
    if pause and canary is None:
        raise InvalidInput("--pause needs --canary STEPS")
    ramp = parse(canary, pause) if canary is not None else ()
    hook = None if dry_run else notify.notifier(settings)
    if hook is not None:
        hook.send(notify.STARTED, service, version or "", to, "started")
    try:
        with Unit(settings) as unit:
            build = overriding(promote_build(service, to, version), override)
            run = promote_run(unit, "promote", service, build, dry_run, ramp=ramp)
            shown = run.outcome.canary if run.outcome is not None and run.error is None else None
            concluded = conclude(run, settings, junit_dir)
    except PipelineKitError as exc:  # ended before a plan: an unknown service, a lock…
        if hook is not None:
            hook.send(notify.FAILED, service, version or "", to, str(exc).split("\n")[0])
        raise
    if hook is not None:
        if shown is None:  # a paused canary concludes nothing yet: its --continue does
            hook.concluded(run)
        concluded.notices = hook.warnings
    return Finished(run, concluded, shown)


def promote_continue(settings: Settings, service: str, junit_dir: Path | None) -> Finished:
    """``promote SERVICE --continue``: complete its canary."""
    from pipeline_kit.pipeline import notify
    from pipeline_kit.pipeline.promotion import canary_continue

    hook = notify.notifier(settings)
    with Unit(settings) as unit:
        run = canary_continue(unit, service)
        shown = run.outcome.canary if run.outcome is not None else None
        concluded = conclude(run, settings, junit_dir)
    if hook is not None:
        if shown is None:
            hook.concluded(run)
        concluded.notices = hook.warnings
    return Finished(run, concluded, shown)


def promote_abort(settings: Settings, service: str) -> str:
    """``promote SERVICE --abort``: end its canary; the version that was coming in."""
    from pipeline_kit.pipeline.promotion import canary_abort

    with Unit(settings) as unit:
        return canary_abort(unit, service)


def check(
    config_file: Path | None,
    version: str | None,
    from_git: bool,
    junit_dir: Path | None,
    environ: Mapping[str, str] | None = None,
) -> Finished:
    """``check``: the proposed config against the state, and the branch's version."""
    from pipeline_kit.pipeline.check import proposed_settings, run_check

    env = os.environ if environ is None else environ
    settings = proposed_settings(config_file, env)
    run = run_check(settings, version, from_git, Path.cwd(), env.get("GITHUB_SHA") or None)
    return Finished(run, conclude(run, settings, junit_dir, environ=env))


@dataclass(frozen=True)
class ReleaseDone:
    """A release, and what its end wrote and sent."""

    released: Released
    finished: Finished


def release(
    settings: Settings,
    repo: Path,
    tag: str | None,
    to: str | None,
    promote: bool,
    force: bool,
    progress: Progress,
    junit_dir: Path | None,
    dry_run: bool = False,
) -> ReleaseDone:
    """``release``: build and push the tag's image, then promote it (the first release of a
    service creates it); ``dry_run``: check and plan only."""
    from pipeline_kit.pipeline import notify
    from pipeline_kit.pipeline.release import release as run_release

    hook = None if dry_run or not promote else notify.notifier(settings)

    def started(service: str, version: str, stage: str) -> None:
        if hook is not None:
            hook.send(notify.STARTED, service, version, stage, "started")

    with Unit(settings) as unit:
        done = run_release(
            unit, repo, tag, to, promote, force, progress, dry_run=dry_run, started=started
        )
        outputs = {"image": done.reference}
        concluded = conclude(done.run, settings, junit_dir, outputs)
    if hook is not None and done.digest is not None:  # it promoted: report how that ended
        hook.concluded(done.run)
        concluded.notices = hook.warnings
    return ReleaseDone(done, Finished(done.run, concluded))


def verify(
    settings: Settings, services: list[str] | None, junit_dir: Path | None
) -> tuple[Survey, list[Path] | None]:
    """``verify``: drift between the state and the hosts; the JUnit files, when asked for."""
    from pipeline_kit.pipeline.reconcile import verify as survey
    from pipeline_kit.report import junit
    from pipeline_kit.report.results import Report

    with Unit(settings) as unit:
        found = survey(unit, services)
        _record_health(unit, found)
    written = None
    if junit_dir is not None:
        report = Report("verify", settings.policy.stages, tuple(found.results))
        written = junit.write(report, junit_dir)
    return found, written


def _record_health(unit: Unit, found: Survey) -> None:
    """Keep the last result per container for the dashboard (the services checked)."""
    from datetime import UTC, datetime

    from pipeline_kit.errors import ExternalFailure
    from pipeline_kit.store import health
    from pipeline_kit.store.database import Scope

    services = {service for service, _, _ in found.health.values()}
    try:
        with unit.store.write(Scope(frozenset(services)), "verify") as session:
            health.record(session, services, found.health, datetime.now(UTC))
    except ExternalFailure as exc:  # e.g. a read-only database: the check itself stands
        found.warnings.append(f"the result was not kept for the dashboard: {exc}")


def deploy(
    settings: Settings, services: list[str] | None, dry_run: bool
) -> tuple[list[Drift], list[str]]:
    """``deploy``: make the hosts match the state; the drift acted on, and recovery notes."""
    from pipeline_kit.pipeline.reconcile import deploy as reconcile

    with Unit(settings) as unit:
        return reconcile(unit, services, dry_run)


def upstream(settings: Settings, service: str) -> list[Upstream]:
    """``upstream``: the registry's versions of a service, and where each runs."""
    from pipeline_kit.pipeline.release import upstream as versions

    with Unit(settings) as unit:
        return versions(unit, service)
