"""The steps a service's declaration adds: smoke checks of the new containers and
``before_switch`` hooks before the commit (a failure undoes the rollout), ``after_switch``
hooks after the switch (a failure fails the command; the new version stays)."""

from __future__ import annotations

from pipeline_kit.config_types import Hook
from pipeline_kit.model.errors import Refused
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.rollout.flight import Flight, Rig
from pipeline_kit.pipeline.rollout.ports import Checked


def entered(plan: Plan) -> list[tuple[str, int, str]]:
    """(service, position, version) of every stage a version enters, once each: a new
    container there, or a running one that moved there."""
    found = {
        (change.service, change.position, change.new)
        for change in plan.changes()
        if change.new is not None and change.new != change.old
    }
    return sorted((s, p, v) for s, p, v in found if v is not None)


def smoke(rig: Rig, flight: Flight) -> None:
    """Every declared check against every new container; the first failure refuses."""
    failures = []
    for launch in flight.launches:
        decl = rig.settings.declared(launch.service)
        for check in decl.checks if decl is not None else ():
            began = rig.clock.monotonic()
            problem = rig.runtime.probe(launch, check)
            name = f"GET {check.path} {launch.service}/{launch.stack} {launch.version}"
            stage = rig.settings.policy.stage_name(launch.position)
            message = problem or f"answered {check.status} at {launch.address}"
            seconds = rig.clock.monotonic() - began
            rig.checked(Checked(stage, "smoke", name, problem is None, message, seconds))
            if problem is not None:
                failures.append(f"smoke check {name} at {launch.address}: {problem}")
    if failures:
        raise Refused(f"{failures[0]}; nothing was changed")


def _run(rig: Rig, flight: Flight, when: str) -> list[str]:
    """Run the ``when`` hooks of every stage entered; what failed, in words."""
    failed = []
    plan = flight.final()
    for service, position, version in entered(plan):
        decl = rig.settings.declared(service)
        for hook in decl.hooks if decl is not None else ():
            if hook.when != when:
                continue
            problem = _hook(rig, plan, service, position, version, hook)
            if problem is not None:
                failed.append(problem)
    return failed


def _hook(
    rig: Rig, plan: Plan, service: str, position: int, version: str, hook: Hook
) -> str | None:
    stage = rig.settings.policy.stage_name(position)
    name = f"{hook.when} {' '.join(hook.command)} ({service} {version})"
    began = rig.clock.monotonic()
    ran = rig.runtime.run_hook(plan, service, position, hook)
    seconds = rig.clock.monotonic() - began
    last = ran.output.splitlines()[-1] if ran.output else "no output"
    if ran.code == 0:
        rig.checked(Checked(stage, "hook", name, True, ran.output or "exit 0", seconds))
        return None
    why = f"timed out after {hook.timeout:g}s" if ran.code is None else f"exit {ran.code}"
    rig.checked(Checked(stage, "hook", name, False, f"{why}: {ran.output}", seconds))
    return f"hook {name} in {stage} failed ({why}): {last}"


def before_switch(rig: Rig, flight: Flight) -> None:
    """``before_switch`` hooks, once per stage entered; a failure undoes the rollout."""
    failed = _run(rig, flight, "before_switch")
    if failed:
        raise Refused(f"{failed[0]}; nothing was changed")


def after_switch(rig: Rig, flight: Flight) -> None:
    """``after_switch`` hooks; a failure is kept for the verdict, the rollout goes on."""
    flight.failed_after.extend(_run(rig, flight, "after_switch"))


def verdict(rig: Rig, flight: Flight) -> None:
    """Fail the command when an ``after_switch`` hook failed (the new version stays)."""
    if flight.failed_after:
        raise Refused(f"{flight.failed_after[0]}; the new version stays")
