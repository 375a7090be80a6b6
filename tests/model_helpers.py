"""Builders for tests of the pure model (plain functions, not fixtures)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from pipeline_kit.model import actions
from pipeline_kit.model.actions import Context
from pipeline_kit.model.constraints import Violation
from pipeline_kit.model.items import (
    Container,
    Edge,
    Endpoint,
    Service,
    Stack,
    State,
    Tree,
)
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Policy

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STAGES = ("prod", "qa", "dev")


def id_counter(prefix: str = "id") -> Callable[[], str]:
    """A deterministic ``new_id``: id0, id1, id2, …"""
    counter = itertools.count()
    return lambda: f"{prefix}{next(counter)}"


_CONTEXTS = itertools.count()


def make_ctx(
    policy: Policy | None = None,
    now: datetime = T0,
    actor: str = "tester",
    prefix: str | None = None,
) -> Context:
    """A context with fixed time and deterministic ids.

    Container ids must be unique across the contexts a test chains: without ``prefix``
    each context gets its own (``ctx7-0``, ``ctx7-1``, …); pass one to rebuild equal states.
    """
    if prefix is None:
        prefix = f"ctx{next(_CONTEXTS)}-"
    return Context(
        policy=policy if policy is not None else Policy(),
        now=now,
        actor=actor,
        new_id=id_counter(prefix),
    )


def make_stack(
    versions: Sequence[str],
    index: int = 0,
    host: str = "local",
    service: str = "svc",
    entered: datetime = T0,
) -> Stack:
    containers = tuple(
        Container(f"{service}-{index}-{pos}", v, entered) for pos, v in enumerate(versions)
    )
    return Stack(index, host, containers)


def make_service(
    name: str,
    versions: Sequence[str],
    stacks: int = 1,
    image: str | None = None,
    hosts: Sequence[str] = ("local",),
    entered: datetime = T0,
) -> Service:
    return Service(
        name,
        image or f"example/{name}",
        tuple(make_stack(versions, i, hosts[i % len(hosts)], name, entered) for i in range(stacks)),
    )


def make_state(
    *services: Service,
    endpoints: Iterable[Endpoint] = (),
    trees: Iterable[Tree] = (),
) -> State:
    return State(
        services={s.name: s for s in services},
        endpoints={e.name: e for e in endpoints},
        trees={t.key: t for t in trees},
    )


def trees_for(
    service: str, edges: Sequence[tuple[str, str]] = (), stages: int = len(STAGES)
) -> list[Tree]:
    """One tree per stage, each edge pointing at the tree's own position."""
    return [Tree(service, pos, tuple(Edge(p, c, pos) for p, c in edges)) for pos in range(stages)]


def names(violations: Iterable[Violation]) -> list[str]:
    return [v.constraint for v in violations]


Place = tuple[str, str | None, int | None, tuple[str, ...] | None]


def places(violations: Iterable[Violation]) -> list[Place]:
    """Each violation's constraint and where it is: stage, position and config key."""
    return [(v.constraint, v.stage, v.position, v.key) for v in violations]


def accepted(plan: Plan) -> State:
    """The new state of a plan that must have no violations."""
    assert plan.violations == (), [str(v) for v in plan.violations]
    return plan.after


def run(
    action: Callable[..., Plan], state: State, ctx: Context, *args: object, **kw: object
) -> Plan:
    """Call an action and check that it left its input state untouched (purity)."""
    before = copy.deepcopy(state)
    try:
        plan = action(state, ctx, *args, **kw)
    finally:
        assert state == before, f"{action.__name__} changed its input state"
    assert plan.before == before
    return plan


def versions_of(state: State, service: str) -> list[tuple[str, ...]]:
    return [s.versions for s in state.services[service].stacks]


def with_service(
    ctx: Context,
    name: str,
    versions: Sequence[str],
    stacks: int = 1,
    state: State | None = None,
    hosts: Sequence[str] = (),
) -> State:
    """``state`` (default: empty) plus a service added by the ``service add`` action."""
    plan = actions.add_service(
        state if state is not None else State(),
        ctx,
        name,
        f"example/{name}",
        stacks=stacks,
        version_list=versions,
        hosts=hosts,
    )
    return accepted(plan)
