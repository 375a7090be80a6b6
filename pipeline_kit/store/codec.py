"""Rows ↔ model items, and times ↔ the ISO text stored in the database and in exports."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pipeline_kit.model.items import (
    Approval,
    Container,
    Edge,
    Endpoint,
    Rejection,
    Service,
    Stack,
    State,
    Tree,
)

Row = Mapping[Any, Any]


def time_text(moment: datetime) -> str:
    """UTC ISO 8601 text with microseconds, the same for every database."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def build_state(
    service_rows: Iterable[Row],
    stack_rows: Iterable[Row],
    container_rows: Iterable[Row],
    endpoint_rows: Iterable[Row],
    tree_rows: Iterable[Row],
    edge_rows: Iterable[Row],
    approval_rows: Iterable[Row],
    rejection_rows: Iterable[Row],
) -> State:
    """A State from table rows (containers in any order)."""
    by_stack: dict[tuple[str, int], list[tuple[int, Container]]] = defaultdict(list)
    times: dict[str, datetime] = {}
    for r in container_rows:
        entered = times.get(r["entered"])
        if entered is None:
            entered = times[r["entered"]] = parse_time(r["entered"])
        c = Container(r["id"], r["version"], entered, r["previous"], r["address"])
        by_stack[(r["service"], r["stack"])].append((r["position"], c))
    stacks_of: dict[str, list[Stack]] = defaultdict(list)
    for r in stack_rows:
        placed = sorted(by_stack.get((r["service"], r["idx"]), ()), key=lambda pc: pc[0])
        stacks_of[r["service"]].append(Stack(r["idx"], r["host"], tuple(c for _, c in placed)))
    services = {
        r["name"]: Service(
            r["name"], r["image"], tuple(sorted(stacks_of[r["name"]], key=lambda s: s.index))
        )
        for r in service_rows
    }
    edges_of: dict[tuple[str, int], list[tuple[int, Edge]]] = defaultdict(list)
    for r in edge_rows:
        edge = Edge(r["parent"], r["child"], r["child_position"])
        edges_of[(r["service"], r["position"])].append((r["seq"], edge))
    trees = {
        (r["service"], r["position"]): Tree(
            r["service"],
            r["position"],
            tuple(e for _, e in sorted(edges_of[(r["service"], r["position"])], key=_first)),
        )
        for r in tree_rows
    }
    endpoints = {r["name"]: _endpoint(r) for r in endpoint_rows}
    approvals = tuple(
        Approval(r["service"], r["version"], r["position"], r["by"], parse_time(r["at"]))
        for r in approval_rows
    )
    rejections = tuple(
        Rejection(r["service"], r["version"], r["reason"], r["by"], parse_time(r["at"]))
        for r in rejection_rows
    )
    return State(services, endpoints, trees, approvals, rejections)


def _endpoint(r: Row) -> Endpoint:
    """An endpoint (``home`` None: the stage it points at is its home)."""
    return Endpoint(r["name"], r["service"], r["port"], r["position"], r.get("home"))


def _first(pair: tuple[int, Edge]) -> int:
    return pair[0]


def service_rows(service: Service) -> tuple[dict[str, Any], list[Row], list[Row]]:
    """The service row, its stack rows and its container rows."""
    stacks: list[Row] = [
        {"service": service.name, "idx": s.index, "host": s.host} for s in service.stacks
    ]
    containers: list[Row] = [
        {
            "id": c.id,
            "service": service.name,
            "stack": s.index,
            "position": pos,
            "version": c.version,
            "entered": time_text(c.entered),
            "previous": c.previous,
            "address": c.address,
        }
        for s in service.stacks
        for pos, c in enumerate(s.containers)
    ]
    return {"name": service.name, "image": service.image}, stacks, containers


def endpoint_row(endpoint: Endpoint) -> Row:
    return {
        "name": endpoint.name,
        "service": endpoint.service,
        "port": endpoint.port,
        "position": endpoint.position,
        "home": endpoint.home,
    }


def tree_rows(tree: Tree) -> tuple[dict[str, Any], list[Row]]:
    edges: list[Row] = [
        {
            "service": tree.service,
            "position": tree.position,
            "seq": seq,
            "parent": e.parent,
            "child": e.child,
            "child_position": e.position,
        }
        for seq, e in enumerate(tree.edges)
    ]
    return {"service": tree.service, "position": tree.position}, edges


def approval_row(a: Approval) -> Row:
    return {
        "service": a.service,
        "version": a.version,
        "position": a.position,
        "by": a.by,
        "at": time_text(a.at),
    }


def rejection_row(r: Rejection) -> Row:
    return {
        "service": r.service,
        "version": r.version,
        "reason": r.reason,
        "by": r.by,
        "at": time_text(r.at),
    }
