"""Property: random action sequences never leave an accepted state that breaks an invariant."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline_kit.model import actions, routes
from pipeline_kit.model.actions import Context
from pipeline_kit.model.constraints import check_state
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Gate, Policy
from pipeline_kit.model.versions import VersionPolicy, sort_key
from tests.model_helpers import STAGES, T0, id_counter

POOL = [f"v0.{n}.0" for n in range(1, 10)] + ["1.0.0-rc.1"]
SERVICES = ["web", "api", "db"]
ENDPOINTS = ["www", "admin", "Bad_Name"]
HEIGHT = len(STAGES) + 1

GATES = {"prerelease", "soak", "approval", "rejected"}
BAD_VERSION = "v1..2"
STAGE_ARGS = [*STAGES, "0", "1", "2", "3", "4", "staging"]

GATED = {
    "prod": Gate(prereleases=False, approval=True),
    "qa": Gate(soak=timedelta(hours=1)),
}


def _policy(gates: dict[str, Gate]) -> Policy:
    return Policy(
        stages=STAGES,
        versions=VersionPolicy.NON_DECREASING,
        max_height=HEIGHT,
        gates=gates,
    )


def _draw_step(
    data: st.DataObject, state: State
) -> tuple[str, Callable[..., Plan], tuple[Any, ...]]:
    """One action with arguments that are mostly valid for ``state``, sometimes not."""
    draw = data.draw
    svc = st.sampled_from([*sorted(state.services) * 4, "ghost"])
    version = st.sampled_from([*POOL, BAD_VERSION])
    stage = st.sampled_from(STAGE_ARGS)
    endpoint = st.sampled_from([*sorted(state.endpoints) * 3, *ENDPOINTS])
    kind = draw(
        st.sampled_from(
            [
                "push",
                "pop",
                "promote",
                "promote",
                "promote",
                "replace",
                "rollback",
                "stack add",
                "stack remove",
                "approve",
                "reject",
                "endpoint add",
                "endpoint add",
                "connect",
                "connect",
                "switch",
            ]
        )
    )
    if kind == "push":
        return kind, actions.push, (draw(svc), draw(version))
    if kind == "pop":
        return kind, actions.pop, (draw(svc), draw(stage))
    if kind == "promote":
        return kind, actions.promote, (draw(svc), draw(stage), draw(st.none() | version))
    if kind == "replace":
        with_ = draw(st.sampled_from(["above", "below", "aside"]))
        return kind, actions.replace_stage, (draw(svc), draw(stage), with_)
    if kind == "rollback":
        return (
            kind,
            actions.rollback,
            (draw(svc), draw(st.none() | stage), draw(st.none() | version)),
        )
    if kind == "stack add":
        host = draw(st.sampled_from([None, "h1", "h2", "bad host"]))
        return kind, actions.add_stack, (draw(svc), host)
    if kind == "stack remove":
        return kind, actions.remove_stack, (draw(svc), draw(st.none() | st.integers(0, 4)))
    if kind == "approve":
        by = draw(st.sampled_from(["ann", "bob", ""]))
        return kind, actions.approve, (draw(svc), draw(version), draw(stage), by)
    if kind == "reject":
        reason = draw(st.sampled_from(["broken", "slow", " "]))
        return kind, actions.reject, (draw(svc), draw(version), reason)
    if kind == "endpoint add":
        port = draw(st.sampled_from([80, 81, 82, 0]))
        return kind, routes.add_endpoint, (draw(endpoint), draw(svc), port, draw(stage))
    if kind == "connect":
        return (
            kind,
            routes.connect,
            (draw(svc), draw(svc), draw(endpoint), draw(st.none() | stage)),
        )
    return kind, routes.switch, (draw(endpoint), draw(stage))


initial_services = st.lists(
    st.tuples(
        st.sampled_from(SERVICES),
        st.lists(st.sampled_from(POOL[:-1]), min_size=1, max_size=HEIGHT).map(
            lambda vs: sorted(vs, key=sort_key)
        ),
        st.integers(1, 3),
        st.sampled_from([(), ("h1",), ("h1", "h2")]),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda t: t[0],
)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=initial_services, gated=st.booleans(), data=st.data())
def test_random_action_sequences_keep_every_invariant(
    initial: list[tuple[str, list[str], int, tuple[str, ...]]],
    gated: bool,
    data: st.DataObject,
) -> None:
    new_id = id_counter("p")  # one counter per example: container ids stay unique
    policy = _policy(GATED if gated else {})
    # The initial services are added without gates: a prod approval cannot be recorded
    # before the service exists.
    setup = Context(_policy({}), T0, "setup", new_id)
    state = State()
    for name, version_list, stacks, hosts in initial:
        plan = actions.add_service(
            state, setup, name, f"example/{name}", stacks, version_list, hosts
        )
        assert plan.violations == (), [str(v) for v in plan.violations]
        state = plan.after
    assert check_state(state, policy) == []

    now = T0
    for _ in range(data.draw(st.integers(5, 30), label="steps")):
        label, action, args = _draw_step(data, state)
        now += timedelta(minutes=data.draw(st.integers(0, 90), label="minutes"))
        ctx = Context(policy, now, "prop", new_id)
        before = copy.deepcopy(state)
        try:
            plan = action(state, ctx, *args)
        except InvalidInput:
            assert state == before, f"{label}{args} raised and changed its input state"
            continue
        assert state == before, f"{label}{args} changed its input state"
        assert plan.before is state
        # A refusal names real problems: what the action's scoped check finds, the check
        # of the whole new state finds too (the gates are checked on entries only).
        whole = check_state(plan.after, policy)
        scoped = [v for v in plan.violations if v.constraint not in GATES]
        assert all(v in whole for v in scoped), f"{label}{args}: {scoped} vs {whole}"
        if plan.violations:
            event(f"refused: {label}")
            continue  # refused: the old state, equal to the one before, stays
        after = plan.after
        problems = [str(p) for p in whole]
        assert problems == [], f"{label}{args} was accepted but breaks: {problems}"
        ids = [c.id for s in after.services.values() for k in s.stacks for c in k.containers]
        assert len(ids) == len(set(ids)), f"{label}{args}: container ids are not unique"
        event(f"accepted: {label}")
        state = after
