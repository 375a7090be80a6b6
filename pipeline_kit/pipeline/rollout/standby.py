"""Standby containers: after a switch the previous containers keep running out of rotation
(``keep``), so that a rollback within that time only switches the routing back (``adopt``).

A stage's gate says how long: ``standby`` (default: its ``verify`` window; at least that
window while it runs). They are recorded as a *standby* journal entry; the ``recover`` step
of the next command that touches the service removes them once their time is up.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.rollout.canary import adopt as take_places
from pipeline_kit.pipeline.rollout.flight import Flight, Rig
from pipeline_kit.store import journal
from pipeline_kit.store.database import Scope
from pipeline_kit.store.journal import Kept, Placed, Started


def _where(state: State, placed: Placed) -> tuple[int, str | None] | None:
    """The position and address of a container of ``state``."""
    svc = state.services.get(placed.service)
    stack = svc.stack(placed.stack) if svc is not None else None
    for position, c in enumerate(stack.containers if stack is not None else ()):
        if c.id == placed.id:
            return position, c.address
    return None


def _version_at(state: State, service: str, stack: int, position: int) -> str | None:
    svc = state.services.get(service)
    found = svc.stack(stack) if svc is not None else None
    if found is None or position >= found.height:
        return None
    return found.containers[position].version


def hold(rig: Rig, position: int) -> timedelta:
    """How long the previous containers of the stage at ``position`` stay after a switch."""
    gate = rig.settings.policy.gate(position)
    return max(gate.kept(), gate.verify)


def keeping(rig: Rig, plan: Plan, stops: list[Placed]) -> tuple[Kept, ...]:
    """The containers of ``stops`` to keep: those whose stage switched to another version and
    whose gate keeps them."""
    out = []
    for p in stops:
        where = _where(plan.before, p)
        if where is None or not where[1] or hold(rig, where[0]) <= timedelta(0):
            continue
        position, address = where[0], str(where[1])
        if _version_at(plan.after, p.service, p.stack, position) in (None, p.version):
            continue
        out.append(Kept(p.id, p.service, p.stack, position, p.host, address, p.version))
    return tuple(out)


def keep(rig: Rig, flight: Flight) -> None:
    """After the switch: the previous containers stay, out of rotation, as standby."""
    plan = flight.final()
    if flight.entry is None or not flight.committed or plan.action == "rollback":
        return
    kept = keeping(rig, plan, flight.removing)
    if not kept:
        return
    until = rig.clock.now() + max(hold(rig, k.position) for k in kept)
    with rig.ledger.write(Scope(), "journal") as tx:
        tx.set_standby(flight.entry.id, kept, until)
    flight.kept = kept
    ids = {k.id for k in kept}
    flight.removing = [p for p in flight.removing if p.id not in ids]
    rig.note(
        f"{len(kept)} previous container(s) on standby until {until:%H:%M:%S} UTC: "
        "a rollback until then only switches the routing back"
    )


def release(rig: Rig, flight: Flight) -> None:
    """After a verification window that passed: containers of stages without standby go."""
    gone = [k for k in flight.kept if rig.settings.policy.gate(k.position).kept() <= timedelta(0)]
    if not gone:
        return
    flight.removing += [k.placed() for k in gone]
    flight.kept = tuple(k for k in flight.kept if k not in gone)


def _match(kept: list[Kept], service: str, stack: int, position: int, version: str) -> Kept | None:
    want = (service, stack, position, version)
    return next((k for k in kept if (k.service, k.stack, k.position, k.version) == want), None)


def adopt(rig: Rig, flight: Flight) -> None:
    """Before anything starts: standby containers that run the version the plan starts, where
    it starts it, take its place (no container starts for them)."""
    found, now = flight.need_plan(), flight.need_ctx().now
    entries = [e for e in flight.seen if e.phase == journal.STANDBY and e.alive(now)]
    starts = [op for op in found.operations if op.kind == "start"]
    if not entries or not starts:
        return
    candidates = [k for e in entries for k in e.kept]
    states = rig.runtime.states([k.placed() for k in candidates])
    free = [k for k in candidates if states.get(k.id) in ("running", "restarted")]
    taken: list[Kept] = []
    for op in starts:
        k = _match(free, op.service, op.stack, op.position, op.version)
        if k is not None:
            free.remove(k)
            taken.append(k)
    if not taken:
        return
    tx = flight.need_tx()
    for e in entries:
        rest = tuple(k for k in e.kept if k not in taken)
        if len(rest) != len(e.kept):
            tx.set_standby(e.id, rest, e.expires)
            flight.adopted.append(e)
    places = tuple(Started(k.id, k.stack, k.position, k.address, k.version) for k in taken)
    renamed = take_places(found, places)
    ids = {k.id for k in taken}
    kept = tuple(op for op in renamed.operations if op.kind == "stop" or op.container not in ids)
    flight.plan = replace(renamed, operations=kept)
    rig.note(f"{len(taken)} standby container(s) back in rotation: none started for them")


def unadopt(rig: Rig, flight: Flight) -> None:
    """Undo of ``adopt``: the standby containers it took are standby again."""
    if not flight.adopted:
        return
    with rig.ledger.write(Scope(), "journal") as tx:
        for e in flight.adopted:
            tx.set_standby(e.id, e.kept, e.expires)
