"""Constraints: every invariant and every gate, each passing once and failing once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline_kit.model import actions, constraints
from pipeline_kit.model.constraints import Entry, check_entries, check_state
from pipeline_kit.model.items import (
    Approval,
    Edge,
    Endpoint,
    Rejection,
    Service,
    State,
    Tree,
)
from pipeline_kit.model.policy import Gate, Policy
from pipeline_kit.model.versions import VersionPolicy
from tests.model_helpers import (
    T0,
    accepted,
    make_ctx,
    make_service,
    make_stack,
    make_state,
    names,
    places,
    run,
    trees_for,
    with_service,
)

POLICY = Policy()
GOOD = ("v1.1.0", "v1.2.0", "v1.3.0")


def subjects(violations: list[constraints.Violation]) -> set[tuple[str, str]]:
    return {(v.constraint, v.subject) for v in violations}


def test_constraint_names_are_the_documented_ones() -> None:
    assert [
        constraints.ENDPOINT,
        constraints.SERVICE,
        constraints.STACK,
        constraints.VERSION_ORDER,
        constraints.STACK_HEIGHT,
        constraints.TREES,
        constraints.CONTAINER,
        constraints.DISTINCT_HOSTS,
        constraints.PRERELEASE,
        constraints.SOAK,
        constraints.APPROVAL,
        constraints.REJECTED,
    ] == [
        "endpoint",
        "service",
        "stack",
        "version-order",
        "stack-height",
        "trees",
        "container",
        "distinct-hosts",
        "prerelease",
        "soak",
        "approval",
        "rejected",
    ]


def test_a_well_formed_state_has_no_violations() -> None:
    state = make_state(
        make_service("web", GOOD, stacks=2),
        make_service("api", GOOD),
        endpoints=[Endpoint("www", "web", 80, 0)],
        trees=trees_for("web", [("web", "api")]),
    )
    assert check_state(state, POLICY) == []
    assert check_state(State(), POLICY) == []


# -- endpoint --------------------------------------------------------------------------------


def _endpoint_state(*endpoints: Endpoint, height: int = 3) -> State:
    versions = GOOD[:height]
    return make_state(
        make_service("web", versions),
        make_service("shop", versions),
        endpoints=endpoints,
        trees=trees_for("web") + trees_for("shop"),
    )


def test_endpoint_bound_to_a_stage_of_an_existing_service_passes() -> None:
    state = _endpoint_state(Endpoint("www", "web", 80, 0), Endpoint("beta", "web", 81, 2))
    assert check_state(state, POLICY) == []


def test_endpoint_to_unknown_service_fails() -> None:
    state = _endpoint_state(Endpoint("www", "ghost", 80, 0))
    found = check_state(state, POLICY)
    # ghost, a main service by its endpoint, has no trees either.
    assert subjects(found) == {("endpoint", "www"), ("trees", "ghost")}
    assert "unknown service 'ghost'" in found[0].message


def test_endpoint_bound_to_a_position_that_is_no_stage_fails() -> None:
    state = _endpoint_state(Endpoint("www", "web", 80, 3))
    found = check_state(state, POLICY)
    assert subjects(found) == {("endpoint", "www")}
    assert "position 3" in found[0].message


def test_endpoint_at_a_stage_without_container_fails() -> None:
    policy = Policy(min_height=2)
    state = _endpoint_state(Endpoint("www", "web", 80, 2), height=2)
    found = check_state(state, policy)
    assert subjects(found) == {("endpoint", "www")}
    assert "no container at dev" in found[0].message
    ok = _endpoint_state(Endpoint("www", "web", 80, 1), height=2)
    assert check_state(ok, policy) == []


def test_two_endpoints_sharing_a_port_fail() -> None:
    state = _endpoint_state(Endpoint("www", "web", 80, 0), Endpoint("store", "shop", 80, 0))
    found = check_state(state, POLICY)
    assert subjects(found) == {("endpoint", "store, www")}
    assert "share port 80" in found[0].message


# -- service ---------------------------------------------------------------------------------


def test_service_with_min_stacks_passes() -> None:
    state = make_state(make_service("web", GOOD, stacks=2))
    assert check_state(state, Policy(min_stacks=2)) == []


def test_service_below_min_stacks_fails() -> None:
    state = make_state(make_service("web", GOOD, stacks=1))
    found = check_state(state, Policy(min_stacks=2))
    assert subjects(found) == {("service", "web")}
    assert "min_stacks is 2" in found[0].message


def test_service_without_stacks_fails() -> None:
    state = make_state(Service("web", "example/web", ()))
    assert names(check_state(state, POLICY)) == ["service"]


# -- stack -----------------------------------------------------------------------------------


def test_identical_stacks_pass() -> None:
    svc = Service("web", "example/web", (make_stack(GOOD, 0), make_stack(GOOD, 7)))
    assert check_state(make_state(svc), POLICY) == []


def test_stack_that_differs_from_the_first_fails() -> None:
    other = ("v1.1.0", "v1.2.0", "v1.2.0")
    svc = Service("web", "example/web", (make_stack(GOOD, 0), make_stack(other, 1)))
    found = check_state(make_state(svc), POLICY)
    assert subjects(found) == {("stack", "web/1")}
    assert "differs from stack 0" in found[0].message


def test_two_stacks_with_one_index_fail() -> None:
    svc = Service("web", "example/web", (make_stack(GOOD, 0), make_stack(GOOD, 0)))
    found = check_state(make_state(svc), POLICY)
    assert subjects(found) == {("stack", "web")}
    assert "share one index" in found[0].message


# -- version order ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "stack"),
    [
        (VersionPolicy.NON_DECREASING, ("v1.0.0", "v1.0.0", "v1.1.0")),
        (VersionPolicy.NON_DECREASING, ("v0.9.0", "v0.10.0", "1.0.0-rc.1")),
        (VersionPolicy.INCREASING, ("v1.0.0", "v1.0.1", "v1.1.0")),
        (VersionPolicy.ANY, ("latest", "stable", "v0.1.0")),
        (VersionPolicy.ANY, ("v2.0.0", "v1.0.0", "v1.0.0")),
    ],
)
def test_version_order_passes(policy: VersionPolicy, stack: tuple[str, ...]) -> None:
    state = make_state(make_service("web", stack))
    assert check_state(state, Policy(versions=policy)) == []


def test_decreasing_version_fails() -> None:
    state = make_state(make_service("web", ("v1.0.0", "v0.10.0", "v0.9.0")))
    found = check_state(state, POLICY)
    assert subjects(found) == {("version-order", "web@qa"), ("version-order", "web@dev")}
    assert "v0.10.0 is lower than v1.0.0 in prod" in found[0].message


def test_equal_versions_fail_under_increasing() -> None:
    state = make_state(make_service("web", ("v1.0.0", "v1.0.0", "v1.1.0")))
    found = check_state(state, Policy(versions=VersionPolicy.INCREASING))
    assert subjects(found) == {("version-order", "web@qa")}
    assert "not higher than" in found[0].message


def test_non_version_fails_unless_versions_any() -> None:
    state = make_state(make_service("web", ("v1.0.0", "latest", "v1.1.0")))
    found = check_state(state, POLICY)
    assert subjects(found) == {("version-order", "web@qa")}
    assert "'latest' is not a version" in found[0].message
    assert check_state(state, Policy(versions=VersionPolicy.ANY)) == []


# -- stack height ----------------------------------------------------------------------------


def test_stack_height_within_bounds_passes() -> None:
    policy = Policy(max_height=4)
    assert policy.min_height == 3
    assert check_state(make_state(make_service("web", GOOD)), policy) == []
    assert check_state(make_state(make_service("web", (*GOOD, "v1.4.0"))), policy) == []


def test_stack_below_min_height_fails() -> None:
    # Identical stacks break the rule in the same place: said once, for the service.
    found = check_state(make_state(make_service("web", GOOD[:2], stacks=2)), POLICY)
    assert subjects(found) == {("stack-height", "web")}
    assert "below min_height 3" in found[0].message


def test_stack_above_max_height_fails() -> None:
    state = make_state(make_service("web", (*GOOD, "v1.4.0", "v1.5.0")))
    found = check_state(state, Policy(max_height=4))
    assert subjects(found) == {("stack-height", "web")}
    assert "above max_height 4" in found[0].message


# -- trees -----------------------------------------------------------------------------------


def _tree_state(*trees: Tree) -> State:
    return make_state(
        make_service("web", GOOD),
        make_service("api", GOOD),
        make_service("db", GOOD),
        endpoints=[Endpoint("www", "web", 80, 0)],
        trees=trees,
    )


def test_main_service_with_a_tree_per_stage_passes() -> None:
    state = _tree_state(*trees_for("web", [("web", "api"), ("api", "db")]))
    assert check_state(state, POLICY) == []


def test_main_service_missing_trees_fails() -> None:
    state = _tree_state(Tree("web", 0))
    found = check_state(state, POLICY)
    assert subjects(found) == {("trees", "web")}
    assert "has 1 trees for 3 stages (missing: qa, dev)" in found[0].message


def test_tree_edge_from_a_parent_outside_the_tree_fails() -> None:
    state = _tree_state(Tree("web", 0, (Edge("api", "db", 0),)), Tree("web", 1), Tree("web", 2))
    found = check_state(state, POLICY)
    assert subjects(found) == {("trees", "web@prod")}
    assert "parent not in tree" in found[0].message


def test_tree_edge_to_unknown_service_fails() -> None:
    state = _tree_state(Tree("web", 0), Tree("web", 1, (Edge("web", "ghost", 1),)), Tree("web", 2))
    found = check_state(state, POLICY)
    assert subjects(found) == {("trees", "web@qa")}
    assert "unknown service 'ghost'" in found[0].message


def test_tree_edge_beyond_the_child_stack_fails() -> None:
    state = _tree_state(Tree("web", 0), Tree("web", 1), Tree("web", 2, (Edge("web", "api", 3),)))
    found = check_state(state, POLICY)
    assert subjects(found) == {("trees", "web@dev")}
    assert "points at position 3" in found[0].message


def test_trees_of_a_grandchild_pass_when_checking_only_that_service() -> None:
    # Regression: with a scope, an edge outside it (web → api) must still make its child a
    # member, or the next edge (api → db) is reported as "parent not in tree".
    state = _tree_state(*trees_for("web", [("web", "api"), ("api", "db")]))
    assert check_state(state, POLICY) == []
    assert check_state(state, POLICY, ["db"]) == []


def test_push_onto_a_grandchild_in_a_tree_is_accepted() -> None:
    # Regression, as above: every action on `db` used to be refused.
    policy = Policy(max_height=4)
    state = _tree_state(*trees_for("web", [("web", "api"), ("api", "db")]))
    plan = run(actions.push, state, make_ctx(policy), "db", "v1.4.0")
    assert plan.violations == ()


# -- container -------------------------------------------------------------------------------


def test_container_with_a_version_passes() -> None:
    state = make_state(make_service("web", ("a", "b", "c")))
    assert check_state(state, Policy(versions=VersionPolicy.ANY)) == []


@pytest.mark.parametrize("versions", list(VersionPolicy))
def test_container_without_version_fails(versions: VersionPolicy) -> None:
    state = make_state(make_service("web", ("v1.0.0", "", "v1.1.0")))
    found = check_state(state, Policy(versions=versions))
    assert subjects(found) == {("container", "web@qa")}
    assert "no version" in found[0].message


# -- distinct hosts --------------------------------------------------------------------------


def test_stacks_on_distinct_hosts_pass() -> None:
    state = make_state(make_service("web", GOOD, stacks=3, hosts=("h1", "h2", "h3")))
    assert check_state(state, Policy(distinct_hosts=True)) == []


def test_stacks_sharing_a_host_fail_only_when_distinct_hosts_is_set() -> None:
    state = make_state(make_service("web", GOOD, stacks=3, hosts=("h1", "h2", "h1")))
    found = check_state(state, Policy(distinct_hosts=True))
    assert subjects(found) == {("distinct-hosts", "web")}
    assert "2 stacks share host 'h1'" in found[0].message
    assert check_state(state, POLICY) == []


def test_stack_add_on_the_same_host_breaks_distinct_hosts() -> None:
    policy = Policy(distinct_hosts=True)
    ctx = make_ctx(policy)
    state = with_service(ctx, "web", GOOD, stacks=2, hosts=["h1", "h2"])
    assert names(run(actions.add_stack, state, ctx, "web").violations) == ["distinct-hosts"]
    assert run(actions.add_stack, state, ctx, "web", "h3").violations == ()


# -- gates: direct checks of entries -----------------------------------------------------------


def _entry(version: str, position: int, origin: int | None = None, stack: int = 0) -> Entry:
    return Entry("web", stack, position, version, origin, T0)


def test_entries_without_gates_pass() -> None:
    state = make_state(make_service("web", GOOD))
    entries = [_entry("1.0.0-rc.1", 0, origin=1), _entry("v1.2.0", 1)]
    assert check_entries(state, POLICY, entries, T0) == []


def test_entries_hit_every_gate_of_the_stage() -> None:
    policy = Policy(
        gates={
            "prod": Gate(prereleases=False, approval=True),
            "qa": Gate(soak=timedelta(hours=1)),
        }
    )
    state = State(rejections=(Rejection("web", "1.0.0-rc.1", "broken", "ann", T0),))
    found = check_entries(state, policy, [_entry("1.0.0-rc.1", 0, origin=1)], T0)
    assert names(found) == ["rejected", "prerelease", "approval", "soak"]
    assert {v.subject for v in found} == {"web 1.0.0-rc.1→prod"}
    assert "rejected: broken" in found[0].message
    assert "soak time is 1h00m" in found[3].message


def test_entries_above_the_named_stages_are_not_gated() -> None:
    policy = Policy(gates={"prod": Gate(approval=True)})
    state = State(rejections=(Rejection("web", "v9.0.0", "broken", "ann", T0),))
    assert check_entries(state, policy, [_entry("v9.0.0", 3)], T0) == []


def test_one_violation_per_version_and_stage_not_per_stack() -> None:
    state = State(rejections=(Rejection("web", "v1.2.0", "broken", "ann", T0),))
    entries = [_entry("v1.2.0", 0, stack=i) for i in range(3)] + [_entry("v1.2.0", 1)]
    found = check_entries(state, POLICY, entries, T0)
    assert subjects(found) == {("rejected", "web v1.2.0→prod"), ("rejected", "web v1.2.0→qa")}
    assert len(found) == 2


# -- prerelease ------------------------------------------------------------------------------

NO_PRE_IN_PROD = Policy(gates={"prod": Gate(prereleases=False)})


def test_prerelease_entering_prod_fails() -> None:
    ctx = make_ctx(NO_PRE_IN_PROD)
    state = with_service(ctx, "web", ["v1.0.0", "v1.1.0-rc.1", "v1.1.0"], stacks=2)
    plan = run(actions.promote, state, ctx, "web", "prod", "v1.2.0")
    assert subjects(list(plan.violations)) == {("prerelease", "web v1.1.0-rc.1→prod")}
    assert "pre-releases may not enter prod" in plan.violations[0].message


def test_prerelease_entering_qa_passes_when_only_prod_refuses_them() -> None:
    ctx = make_ctx(NO_PRE_IN_PROD)
    state = with_service(ctx, "web", ["v1.0.0", "v1.1.0", "v1.2.0-rc.1"])
    after = accepted(run(actions.promote, state, ctx, "web", "prod", "v1.2.0"))
    assert after.services["web"].stacks[0].versions == ("v1.1.0", "v1.2.0-rc.1", "v1.2.0")


def test_prerelease_may_not_be_added_straight_into_prod() -> None:
    ctx = make_ctx(NO_PRE_IN_PROD)
    plan = run(actions.add_service, State(), ctx, "web", "example/web", 1, ["v1.0.0-rc.1"])
    assert names(plan.violations) == ["prerelease"]


# -- soak ------------------------------------------------------------------------------------

SOAK_QA = Policy(gates={"qa": Gate(soak=timedelta(hours=1))})


def _soak_state() -> State:
    return with_service(make_ctx(SOAK_QA, now=T0), "web", GOOD, stacks=2)


def test_promote_before_the_soak_time_fails() -> None:
    ctx = make_ctx(SOAK_QA, now=T0 + timedelta(minutes=30))
    plan = run(actions.promote, _soak_state(), ctx, "web", "prod", "v1.4.0")
    assert subjects(list(plan.violations)) == {("soak", "web v1.2.0→prod")}
    assert "30m00s in qa, soak time is 1h00m" in plan.violations[0].message


@pytest.mark.parametrize("spent", [timedelta(hours=1), timedelta(days=2)])
def test_promote_after_the_soak_time_passes(spent: timedelta) -> None:
    ctx = make_ctx(SOAK_QA, now=T0 + spent)
    after = accepted(run(actions.promote, _soak_state(), ctx, "web", "prod", "v1.4.0"))
    assert after.services["web"].stacks[1].versions == ("v1.2.0", "v1.3.0", "v1.4.0")


def test_soak_only_holds_back_moves_out_of_the_soaking_stage() -> None:
    # --to qa moves dev's version into qa: dev has no soak, qa's version is popped.
    ctx = make_ctx(SOAK_QA, now=T0)
    accepted(run(actions.promote, _soak_state(), ctx, "web", "qa", "v1.4.0"))


def test_replace_from_above_is_soaked_but_from_below_is_not() -> None:
    ctx = make_ctx(SOAK_QA, now=T0 + timedelta(minutes=5))
    state = _soak_state()
    plan = run(actions.replace_stage, state, ctx, "web", "prod", "above")
    assert names(plan.violations) == ["soak"]
    state = with_service(make_ctx(SOAK_QA), "web", ["v1.0.0", "v1.0.0", "v1.0.0"])
    accepted(run(actions.replace_stage, state, ctx, "web", "dev", "below"))


# -- approval --------------------------------------------------------------------------------

APPROVE_PROD = Policy(gates={"prod": Gate(approval=True)})


def _approval_state() -> State:
    # Built without the gate: the gate applies to versions entering prod later.
    return with_service(make_ctx(), "web", GOOD, stacks=2)


def test_promote_into_prod_without_approval_fails() -> None:
    ctx = make_ctx(APPROVE_PROD)
    plan = run(actions.promote, _approval_state(), ctx, "web", "prod", "v1.4.0")
    assert subjects(list(plan.violations)) == {("approval", "web v1.2.0→prod")}
    assert "approve web v1.2.0 --stage prod" in plan.violations[0].message


def test_promote_into_prod_with_approval_passes() -> None:
    ctx = make_ctx(APPROVE_PROD)
    state = accepted(run(actions.approve, _approval_state(), ctx, "web", "v1.2.0", "prod", "ann"))
    assert state.approvals == (Approval("web", "v1.2.0", 0, "ann", T0),)
    after = accepted(run(actions.promote, state, ctx, "web", "prod", "v1.4.0"))
    assert after.services["web"].stacks[0].versions == ("v1.2.0", "v1.3.0", "v1.4.0")


def test_approval_for_another_stage_or_version_does_not_count() -> None:
    ctx = make_ctx(APPROVE_PROD)
    state = _approval_state()
    state = accepted(run(actions.approve, state, ctx, "web", "v1.2.0", "qa", "ann"))
    state = accepted(run(actions.approve, state, ctx, "web", "v1.3.0", "prod", "ann"))
    plan = run(actions.promote, state, ctx, "web", "prod", "v1.4.0")
    assert names(plan.violations) == ["approval"]


def test_promote_that_leaves_prod_alone_needs_no_approval() -> None:
    ctx = make_ctx(APPROVE_PROD)
    accepted(run(actions.promote, _approval_state(), ctx, "web", "qa", "v1.4.0"))


# -- rejected --------------------------------------------------------------------------------


def test_rejected_version_may_not_enter_a_stage() -> None:
    ctx = make_ctx()
    state = accepted(run(actions.reject, _approval_state(), ctx, "web", "v1.2.0", "crashes"))
    plan = run(actions.promote, state, ctx, "web", "prod", "v1.4.0")
    assert subjects(list(plan.violations)) == {("rejected", "web v1.2.0→prod")}
    assert "rejected: crashes" in plan.violations[0].message


def test_rejected_version_may_leave() -> None:
    ctx = make_ctx()
    state = accepted(run(actions.reject, _approval_state(), ctx, "web", "v1.2.0", "crashes"))
    # --to qa pops v1.2.0 out of qa: nothing rejected enters a stage.
    after = accepted(run(actions.promote, state, ctx, "web", "qa", "v1.4.0"))
    assert after.services["web"].stacks[0].versions == ("v1.1.0", "v1.3.0", "v1.4.0")


def test_rejected_version_may_not_be_pushed_into_a_stage() -> None:
    ctx = make_ctx(Policy(min_height=2, max_height=3))
    state = with_service(ctx, "web", ["v1.0.0", "v1.1.0"])
    state = accepted(run(actions.reject, state, ctx, "web", "v1.5.0", "bad build"))
    plan = run(actions.push, state, ctx, "web", "v1.5.0")
    assert subjects(list(plan.violations)) == {("rejected", "web v1.5.0→dev")}
    accepted(run(actions.push, state, ctx, "web", "v1.4.0"))


def test_push_above_the_named_stages_is_not_gated() -> None:
    ctx = make_ctx(Policy(max_height=4))
    state = accepted(run(actions.reject, _approval_state(), ctx, "web", "v1.5.0", "bad build"))
    accepted(run(actions.push, state, ctx, "web", "v1.5.0"))


# -- every violation, not the first ----------------------------------------------------------


def test_check_state_lists_every_violation() -> None:
    broken = Service(
        "web",
        "example/web",
        (
            make_stack(GOOD, 0, service="web"),
            make_stack(("v1.1.0", "v1.3.0", "v1.2.0"), 1, service="web"),
        ),
    )
    short = make_service("api", ("v1.0.0", "v1.0.0"))
    single = make_service("db", ("v1.0.0",))
    state = make_state(
        broken,
        short,
        single,
        endpoints=[Endpoint("www", "ghost", 80, 0), Endpoint("api", "api", 80, 0)],
        trees=trees_for("api"),
    )
    found = check_state(state, POLICY)
    assert subjects(found) == {
        ("stack", "web/1"),
        ("version-order", "web/1@dev"),
        ("stack-height", "api"),
        ("stack-height", "db"),
        ("endpoint", "www"),
        ("trees", "ghost"),
        ("endpoint", "api, www"),
    }
    assert len(found) == 7


def test_two_broken_stacks_and_a_bad_endpoint_are_all_reported() -> None:
    svc = Service(
        "web",
        "example/web",
        (
            make_stack(("v1.0.0", "v0.9.0", "v1.0.0"), 0, service="web"),
            make_stack(("v1.0.0", "v1.0.0", "v0.5.0"), 1, service="web"),
        ),
    )
    state = make_state(svc, endpoints=[Endpoint("www", "web", 80, 5)], trees=trees_for("web"))
    found = check_state(state, POLICY)
    assert subjects(found) == {
        ("stack", "web/1"),
        ("version-order", "web/0@qa"),
        ("version-order", "web/1@dev"),
        ("endpoint", "www"),
    }
    assert len(found) == 4


def test_check_state_with_services_only_reports_those() -> None:
    state = make_state(
        make_service("web", ("v1.0.0", "v0.9.0", "v1.0.0")),
        make_service("api", ("v1.0.0",)),
    )
    assert subjects(check_state(state, POLICY, ["web"])) == {("version-order", "web@qa")}
    assert subjects(check_state(state, POLICY, ["api", "ghost"])) == {("stack-height", "api")}
    assert len(check_state(state, POLICY)) == 2


def test_plan_lists_every_violation_of_every_kind() -> None:
    ctx = make_ctx(Policy(gates={"prod": Gate(approval=True)}))
    state = with_service(make_ctx(), "web", GOOD, stacks=2)
    state = accepted(run(actions.reject, state, ctx, "web", "v1.2.0", "crashes"))
    plan = run(actions.promote, state, ctx, "web", "prod", "v1.0.0")
    assert subjects(list(plan.violations)) == {
        ("version-order", "web@dev"),  # once for the two identical stacks
        ("rejected", "web v1.2.0→prod"),
        ("approval", "web v1.2.0→prod"),
    }
    assert len(plan.violations) == 3
    assert not plan.ok


# -- where a violation is: stage, position and config key, as values ------------------------


def test_service_wide_violations_carry_their_config_key_and_no_stage() -> None:
    one = make_state(make_service("web", GOOD, stacks=2, hosts=("h1",)))
    policy = Policy(min_stacks=3, distinct_hosts=True)
    assert places(check_state(one, policy)) == [
        ("service", None, None, ("min_stacks",)),
        ("distinct-hosts", None, None, ("distinct_hosts",)),
    ]
    short = make_state(make_service("web", GOOD[:2]))
    assert places(check_state(short, POLICY)) == [("stack-height", None, None, ("min_height",))]
    tall = make_state(make_service("web", (*GOOD, "v1.4.0", "v1.5.0")))
    found = check_state(tall, Policy(max_height=4))
    assert places(found) == [("stack-height", None, None, ("max_height",))]


def test_stack_violations_come_from_no_key_and_no_stage() -> None:
    other = ("v1.1.0", "v1.2.0", "v1.2.0")
    differs = Service("web", "example/web", (make_stack(GOOD, 0), make_stack(other, 1)))
    shared = Service("api", "example/api", (make_stack(GOOD, 0), make_stack(GOOD, 0)))
    assert places(check_state(make_state(differs, shared), POLICY)) == [
        ("stack", None, None, None),
        ("stack", None, None, None),
    ]


def test_version_violations_carry_their_stage_position_and_the_versions_key() -> None:
    state = make_state(make_service("web", ("v1.0.0", "v0.10.0", "v0.9.0")))
    assert places(check_state(state, POLICY)) == [
        ("version-order", "qa", 1, ("versions",)),
        ("version-order", "dev", 2, ("versions",)),
    ]
    equal = make_state(make_service("web", ("v1.0.0", "v1.0.0", "v1.1.0")))
    found = check_state(equal, Policy(versions=VersionPolicy.INCREASING))
    assert places(found) == [("version-order", "qa", 1, ("versions",))]
    named = make_state(make_service("web", ("latest", "v1.0.0", "v1.1.0")))
    assert places(check_state(named, POLICY)) == [("version-order", "prod", 0, ("versions",))]


def test_a_container_without_version_is_at_its_stage_and_comes_from_no_key() -> None:
    state = make_state(make_service("web", ("v1.0.0", "v1.0.0", "")))
    assert places(check_state(state, POLICY)) == [("container", "dev", 2, None)]


def test_a_position_above_the_named_stages_has_a_position_but_no_stage() -> None:
    state = make_state(make_service("web", (*GOOD, "v1.0.0")))
    (found,) = check_state(state, Policy(max_height=4))
    assert found.subject == "web@#3"
    assert places([found]) == [("version-order", None, 3, ("versions",))]


def test_endpoint_violations_are_at_the_stage_the_endpoint_is_bound_to() -> None:
    ghost = _endpoint_state(Endpoint("www", "ghost", 80, 1))
    assert places(check_state(ghost, POLICY))[0] == ("endpoint", "qa", 1, None)
    beyond = _endpoint_state(Endpoint("www", "web", 80, 3))
    assert places(check_state(beyond, POLICY)) == [("endpoint", None, 3, None)]
    empty = _endpoint_state(Endpoint("www", "web", 80, 2), height=2)
    assert places(check_state(empty, Policy(min_height=2))) == [("endpoint", "dev", 2, None)]
    port = _endpoint_state(Endpoint("www", "web", 80, 0), Endpoint("store", "shop", 80, 2))
    assert places(check_state(port, POLICY)) == [("endpoint", None, None, None)]


def test_tree_violations_are_at_the_stage_of_their_tree() -> None:
    missing = _tree_state(Tree("web", 0))
    assert places(check_state(missing, POLICY)) == [("trees", None, None, None)]
    edges = (Edge("api", "ghost", 1),)  # a parent outside the tree, an unknown child
    broken = _tree_state(Tree("web", 0), Tree("web", 1, edges), Tree("web", 2))
    assert places(check_state(broken, POLICY)) == [("trees", "qa", 1, None)] * 2


def test_gate_violations_are_at_the_stage_entered_and_come_from_its_gate() -> None:
    policy = Policy(
        gates={
            "prod": Gate(prereleases=False, approval=True),
            "qa": Gate(soak=timedelta(hours=1)),
        }
    )
    state = State(rejections=(Rejection("web", "1.0.0-rc.1", "broken", "ann", T0),))
    found = check_entries(state, policy, [_entry("1.0.0-rc.1", 0, origin=1)], T0)
    assert places(found) == [
        ("rejected", "prod", 0, None),
        ("prerelease", "prod", 0, ("gates", "prod", "prereleases")),
        ("approval", "prod", 0, ("gates", "prod", "approval")),
        ("soak", "prod", 0, ("gates", "qa", "soak")),  # the soak of the stage it leaves
    ]


def test_the_soak_key_is_the_gate_of_the_stage_the_version_leaves() -> None:
    policy = Policy(gates={"dev": Gate(soak=timedelta(hours=1))})
    state = with_service(make_ctx(policy, now=T0), "web", GOOD, stacks=2)
    ctx = make_ctx(policy, now=T0 + timedelta(minutes=5))
    plan = run(actions.promote, state, ctx, "web", "qa", "v1.4.0")
    assert places(plan.violations) == [("soak", "qa", 1, ("gates", "dev", "soak"))]
    assert str(plan.violations[0]) == "[soak] web v1.3.0→qa: 5m00s in dev, soak time is 1h00m"


def test_violations_read_as_before_and_compare_by_every_field() -> None:
    state = make_state(make_service("web", ("v1.0.0", "v0.10.0", "v0.9.0")))
    found = check_state(state, POLICY)
    assert [str(v) for v in found] == [
        "[version-order] web@qa: v0.10.0 is lower than v1.0.0 in prod "
        "(versions = 'non-decreasing')",
        "[version-order] web@dev: v0.9.0 is lower than v0.10.0 in qa (versions = 'non-decreasing')",
    ]
    assert set(check_state(state, POLICY)) == set(found)  # equal and hashable
    bare = constraints.Violation(found[0].constraint, found[0].subject, found[0].message)
    assert str(bare) == str(found[0])
    assert (bare.stage, bare.position, bare.key) == (None, None, None)
    assert bare != found[0]
