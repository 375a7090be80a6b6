"""Promotions that report: every check of a promote becomes a result, whatever the outcome.

The plan is made once, under the lock (a refusal is reported from that very plan and changes
nothing); the health check of every container it starts is a result too.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from pipeline_kit.config_types import Settings
from pipeline_kit.model.errors import ConstraintFailed, PipelineKitError
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline import rollout
from pipeline_kit.pipeline.effective import describe
from pipeline_kit.pipeline.rollout import Build, Flight, Outcome
from pipeline_kit.pipeline.rollout.ports import Checked
from pipeline_kit.pipeline.unit import Unit
from pipeline_kit.report.results import (
    Report,
    Result,
    Status,
    affected_stages,
    approval_notes,
    constraint_results,
)
from pipeline_kit.store.database import Scope


@dataclass
class Run:
    """A command's report, the outcome when it got that far, and the error that ended it."""

    report: Report
    outcome: Outcome | None = None
    error: PipelineKitError | None = None
    state: State | None = None  # the part of the state the command read (for feedback)


class CheckLog:
    """Collects the checks of an apply as results: each new container's health check, its
    smoke checks and hooks (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self.results: list[Result] = []

    def __call__(self, spec: Any, seconds: float, error: BaseException | None) -> None:
        stage = self._settings.policy.stage_name(spec.position)
        name = f"{spec.service}/{spec.stack} {spec.version}"
        if error is None:
            result = Result(stage, "health", name, "passed", f"healthy at {spec.address}", seconds)
        else:
            result = Result(stage, "health", name, "error", _line(error), seconds)
        with self._lock:
            self.results.append(result)

    def checked(self, check: Checked) -> None:
        """A smoke check or a hook the rollout ran."""
        status: Status = "passed" if check.ok else "failed"
        result = Result(check.stage, check.kind, check.name, status, check.message, check.seconds)
        with self._lock:
            self.results.append(result)


def _line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def versions_after(
    plan: Plan, service: str, settings: Settings, before: bool = False
) -> dict[str, str]:
    """Per stage, the version the service runs there after (or before) the plan."""
    svc = (plan.before if before else plan.after).services.get(service)
    if svc is None or not svc.stacks:
        return {}
    stack = svc.stacks[0]
    return {settings.policy.stage_name(p): c.version for p, c in enumerate(stack.containers)}


@dataclass(frozen=True)
class _Ask:
    """What a promotion was asked, for its report."""

    command: str
    service: str
    commit: str | None
    before: tuple[Result, ...]


def _report(
    settings: Settings, ask: _Ask, plan: Plan, applied: bool, extra: list[Result], error: str | None
) -> Report:
    target = str(plan.args.get("to") or settings.policy.stages[-1])
    stages = affected_stages(plan, settings.policy) or [target]
    notes = approval_notes(plan, settings.policy)
    checks = constraint_results(plan.violations, settings.policy, stages, target, passed=notes)
    return Report(
        ask.command,
        settings.policy.stages,
        (*ask.before, *checks, *extra),
        ask.service,
        str(plan.args.get("version") or ""),
        ask.commit,
        target,
        applied,
        error,
        versions_after(plan, ask.service, settings),
        versions_after(plan, ask.service, settings, before=True),
    )


def promote_run(
    unit: Unit,
    command: str,
    service: str,
    build: Build,
    dry_run: bool = False,
    commit: str | None = None,
    before: list[Result] | None = None,
    ramp: tuple[tuple[int, bool], ...] = (),
    snapshot: State | None = None,
) -> Run:
    """Plan ``build`` under the lock and apply it unless refused or ``dry_run``; report it all.

    A dry run plans on ``snapshot`` when given (a state the command has read already).
    """
    settings = unit.settings
    health = CheckLog(settings)
    canary = ramp[0][0] if ramp else None
    flight = Flight(Scope(frozenset({service})), build, canary, snapshot, ramp)
    began = time.monotonic()
    try:
        rig = unit.rig(observe=health, checked=health.checked)
        outcome = rollout.apply_flight(rig, flight, dry_run)
    except PipelineKitError as exc:
        if flight.plan is None:
            raise
        return _ended(
            settings, flight, _ask(settings, command, service, commit, before, flight), exc, health
        )
    plan = flight.need_plan()
    ask = _ask(settings, command, service, commit, before, flight)
    if plan.violations or dry_run:
        return _ended(settings, flight, ask, None, health)
    target = str(plan.args.get("to") or settings.policy.stages[-1])
    what = f"{len(outcome.plan.operations)} container operation(s)"
    if outcome.canary is not None:
        incoming = versions_after(plan, service, settings).get(target, "")
        share = outcome.canary
        what = f"canary: {share}% of {target}'s traffic to {incoming}, nothing committed yet"
    seconds = time.monotonic() - began
    applied = Result(target, "apply", f"{plan.action} {service}", "passed", what, seconds)
    final = outcome.plan if outcome.applied else plan
    report = _report(settings, ask, final, outcome.applied, [*health.results, applied], None)
    return Run(report, outcome, None, final.after)


def _ask(
    settings: Settings,
    command: str,
    service: str,
    commit: str | None,
    before: list[Result] | None,
    flight: Flight,
) -> _Ask:
    """What was asked, with the plan's own result first."""
    plan = flight.need_plan()
    target = str(plan.args.get("to") or settings.policy.stages[-1])
    seconds = flight.seconds.get("plan", flight.seconds.get("preview", 0.0))
    verdict = "refused" if plan.violations else "planned"
    planned = Result(target, "plan", f"{plan.action} {service}", "passed", verdict, seconds)
    return _Ask(command, service, commit, (*(before or []), planned))


