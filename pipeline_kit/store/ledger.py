"""The narrow reads a rollout makes besides its one state load: routing keys and a check that
the rows it is about to replace are still those it planned on."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.store import tables as t
from pipeline_kit.store.database import Session


def routing_keys(session: Session, plan: Plan) -> tuple[list[tuple[str, int]], list[int]]:
    """Every tree edge's (child, position) and every endpoint port, with ``plan`` applied."""
    if session.empty:
        edge_rows: list[tuple[str, int, str, int]] = []
        port_rows: list[tuple[str, int]] = []
    else:
        c = t.edges.c
        edge_rows = [
            (r[0], r[1], r[2], r[3])
            for r in session.conn.execute(select(c.service, c.position, c.child, c.child_position))
        ]
        e = t.endpoints.c
        port_rows = [(r[0], r[1]) for r in session.conn.execute(select(e.name, e.port))]
    replaced = set(plan.before.trees) | set(plan.after.trees)
    edges = {
        (child, pos) for service, tree, child, pos in edge_rows if (service, tree) not in replaced
    }
    edges |= {(e.child, e.position) for tree in plan.after.trees.values() for e in tree.edges}
    names = set(plan.before.endpoints) | set(plan.after.endpoints)
    ports = [port for name, port in port_rows if name not in names]
    ports += [endpoint.port for endpoint in plan.after.endpoints.values()]
    return sorted(edges), ports


def unchanged(session: Session, before: State, services: Iterable[str]) -> bool:
    """Whether the containers of ``services`` are still those of ``before``."""
    names = sorted(services)
    if not names:
        return True
    c = t.containers.c
    query = select(c.service, c.stack, c.position, c.id, c.version, c.address).where(
        c.service.in_(names)
    )
    found = {tuple(r) for r in session.conn.execute(query)}
    expected = {
        (name, stack.index, position, k.id, k.version, k.address)
        for name in names
        if name in before.services
        for stack in before.services[name].stacks
        for position, k in enumerate(stack.containers)
    }
    return found == expected
