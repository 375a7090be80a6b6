"""Canary promotions: a share of one stage's traffic to the incoming version, then all or none.

``promote SERVICE --to STAGE --canary P`` starts the promotion's containers and waits until
they are healthy, as a blue-green promotion does, but does not commit: its journal entry
becomes a *canary* (no process owns it; other changes to the service wait), and HAProxy
sends P% of STAGE's traffic to the incoming containers. ``--continue`` commits the very
plan (the containers already running take the places the plan gives them), switches all
traffic and removes the old containers; ``--abort`` switches back and removes the new ones.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

from pipeline_kit.config_types import Settings
from pipeline_kit.lb.render import Canary
from pipeline_kit.model.errors import ConstraintFailed, InvalidInput, PipelineKitError
from pipeline_kit.model.items import Container, Service, Stack, State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline import routing
from pipeline_kit.runtime import containers as rt
from pipeline_kit.runtime.engine import Engines
from pipeline_kit.store import journal
from pipeline_kit.store.database import Scope, Session, Store


def active(session: Session) -> list[Canary]:
    """The canaries running now, as HAProxy weights."""
    out = []
    for entry in journal.entries(session):
        data = entry.canary
        if entry.phase != journal.CANARY or not data:
            continue
        addresses = {int(i["stack"]): str(i["address"]) for i in data["incoming"]}
        out.append(Canary(data["service"], int(data["position"]), int(data["percent"]), addresses))
    return out


def describe(session: Session) -> dict[tuple[str, int], tuple[str, int]]:
    """(service, position) → (incoming version, percent) of every running canary."""
    out = {}
    for entry in journal.entries(session):
        data = entry.canary
        if entry.phase == journal.CANARY and data:
            position = int(data["position"])
            incoming = [str(i["version"]) for i in data["incoming"]]
            if incoming:
                out[(str(data["service"]), position)] = (incoming[0], int(data["percent"]))
    return out


def begin(
    settings: Settings,
    store: Store,
    plan: Plan,
    applied: State,
    specs: list[rt.Spec],
    entry: journal.Entry,
    percent: int,
) -> None:
    """Turn a started, healthy apply into a canary: journal it, then weight HAProxy.

    The incoming containers of the stage are those the plan puts there: the ones moving
    down from the stage above (already running) or new ones (just started).
    """
    service = str(plan.args["service"])
    position = settings.policy.position(str(plan.args["to"]))
    incoming = [
        {"stack": stack.index, "address": c.address, "version": c.version}
        for stack in applied.services[service].stacks
        if position < stack.height
        for c in (stack.containers[position],)
        if c.address
    ]
    data: dict[str, Any] = {
        "service": service,
        "position": position,
        "percent": percent,
        "args": {k: plan.args[k] for k in ("service", "to", "version")},
        "incoming": incoming,
        "starts": [
            {
                "id": s.id,
                "stack": s.stack,
                "position": s.position,
                "address": s.address,
                "version": s.version,
            }
            for s in specs
        ],
    }
    addresses = {int(str(i["stack"])): str(i["address"]) for i in incoming}
    ours = Canary(service, position, percent, addresses)
    with store.read("routing") as session:
        whole = session.load_all()
        others = active(session)
    text = routing.prepare(settings, whole, canaries=[*others, ours])
    with store.write(Scope(), "journal") as session:
        journal.set_canary(session, entry, data)
    routing.switch(settings, text)


def _entry(session: Session, service: str) -> journal.Entry:
    for entry in journal.entries(session, frozenset({service})):
        if entry.phase == journal.CANARY and entry.canary:
            return entry
    raise InvalidInput(f"no canary of {service} is running: see 'pipeline-kit show endpoints'")


def adopt(plan: Plan, started: list[dict[str, Any]]) -> Plan:
    """The plan with the canary's running containers in the places it starts new ones."""
    by_place = {(int(s["stack"]), int(s["position"])): s for s in started}
    renamed: dict[str, dict[str, Any]] = {}
    for op in plan.operations:
        if op.kind == "start" and (op.stack, op.position) in by_place:
            renamed[op.container] = by_place[(op.stack, op.position)]

    def container(c: Container) -> Container:
        found = renamed.get(c.id)
        return replace(c, id=found["id"], address=found["address"]) if found else c

    def stack(s: Stack) -> Stack:
        return replace(s, containers=tuple(container(c) for c in s.containers))

    services: dict[str, Service] = {
        name: replace(svc, stacks=tuple(stack(s) for s in svc.stacks))
        for name, svc in plan.after.services.items()
    }
    operations = tuple(
        replace(op, container=renamed[op.container]["id"]) if op.container in renamed else op
        for op in plan.operations
    )
    return replace(plan, after=replace(plan.after, services=services), operations=operations)


def finish(settings: Settings, store: Store, build: Any, context: Any, service: str) -> Plan:
    """``--continue``: commit the canary's plan, switch all traffic, remove the old ones."""
    from pipeline_kit.pipeline.apply import remove_placed

    scope = Scope(frozenset({service}))
    with Engines(settings.runtime) as engines:
        with store.write(scope, f"continue the canary of {service}") as session:
            entry = _entry(session, service)
            data = entry.canary or {}
            args = data["args"]
            ctx = context()
            plan = build(session.load(scope), ctx, args)
            if plan.violations:
                raise ConstraintFailed(plan.violations, f"the canary of {service} cannot complete")
            plan = adopt(plan, data["starts"])
            others = [c for c in active(session) if c.service != service]
            whole = routing.merged(session.load_all(), plan.before, plan.after)
            text = routing.prepare(settings, whole, canaries=others)
            session.apply(plan, settings.policy, ctx.actor, ctx.now)
            journal.set_committed(session, entry.id)
        routing.switch(settings, text)
        remove_placed(engines, entry.stops)
        with store.write(Scope(), "journal") as session:
            journal.remove(session, entry.id)
    return plan


def abort(settings: Settings, store: Store, service: str) -> str:
    """``--abort``: all traffic back to the current version; remove the incoming containers."""
    from pipeline_kit.pipeline.apply import remove_placed

    with Engines(settings.runtime) as engines:
        with store.write(Scope(frozenset({service})), f"abort the canary of {service}") as session:
            entry = _entry(session, service)
            others = [c for c in active(session) if c.service != service]
            text = routing.prepare(settings, session.load_all(), canaries=others)
        routing.switch(settings, text)
        with contextlib.suppress(PipelineKitError):
            remove_placed(engines, entry.starts)
        with store.write(Scope(), "journal") as session:
            journal.remove(session, entry.id)
    data = entry.canary or {}
    return str(data.get("args", {}).get("version", "?"))