def _ended(
    settings: Settings, flight: Flight, ask: _Ask, error: PipelineKitError | None, health: CheckLog
) -> Run:
    """A promotion refused, only planned, or failed while applying: nothing changed."""
    plan = flight.need_plan()
    if plan.violations:
        version = str(plan.args.get("version") or "")
        refused = ConstraintFailed(
            plan.violations, f"{ask.command} {ask.service} {version} refused"
        )
        report = _report(settings, ask, plan, False, [], str(refused))
        return Run(report, Outcome(plan, False), refused, plan.before)
    if error is None:  # a dry run
        shown = Outcome(plan, False, (), describe(settings, plan))
        return Run(_report(settings, ask, plan, False, [], None), shown, None, plan.after)
    target = str(plan.args.get("to") or settings.policy.stages[-1])
    failed = Result(target, "apply", f"{plan.action} {ask.service}", "error", str(error))
    unchanged = Plan(plan.action, plan.args, plan.before, plan.before)
    report = _report(settings, ask, unchanged, False, [*health.results, failed], str(error))
    return Run(report, None, error, plan.before)


def canary_continue(unit: Unit, service: str) -> Run:
    """``promote SERVICE --continue``: complete the canary of ``service``."""
    began = time.monotonic()
    checks = CheckLog(unit.settings)
    outcome = rollout.resume(unit.rig(observe=checks, checked=checks.checked), service)
    plan = outcome.plan
    target, version = str(plan.args["to"]), str(plan.args["version"])
    what = f"all of {target}'s traffic to {version}"
    if outcome.canary is not None:
        what = f"canary: {outcome.canary}% of {target}'s traffic to {version}"
    done = Result(target, "apply", f"continue the canary of {service}", "passed",
                  what, time.monotonic() - began)  # fmt: skip
    ask = _Ask("promote", service, None, ())
    results = [*checks.results, done]
    report = _report(unit.settings, ask, plan, outcome.applied, results, None)
    return Run(report, outcome, None, plan.after)


def canary_abort(unit: Unit, service: str) -> str:
    """``promote SERVICE --abort``: the stage back to its version; the incoming one's version."""
    return rollout.abort(unit.rig(), service) or "?"


def promote_build(service: str, to: str, version: str | None) -> Build:
    """The ``promote`` model action as a plan builder."""
    from pipeline_kit.model.actions import promote

    return lambda state, ctx: promote(state, ctx, service, to, version)
