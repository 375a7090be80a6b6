"""The one sequence of named steps every change runs (see ``sequences`` for the lists).

``apply`` runs a write (blue-green, or a canary's start), ``resume`` and ``abort`` a
canary's end; each returns what it did as an :class:`Outcome`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.effective import describe
from pipeline_kit.pipeline.rollout import canary, sequences
from pipeline_kit.pipeline.rollout.flight import Build, Flight, Rig, run
from pipeline_kit.store.database import Scope

__all__ = ["Build", "Flight", "Outcome", "Rig", "abort", "apply", "resume"]


@dataclass(frozen=True)
class Outcome:
    """A plan and whether it was applied (a canary's start is not: nothing is committed)."""

    plan: Plan
    applied: bool
    notes: tuple[str, ...] = ()
    configs: tuple[str, ...] = ()  # the configuration of every stage it starts containers in
    canary: int | None = None  # the share a running canary's current step gives the version


def apply(
    rig: Rig,
    scope: Scope,
    build: Build,
    dry_run: bool = False,
    canary: int | None = None,
    ramp: tuple[tuple[int, bool], ...] = (),
) -> Outcome:
    """Plan ``build`` under the locks of ``scope`` and apply it, or only plan it (``dry_run``).

    A refused plan raises ``ConstraintFailed``.
    """
    return apply_flight(rig, Flight(scope, build, canary, ramp=ramp), dry_run)


def apply_flight(rig: Rig, flight: Flight, dry_run: bool = False) -> Outcome:
    """``apply`` with a flight the caller keeps (to read the plan of a refusal)."""
    notes: list[str] = []
    rig = replace(rig, note=notes.append)  # the caller's rig stays as it was
    if dry_run:
        run(sequences.DRY_RUN, rig, flight)
        plan = flight.need_plan()
        return Outcome(plan, False, (), describe(rig.settings, plan))
    if flight.percent is not None:
        settings = rig.settings
        if not (settings.lb.enabled and settings.runtime.kind == "docker"):
            raise InvalidInput(
                '--canary needs containers behind HAProxy: runtime = "docker" and '
                "[lb] enabled = true"
            )
        run(sequences.CANARY_START, rig, flight)
        plan = flight.need_plan()
        if flight.record is not None:
            from pipeline_kit.pipeline.rollout.ramp import advance

            done = advance(rig, flight.record.service, resumed=False)
            if isinstance(done, Flight):
                final = done.final()
                return Outcome(final, True, tuple(notes), describe(rig.settings, final))
            configs = describe(rig.settings, plan)
            return Outcome(plan, False, tuple(notes), configs, done)
        return Outcome(plan, False, tuple(notes), describe(rig.settings, plan))
    run(sequences.BLUE_GREEN, rig, flight)
    return Outcome(flight.final(), True, tuple(notes), describe(rig.settings, flight.final()))


def resume(rig: Rig, service: str) -> Outcome:
    """``promote SERVICE --continue``: the next step of the canary's ramp, or (after the last)
    commit the canary's plan and switch all traffic. Applied only in that case."""
    from pipeline_kit.model.actions import promote
    from pipeline_kit.pipeline.rollout.ramp import advance

    notes: list[str] = []
    rig = replace(rig, note=notes.append)
    done = advance(rig, service, resumed=True)
    if isinstance(done, Flight):
        return Outcome(done.final(), True, tuple(notes))
    with rig.ledger.read("canary") as tx:
        record = canary.running(tx, service).canary
        state = tx.load(Scope(frozenset({service})))
    if record is None:  # running returns canaries only
        raise InvalidInput(f"no canary of {service} is running")
    plan = promote(state, rig.context(), service, record.to, record.version)
    return Outcome(plan, False, tuple(notes), (), done)


def abort(rig: Rig, service: str) -> str | None:
    """``promote SERVICE --abort``: all traffic back; the incoming version, removed."""
    flight = Flight(Scope(frozenset({service})))
    run(sequences.CANARY_ABORT, rig, flight)
    record = flight.record
    return record.incoming[0].version if record is not None and record.incoming else None
