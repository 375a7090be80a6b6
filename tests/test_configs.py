"""Configuration follows the stage (model.configs): a container that moves to a position
whose configuration differs is replaced by a new one of the same version; one that moves to
a position configured alike moves as it is. Pure: no Docker, no database."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pipeline_kit.config_types import Runtime, ServiceDecl, Settings, StageConfig
from pipeline_kit.model import actions, routes
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Policy
from pipeline_kit.pipeline.effective import digests, effective
from tests.model_helpers import accepted, make_ctx, with_service

POLICY = Policy()  # prod, qa, dev
SETTINGS = Settings(POLICY, "sqlite://", Runtime(), 1.0, None, Path())


def settings_with(decl: ServiceDecl) -> Settings:
    return replace(SETTINGS, services=(decl,))


def promoted(settings: Settings, state: State) -> Plan:
    ctx = replace(make_ctx(POLICY), config_of=digests(settings))
    return actions.promote(state, ctx, "web", "prod", "1.3.0")


def initial() -> State:
    return with_service(make_ctx(POLICY), "web", ("1.0.0", "1.1.0", "1.2.0"), stacks=2)


def test_a_prod_only_change_starts_new_prod_containers_and_moves_the_others() -> None:
    prod = StageConfig(env=(("LOG_LEVEL", "warning"),))
    base = StageConfig(env=(("LOG_LEVEL", "info"),))
    decl = ServiceDecl("web", base=base, stages=(("prod", prod),))
    state = initial()
    plan = promoted(settings_with(decl), state)
    assert plan.violations == ()
    before = {c.id for s in state.services["web"].stacks for c in s.containers}
    after = plan.after.services["web"]
    prod_ids = {s.containers[0].id for s in after.stacks}
    qa_ids = {s.containers[1].id for s in after.stacks}
    assert prod_ids.isdisjoint(before)  # 1.1.0 enters prod with prod's config: new containers
    assert qa_ids <= before  # 1.2.0 moves from dev to qa, configured alike: the same ones
    starts = [(op.position, op.version) for op in plan.operations if op.kind == "start"]
    assert sorted(starts) == [(0, "1.1.0"), (0, "1.1.0"), (2, "1.3.0"), (2, "1.3.0")]
    stops = [(op.position, op.version) for op in plan.operations if op.kind == "stop"]
    assert sorted(stops) == [(0, "1.0.0"), (0, "1.0.0"), (1, "1.1.0"), (1, "1.1.0")]
    assert [s.versions for s in after.stacks] == [("1.1.0", "1.2.0", "1.3.0")] * 2


def test_the_same_configuration_everywhere_moves_every_container() -> None:
    state = initial()
    plan = promoted(settings_with(ServiceDecl("web")), state)
    before = {c.id for s in state.services["web"].stacks for c in s.containers}
    moved = {c.id for s in plan.after.services["web"].stacks for c in s.containers[:2]}
    assert moved <= before
    assert sorted(op.kind for op in plan.operations) == ["start", "start", "stop", "stop"]


def test_upstreams_are_part_of_the_configuration() -> None:
    ctx = make_ctx(POLICY)
    state = with_service(ctx, "web", ("1.0.0", "1.1.0", "1.2.0"))
    state = with_service(ctx, "api", ("2.0.0", "2.1.0", "2.2.0"), state=state)
    state = accepted(routes.add_endpoint(state, ctx, "site", "web", 8080, "prod"))
    state = accepted(routes.connect(state, ctx, "web", "api", "site", None))
    prod, qa = effective(SETTINGS, state, "web", 0), effective(SETTINGS, state, "web", 1)
    assert prod.upstreams == (("api", 0),) and qa.upstreams == (("api", 1),)
    assert prod.digest() != qa.digest()
    plan = promoted(SETTINGS, state)
    old = {c.id for c in state.services["web"].stacks[0].containers}
    assert plan.after.services["web"].stacks[0].containers[0].id not in old


def test_secret_names_not_values_make_the_digest() -> None:
    decl = ServiceDecl("web", base=StageConfig(secrets=("API_TOKEN",)))
    found = effective(settings_with(decl), initial(), "web", 0)
    assert found.secrets == ("API_TOKEN",) and "API_TOKEN=(secret)" in found.shown()
    assert found.digest() != effective(SETTINGS, initial(), "web", 0).digest()


def test_without_a_digest_function_containers_move_as_they_are() -> None:
    state = initial()
    plan = actions.promote(state, make_ctx(POLICY), "web", "prod", "1.3.0")
    before = {c.id for s in state.services["web"].stacks for c in s.containers}
    assert {c.id for s in plan.after.services["web"].stacks for c in s.containers[:2]} <= before
