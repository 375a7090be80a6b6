"""Random sequences of actions through the store: accepted ones keep every invariant,
refused ones leave the exported state byte-identical."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_kit.config import Runtime, Settings
from pipeline_kit.model import actions, routes
from pipeline_kit.model.actions import Context
from pipeline_kit.model.constraints import check_state
from pipeline_kit.model.errors import ConstraintFailed, InvalidInput
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Policy
from pipeline_kit.pipeline.manage import execute, load_state, open_store
from pipeline_kit.store.database import Scope
from pipeline_kit.store.transfer import export_document

SERVICES = ["alpha", "beta", "gamma"]
VERSIONS = [f"v0.{n}.0" for n in range(1, 8)] + ["1.0.0-rc.1", "1.0.0", "v1..2"]
STAGES = ["prod", "qa", "dev", "3", "9", "staging"]

step = st.one_of(
    st.tuples(st.just("add_service"), st.sampled_from(SERVICES), st.sampled_from(VERSIONS)),
    st.tuples(st.just("push"), st.sampled_from(SERVICES), st.sampled_from(VERSIONS)),
    st.tuples(st.just("pop"), st.sampled_from(SERVICES), st.sampled_from(STAGES)),
    st.tuples(
        st.just("promote"),
        st.sampled_from(SERVICES),
        st.sampled_from(STAGES),
        st.sampled_from([*VERSIONS, None]),
    ),
    st.tuples(st.just("rollback"), st.sampled_from(SERVICES)),
    st.tuples(st.just("reject"), st.sampled_from(SERVICES), st.sampled_from(VERSIONS)),
    st.tuples(st.just("approve"), st.sampled_from(SERVICES), st.sampled_from(VERSIONS)),
    st.tuples(st.just("add_stack"), st.sampled_from(SERVICES)),
    st.tuples(st.just("remove_stack"), st.sampled_from(SERVICES)),
    st.tuples(st.just("add_endpoint"), st.sampled_from(SERVICES), st.integers(8000, 8002)),
    st.tuples(st.just("replace_stage"), st.sampled_from(SERVICES), st.sampled_from(STAGES)),
)


def _build(action: tuple[Any, ...]) -> tuple[Callable[[State, Context], Plan], Scope]:
    name, service, *rest = action

    def build(state: State, ctx: Context) -> Plan:
        if name == "add_service":
            return actions.add_service(state, ctx, service, "x/app", 2, [rest[0]])
        if name == "add_endpoint":
            return routes.add_endpoint(state, ctx, f"ep-{service}", service, rest[0], "prod")
        if name == "approve":
            return actions.approve(state, ctx, service, rest[0], "prod", "alice")
        if name == "reject":
            return actions.reject(state, ctx, service, rest[0], "bad")
        if name == "promote":
            return actions.promote(state, ctx, service, rest[0], rest[1])
        if name == "replace_stage":
            return actions.replace_stage(state, ctx, service, rest[0], "below")
        plan: Plan = getattr(actions, name)(state, ctx, service, *rest)
        return plan

    ports = (rest[0],) if name == "add_endpoint" else ()
    return build, Scope(frozenset({str(service)}), frozenset({f"ep-{service}"}), frozenset(ports))


def _export(config: Settings) -> str:
    store = open_store(config)
    try:
        with store.read() as session:
            return export_document(session)
    finally:
        store.dispose()


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(step, min_size=1, max_size=25))
def test_random_actions_through_the_store(steps: list[tuple[Any, ...]]) -> None:
    policy = Policy(max_height=4)
    with tempfile.TemporaryDirectory() as folder:
        config = Settings(
            policy,
            f"sqlite:///{Path(folder) / 'state.db'}",
            Runtime(),
            5.0,
            None,
            Path(folder),
        )
        for action in steps:
            before = _export(config)
            build, scope = _build(action)
            try:
                outcome = execute(config, scope, build)
            except (InvalidInput, ConstraintFailed):
                assert _export(config) == before, action
                continue
            assert outcome.applied
            state = load_state(config)
            assert check_state(state, policy) == [], action
            for name, service in outcome.plan.after.services.items():
                assert state.services[name] == service, action
