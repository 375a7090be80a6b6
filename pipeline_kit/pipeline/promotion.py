"""Promotions that report: every check of a promote becomes a result, whatever the outcome.

The plan is computed and checked once read-only (its violations are the report's constraint
results, and a refusal changes nothing), then applied through ``manage.execute``, which
plans again under the lock. Health checks of the containers it starts are results too.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_kit.config import Settings
from pipeline_kit.model.errors import ConstraintFailed, PipelineKitError
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.manage import Build, Outcome, execute
from pipeline_kit.report.results import Report, Result, affected_stages, constraint_results
from pipeline_kit.store.database import Scope


@dataclass
class Run:
    """A command's report, the outcome when it got that far, and the error that ended it."""

    report: Report
    outcome: Outcome | None = None
    error: PipelineKitError | None = None


class HealthLog:
    """Collects the health check of every container an apply starts (thread-safe)."""

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


def _line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def versions_after(plan: Plan, service: str, settings: Settings) -> dict[str, str]:
    """Per stage, the version the service runs there after the plan (stacks agree)."""
    svc = plan.after.services.get(service)
    if svc is None or not svc.stacks:
        return {}
    stack = svc.stacks[0]
    return {settings.policy.stage_name(p): c.version for p, c in enumerate(stack.containers)}


def revision_of(settings: Settings, image: str | None, version: str, repo: Path) -> str | None:
    """The commit a version was built from: the image's revision label, else its git tag."""
    from pipeline_kit.scm.git import commit_of_version

    if image is not None and settings.registry is not None:
        from pipeline_kit.registry import RegistryClient, docker_tag, split_image
        from pipeline_kit.runtime.placement import image_of

        reference = image_of(settings, image, version)
        repository = split_image(reference.rsplit(":", 1)[0])[1]
        try:
            with RegistryClient(settings.registry) as registry:
                labels = registry.labels(repository, docker_tag(version))
        except PipelineKitError:
            labels = {}
        revision = labels.get("org.opencontainers.image.revision", "")
        if len(revision) == 40 and all(ch in "0123456789abcdef" for ch in revision):
            return revision
    return commit_of_version(repo, version, settings.release.tag_pattern)


def feedback_lookups(
    settings: Settings, service: str | None, repo: Path, public_host: str
) -> tuple[Callable[[str], str | None], Callable[[str], str | None]]:
    """For one service's feedback, reading the state once: version → the commit it was built
    from (each version looked up once), and stage → the URL of its endpoint there."""
    from pipeline_kit.pipeline.manage import load_state

    state = load_state(settings, [service]) if service else None
    svc = state.services.get(service) if state and service else None
    image = svc.image if svc is not None else settings.release.image
    ports: dict[str, int] = {}
    for endpoint in sorted(state.endpoints.values() if state else (), key=lambda e: e.name):
        if endpoint.service == service:
            ports.setdefault(settings.policy.stage_name(endpoint.position), endpoint.port)

    @functools.cache
    def revision(version: str) -> str | None:
        return revision_of(settings, image, version, repo) if service else None

    def url(stage: str) -> str | None:
        return f"http://{public_host}:{ports[stage]}" if stage in ports else None

    return revision, url


def promote_run(
    settings: Settings,
    command: str,
    service: str,
    build: Build,
    dry_run: bool = False,
    commit: str | None = None,
    before: list[Result] | None = None,
    canary: int | None = None,
) -> Run:
    """Plan and check ``build``; apply it unless refused or ``dry_run``; report every check."""
    scope = Scope(frozenset({service}))
    began = time.monotonic()
    checked = execute(settings, scope, build, dry_run=True)
    plan, elapsed = checked.plan, time.monotonic() - began
    target = str(plan.args.get("to") or settings.policy.stages[-1])
    version = str(plan.args.get("version") or "")
    stages = affected_stages(plan, settings.policy) or [target]
    results = list(before or [])
    verdict = "refused" if plan.violations else "planned"
    results.append(Result(target, "plan", f"{plan.action} {service}", "passed", verdict, elapsed))

    def report(found: Plan, applied: bool, extra: list[Result], error: str | None) -> Report:
        checks = constraint_results(found.violations, settings.policy, stages, target)
        return Report(
            command,
            settings.policy.stages,
            (*results, *checks, *extra),
            service,
            version,
            commit,
            target,
            applied,
            error,
            versions_after(found, service, settings),
        )

    if plan.violations:
        error = ConstraintFailed(plan.violations, f"{command} {service} {version} refused")
        return Run(report(plan, False, [], str(error)), checked, error)
    if dry_run:
        return Run(report(plan, False, [], None), checked)
    health = HealthLog(settings)
    began = time.monotonic()
    try:
        outcome = execute(settings, scope, build, observe=health, canary=canary)
    except ConstraintFailed as exc:  # the state moved between the check and the lock
        refused = Plan(plan.action, plan.args, plan.before, plan.before, (), exc.violations)
        return Run(report(refused, False, health.results, str(exc)), None, exc)
    except PipelineKitError as exc:
        failed = Result(target, "apply", f"{plan.action} {service}", "error", str(exc))
        unchanged = Plan(plan.action, plan.args, plan.before, plan.before)
        return Run(report(unchanged, False, [*health.results, failed], str(exc)), None, exc)
    what = f"{len(outcome.plan.operations)} container operation(s)"
    if canary is not None:
        incoming = versions_after(plan, service, settings).get(target, version)
        what = f"canary: {canary}% of {target}'s traffic to {incoming}, nothing committed yet"
    applied = Result(
        target, "apply", f"{plan.action} {service}", "passed", what, time.monotonic() - began
    )
    final = outcome.plan if canary is None else plan
    return Run(report(final, canary is None, [*health.results, applied], None), outcome)


def canary_continue(settings: Settings, service: str) -> Run:
    """``promote SERVICE --continue``: complete the canary of ``service``."""
    from pipeline_kit.model.actions import promote
    from pipeline_kit.pipeline import canary
    from pipeline_kit.pipeline.manage import context, open_store

    def build(state: Any, ctx: Any, args: dict[str, Any]) -> Plan:
        return promote(state, ctx, args["service"], args["to"], args["version"])

    store = open_store(settings)
    began = time.monotonic()
    try:
        plan = canary.finish(settings, store, build, lambda: context(settings), service)
    finally:
        store.dispose()
    target, version = str(plan.args["to"]), str(plan.args["version"])
    stages = affected_stages(plan, settings.policy) or [target]
    done = Result(target, "apply", f"continue the canary of {service}", "passed",
                  f"all of {target}'s traffic to {version}", time.monotonic() - began)  # fmt: skip
    checks = constraint_results(plan.violations, settings.policy, stages, target)
    report = Report("promote", settings.policy.stages, (done, *checks), service, version,
                    None, target, True, None, versions_after(plan, service, settings))  # fmt: skip
    return Run(report, Outcome(plan, applied=True))


def canary_abort(settings: Settings, service: str) -> str:
    """``promote SERVICE --abort``: the stage back to its version; the incoming one's version."""
    from pipeline_kit.pipeline import canary
    from pipeline_kit.pipeline.manage import open_store

    store = open_store(settings)
    try:
        return canary.abort(settings, store, service)
    finally:
        store.dispose()


def promote_build(service: str, to: str, version: str | None) -> Callable[..., Plan]:
    """The ``promote`` model action as a plan builder."""
    from pipeline_kit.model.actions import promote

    return lambda state, ctx: promote(state, ctx, service, to, version)
