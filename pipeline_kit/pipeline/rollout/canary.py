"""The steps a canary adds: weigh and pause (start), resume (``--continue``), find (``--abort``).

A canary is a promotion that stops after its containers are healthy: its journal entry is
kept as a *canary* (no process owns it; other changes to the service wait) and HAProxy sends
a share of the stage's traffic to the incoming containers. ``--continue`` commits the very
plan, the running containers taking the places it gives them; ``--abort`` routes the state as
it is and removes what the canary started.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline_kit.lb.render import Canary
from pipeline_kit.model.actions import promote
from pipeline_kit.model.errors import ConstraintFailed, InvalidInput
from pipeline_kit.model.items import Container, Service, Stack, State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.rollout.flight import Flight, Rig
from pipeline_kit.pipeline.rollout.ports import Tx
from pipeline_kit.pipeline.rollout.steps import lease
from pipeline_kit.store import journal
from pipeline_kit.store.journal import CanaryRecord, Incoming, Started


def weigh(rig: Rig, flight: Flight) -> None:
    """The canary's share: the containers the plan puts in the stage take ``percent``."""
    found, final, percent = flight.need_plan(), flight.final(), flight.percent or 0
    service = str(found.args["service"])
    to = str(found.args["to"])
    position = rig.settings.policy.position(to)
    incoming = tuple(
        Incoming(stack.index, c.address, c.version)
        for stack in final.after.services[service].stacks
        if position < stack.height
        for c in (stack.containers[position],)
        if c.address
    )
    version = found.args.get("version")
    flight.record = CanaryRecord(
        service,
        position,
        percent,
        to,
        None if version is None else str(version),
        incoming,
        tuple(
            Started(launch.id, launch.stack, launch.position, launch.address, launch.version)
            for launch in flight.launches
        ),
        flight.ramp,
    )
    addresses = {i.stack: i.address for i in incoming}
    flight.weights = Canary(service, position, percent, addresses)
    flight.commit = False


def pause(rig: Rig, flight: Flight) -> None:
    """Keep the journal entry as a running canary: it waits for ``--continue`` or ``--abort``."""
    entry, record = flight.need_entry(), flight.record
    if record is None:
        return
    with rig.ledger.write(flight.scope, "journal") as tx:
        tx.set_canary(entry, record)


def running(tx: Tx, service: str) -> journal.Entry:
    for entry in tx.entries(frozenset({service})):
        if entry.phase == journal.CANARY and entry.canary is not None:
            return entry
    raise InvalidInput(f"no canary of {service} is running: see 'pipeline-kit show endpoints'")


def _service(flight: Flight) -> str:
    return next(iter(flight.scope.services))


def resume(rig: Rig, flight: Flight) -> None:
    """``--continue``: under the lock, plan the canary's promotion again on the current state,
    with the canary's containers in the places it starts new ones. The transaction stays open
    to the commit."""
    service = _service(flight)
    tx = flight.hold(rig.ledger, f"continue the canary of {service}")
    entry = running(tx, service)
    record = entry.canary
    if record is None:  # running returns canaries only
        raise InvalidInput(f"no canary of {service} is running")
    ctx = rig.context()
    found = promote(tx.load(flight.scope), ctx, service, record.to, record.version)
    flight.ctx, flight.plan, flight.record = ctx, found, record
    if found.violations:
        raise ConstraintFailed(found.violations, f"the canary of {service} cannot complete")
    # Once committed the entry is no canary any more: it must name this process, which
    # switches, drains and removes, or others would take it for an interrupted apply.
    flight.entry = tx.claim_entry(entry, ctx.now, lease(rig))
    flight.applied = adopt(found, record.starts)
    flight.removing = list(entry.stops)


def find(rig: Rig, flight: Flight) -> None:
    """``--abort``: the running canary; the state stays as it is, its containers go."""
    service = _service(flight)
    tx = flight.hold(rig.ledger, f"abort the canary of {service}")
    entry = running(tx, service)
    flight.plan = Plan("abort", {"service": service}, State(), State())
    flight.entry, flight.record, flight.commit = entry, entry.canary, False
    flight.removing = list(entry.starts)


def adopt(plan: Plan, started: tuple[Started, ...]) -> Plan:
    """``plan`` with the canary's running containers in the places it starts new ones."""
    by_place = {(s.stack, s.position): s for s in started}
    renamed: dict[str, Started] = {}
    for op in plan.operations:
        if op.kind == "start" and (op.stack, op.position) in by_place:
            renamed[op.container] = by_place[(op.stack, op.position)]

    def container(c: Container) -> Container:
        found = renamed.get(c.id)
        return replace(c, id=found.id, address=found.address) if found else c

    def stack(s: Stack) -> Stack:
        return replace(s, containers=tuple(container(c) for c in s.containers))

    services: dict[str, Service] = {
        name: replace(svc, stacks=tuple(stack(s) for s in svc.stacks))
        for name, svc in plan.after.services.items()
    }
    operations = tuple(
        replace(op, container=renamed[op.container].id) if op.container in renamed else op
        for op in plan.operations
    )
    return replace(plan, after=replace(plan.after, services=services), operations=operations)
