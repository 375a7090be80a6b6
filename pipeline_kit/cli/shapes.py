"""The JSON shapes of the ``show`` views: what ``--json`` prints, and what the tables show."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pipeline_kit.model.items import Service, State
from pipeline_kit.model.policy import Policy

if TYPE_CHECKING:
    from pipeline_kit.store.journal import Kept


def stage_of(service: Service, policy: Policy) -> dict[str, str]:
    """Per stage, the version (all stacks agree) or the versions joined by '|'."""
    out: dict[str, str] = {}
    for pos in range(service.height):
        found = sorted({s.containers[pos].version for s in service.stacks if pos < s.height})
        out[policy.stage_name(pos)] = "|".join(found)
    return out


def relations(service: str, state: State, policy: Policy) -> dict[str, Any]:
    """A service's parents and children in any service tree, and its endpoints."""
    edges = [e for tree in state.trees.values() for e in tree.edges]
    return {
        "parents": sorted({e.parent for e in edges if e.child == service}),
        "children": sorted({e.child for e in edges if e.parent == service}),
        "endpoints": [
            {"name": e.name, "port": e.port, "stage": policy.stage_name(e.position)}
            for e in sorted(state.endpoints_of(service), key=lambda e: e.name)
        ],
    }


def service_json(service: Service, policy: Policy, state: State | None = None) -> dict[str, Any]:
    return {
        **(relations(service.name, state, policy) if state is not None else {}),
        "name": service.name,
        "image": service.image,
        "height": service.height,
        "stages": stage_of(service, policy),
        "stacks": [
            {
                "index": s.index,
                "host": s.host,
                "containers": [
                    {
                        "position": pos,
                        "stage": policy.stage_name(pos),
                        "version": c.version,
                        "id": c.id,
                        "entered": c.entered.isoformat(),
                        "previous": c.previous,
                        "address": c.address,
                    }
                    for pos, c in enumerate(s.containers)
                ],
            }
            for s in service.stacks
        ],
    }


def standby_json(kept: Iterable[Kept], service: str, policy: Policy) -> list[dict[str, Any]]:
    """The standby containers of ``service``: out of rotation, kept for an instant rollback."""
    return [
        {
            "stack": k.stack,
            "position": k.position,
            "stage": policy.stage_name(k.position),
            "version": k.version,
            "id": k.id,
            "host": k.host,
            "address": k.address,
        }
        for k in kept
        if k.service == service
    ]


def stacks_json(services: Iterable[Service], policy: Policy) -> list[dict[str, Any]]:
    return [
        {
            "service": svc.name,
            "index": stack.index,
            "host": stack.host,
            "height": stack.height,
            "versions": {policy.stage_name(p): c.version for p, c in enumerate(stack.containers)},
        }
        for svc in services
        for stack in svc.stacks
    ]


def weights(
    state: State, service: str, position: int, canary: tuple[str, int] | None
) -> dict[str, int]:
    """Version → percent of the stage's traffic (a canary splits it)."""
    svc = state.services.get(service)
    current = sorted(
        {s.containers[position].version for s in (svc.stacks if svc else ()) if position < s.height}
    )
    if canary is None:
        return {v: 100 for v in current}
    incoming, percent = canary
    out = {v: 100 - percent for v in current}
    out[incoming] = out.get(incoming, 0) + percent
    return out


def endpoints_json(
    state: State,
    policy: Policy,
    names: Iterable[str],
    canaries: dict[tuple[str, int], tuple[str, int]] | None = None,
) -> list[dict[str, Any]]:
    out = []
    for name in names:
        e = state.endpoints[name]
        tree = state.trees.get((e.service, e.position))
        canary = (canaries or {}).get((e.service, e.position))
        out.append(
            {
                "name": e.name,
                "service": e.service,
                "port": e.port,
                "stage": policy.stage_name(e.position),
                "home": policy.stage_name(e.serves),
                "tree": [
                    {"parent": x.parent, "child": x.child, "stage": policy.stage_name(x.position)}
                    for x in (tree.edges if tree else ())
                ],
                "weights": weights(state, e.service, e.position, canary),
            }
        )
    return out
