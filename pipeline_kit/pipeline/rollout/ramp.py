"""A canary ramp: ``--canary 10,25,50`` moves the stage's traffic share step by step.

After each step the stage's verification window runs on the canary's servers; a breach
aborts the canary (weights back to 0, its containers removed) and rejects the version. A
step written ``25:pause`` (or every step, with ``--pause``; or the one step of ``--canary
10``) waits there for ``promote SERVICE --continue``. Success after the last step completes
the promotion.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline_kit.lb.render import Canary
from pipeline_kit.model import actions
from pipeline_kit.model.errors import InvalidInput, Refused
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.rollout import canary, sequences, watch
from pipeline_kit.pipeline.rollout.flight import Flight, Rig, Step, run
from pipeline_kit.store.database import Scope
from pipeline_kit.store.journal import CanaryRecord, Entry, Placed

Steps = tuple[tuple[int, bool], ...]


def parse(text: str, pause: bool = False) -> Steps:
    """``10,25:pause,50`` → ((10, False), (25, True), (50, False)); InvalidInput unless every
    step is a percent from 1 to 99, each above the one before. One step always pauses."""
    problem = InvalidInput(
        f"--canary {text!r}: expected percents from 1 to 99, each above the one before, "
        "such as 10,25,50 (a step may be written 25:pause)"
    )
    steps = []
    for part in text.split(","):
        value, _, flag = part.strip().partition(":")
        number = value.isascii() and value.isdigit() and len(value) < 4
        if not number or flag not in ("", "pause"):
            raise problem
        steps.append((int(value), pause or flag == "pause"))
    percents = [p for p, _ in steps]
    if not all(1 <= p <= 99 for p in percents) or percents != sorted(set(percents)):
        raise problem
    if len(steps) == 1:
        steps[0] = (steps[0][0], True)
    return tuple(steps)


def _current(rig: Rig, service: str) -> tuple[Entry, CanaryRecord]:
    with rig.ledger.read("canary") as tx:
        entry = canary.running(tx, service)
    if entry.canary is None:  # running returns canaries only
        raise InvalidInput(f"no canary of {service} is running")
    return entry, entry.canary


def advance(rig: Rig, service: str, resumed: bool) -> Flight | int:
    """Take the running canary of ``service`` along its ramp: verify the current step (unless
    ``resumed`` past it), then the next ones. The flight that completed it, or the percent
    of the step where it pauses."""
    while True:
        entry, record = _current(rig, service)
        steps, index = record.ramp(), record.step
        if not resumed:
            _verify(rig, entry, record)
            if steps[index][1]:
                return record.percent
        resumed = False
        if index + 1 >= len(steps):
            return run(sequences.CANARY_CONTINUE, rig, Flight(Scope(frozenset({service}))))
        _step(rig, service, index + 1)


def _verify(rig: Rig, entry: Entry, record: CanaryRecord) -> None:
    """The stage's verification window on the canary's servers; a breach aborts it."""
    gate = rig.settings.policy.gate(record.position)
    if gate.verify.total_seconds() <= 0 or not record.incoming:
        return
    stage = rig.settings.policy.stage_name(record.position)
    version = record.incoming[0].version
    addresses = {i.address for i in record.incoming}
    serving, share = _serving(rig, entry), f" at {record.percent}%"
    meter = watch.Meter(
        record.service, stage, record.position, version, gate, serving, addresses, share
    )
    breach, seconds = watch.observe(rig, [meter])
    if breach is None:
        return
    reason = f"verification of the canary in {stage} at {record.percent}% failed: {breach[1]}"
    reason += f" after {seconds:.1f}s"
    run(sequences.CANARY_ABORT, rig, Flight(Scope(frozenset({record.service}))))

    def reject(state: State, ctx: actions.Context) -> Plan:
        return actions.reject(state, ctx, record.service, version, reason[:500])

    run(sequences.BLUE_GREEN, rig, Flight(Scope(frozenset({record.service})), reject))
    raise Refused(
        f"{reason}; canary aborted: all of {stage}'s traffic back, its containers removed, "
        f"{version} is rejected"
    )


def _serving(rig: Rig, entry: Entry) -> list[Placed]:
    """The containers behind the canary's servers: those it started there, or running ones
    of the stage above that it moves down (when their configuration is the same)."""
    record = entry.canary
    if record is None:
        return []
    started = {s.address: s.id for s in record.starts}
    with rig.ledger.read("canary") as tx:
        svc = tx.load(Scope(frozenset({record.service}))).services.get(record.service)
    running = {
        c.address: Placed(c.id, record.service, s.index, s.host, c.version)
        for s in (svc.stacks if svc is not None else ())
        for c in s.containers
        if c.address
    }
    placed = {p.id: p for p in entry.starts}
    out = []
    for i in record.incoming:
        found = placed.get(started.get(i.address, "")) or running.get(i.address)
        if found is not None:
            out.append(found)
    return out


def _step(rig: Rig, service: str, index: int) -> None:
    """Move the canary to step ``index`` of its ramp: new weights, switched seamlessly."""

    def weigh(rig: Rig, flight: Flight) -> None:
        tx = flight.hold(rig.ledger, f"ramp the canary of {service}")
        entry = canary.running(tx, service)
        record = entry.canary
        if record is None:
            raise InvalidInput(f"no canary of {service} is running")
        steps = record.ramp()
        percent = steps[index][0]
        moved = replace(record, percent=percent, step=index)
        tx.set_canary(entry, moved)
        addresses = {i.stack: i.address for i in record.incoming}
        flight.entry, flight.record, flight.commit = entry, moved, False
        flight.plan = Plan("canary", {"service": service}, State(), State())
        flight.weights = Canary(service, record.position, percent, addresses)
        stage = rig.settings.policy.stage_name(record.position)
        rig.note(f"canary: {percent}% of {stage}'s traffic (step {index + 1}/{len(steps)})")

    steps = (Step("weigh", weigh), sequences.VALIDATE_ROUTING, sequences.SWITCH, sequences.DRAIN)
    run(steps, rig, Flight(Scope(frozenset({service}))))
