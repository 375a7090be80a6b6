"""Endpoint actions: bind an endpoint to a stage, and the service trees behind it.

Each is a pure ``action(state, context, ...) -> Plan`` like those of ``actions``; the plan
checks the versions that come to answer an endpoint's traffic against the gates of that
endpoint's home stage, the one it was added for (see ``constraints.traffic_entries``).
"""

from __future__ import annotations

from dataclasses import replace

from pipeline_kit.model.actions import Context, _endpoint, _finish, _service, _stage
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import Edge, Endpoint, State, Tree, check_name
from pipeline_kit.model.plan import Plan


def add_endpoint(
    state: State, ctx: Context, name: str, service: str, port: int, stage: str
) -> Plan:
    """A public entry point bound to a stage; the service becomes a main service with trees."""
    check_name("endpoint", name)
    _service(state, service)
    if name in state.endpoints:
        raise InvalidInput(f"endpoint {name!r} exists already")
    if not 1 <= port <= 65535:
        raise InvalidInput(f"invalid port {port}: expected 1-65535")
    position = _stage(ctx, stage)
    trees = dict(state.trees)
    for pos in range(len(ctx.policy.stages)):
        trees.setdefault((service, pos), Tree(service, pos))
    endpoints = {**state.endpoints, name: Endpoint(name, service, port, position, position)}
    after = replace(state, endpoints=endpoints, trees=trees)
    args = {"name": name, "service": service, "port": port, "stage": stage}
    return _finish("endpoint add", args, ctx, state, after, scope=[service])


def connect(
    state: State, ctx: Context, parent: str, child: str, endpoint: str, stage: str | None = None
) -> Plan:
    """Add parent → child to the trees of ``endpoint``'s service (child at the tree's stage)."""
    _service(state, parent)
    _service(state, child)
    ep = _endpoint(state, endpoint)
    override = _stage(ctx, stage) if stage is not None else None
    home = state.trees.get((ep.service, ep.position))
    if home is None or parent not in home.members():
        raise InvalidInput(f"{parent} is not in the service tree of endpoint {endpoint}")
    if child in home.members():
        raise InvalidInput(f"{child} is in the service tree of endpoint {endpoint} already")
    trees = dict(state.trees)
    for tree in state.trees_of(ep.service):
        if parent not in tree.members() or child in tree.members():
            continue
        pos = override if override is not None and tree.position == ep.position else tree.position
        trees[tree.key] = replace(tree, edges=(*tree.edges, Edge(parent, child, pos)))
    after = replace(state, trees=trees)
    args = {"parent": parent, "child": child, "endpoint": endpoint, "stage": stage}
    return _finish("connect", args, ctx, state, after, scope=[ep.service, child])


def switch(state: State, ctx: Context, endpoint: str, stage: str) -> Plan:
    """Bind ``endpoint`` to the tree of another stage."""
    ep = _endpoint(state, endpoint)
    position = _stage(ctx, stage)
    endpoints = {**state.endpoints, endpoint: replace(ep, position=position)}
    after = replace(state, endpoints=endpoints)
    args = {"endpoint": endpoint, "stage": stage}
    return _finish("switch", args, ctx, state, after, scope=[ep.service])
