"""Actions: what each one plans, what it refuses, and that it never changes its input."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline_kit.model import actions, routes
from pipeline_kit.model.actions import Context
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import Approval, Edge, Endpoint, Rejection, State, Tree
from pipeline_kit.model.plan import Operation, Plan
from pipeline_kit.model.policy import Policy
from pipeline_kit.model.versions import VersionPolicy
from tests.model_helpers import (
    T0,
    accepted,
    make_ctx,
    names,
    places,
    run,
    versions_of,
    with_service,
)

LATER = T0 + timedelta(hours=3)
TALL = Policy(max_height=4)  # min_height 3 (the stages), one more for a push
ABC = ("v1.1.0", "v1.2.0", "v1.3.0")


def base(policy: Policy | None = None, stacks: int = 2) -> State:
    """web: [v1.1.0 (prod), v1.2.0 (qa), v1.3.0 (dev)] on every stack, entered at T0."""
    return with_service(make_ctx(policy, prefix="b"), "web", ABC, stacks=stacks)


def later(policy: Policy | None = None) -> Context:
    return make_ctx(policy, now=LATER, actor="ann")


def ops(plan: Plan) -> list[tuple[str, int, int, str]]:
    return [(o.kind, o.stack, o.position, o.version) for o in plan.operations]


# -- service add -----------------------------------------------------------------------------


def test_service_add_pads_every_stack_from_one_version() -> None:
    ctx = make_ctx()
    plan = run(actions.add_service, State(), ctx, "web", "example/web", 2, ["v1.0.0"])
    after = accepted(plan)
    svc = after.services["web"]
    assert svc.image == "example/web"
    assert [s.index for s in svc.stacks] == [0, 1]
    assert versions_of(after, "web") == [("v1.0.0",) * 3] * 2
    containers = [c for s in svc.stacks for c in s.containers]
    assert len({c.id for c in containers}) == 6
    assert all(c.entered == T0 and c.previous is None for c in containers)
    assert sorted(ops(plan)) == sorted(
        ("start", i, p, "v1.0.0") for i in range(2) for p in range(3)
    )
    assert plan.args["versions"] == ["v1.0.0"] * 3
    assert plan.services_changed() == ["web"]


def test_service_add_pads_with_the_last_version() -> None:
    after = with_service(make_ctx(), "web", ["v1.0.0", "v1.1.0"])
    assert versions_of(after, "web") == [("v1.0.0", "v1.1.0", "v1.1.0")]


def test_service_add_spreads_stacks_over_hosts_round_robin() -> None:
    after = with_service(make_ctx(), "web", ["v1.0.0"], stacks=5, hosts=["h1", "h2"])
    assert [s.host for s in after.services["web"].stacks] == ["h1", "h2", "h1", "h2", "h1"]
    after = with_service(make_ctx(), "web", ["v1.0.0"], stacks=2)
    assert [s.host for s in after.services["web"].stacks] == ["local", "local"]


def test_service_add_keeps_other_services() -> None:
    ctx = make_ctx()
    state = with_service(ctx, "web", ["v1.0.0"])
    after = with_service(ctx, "api", ["v2.0.0"], state=state)
    assert set(after.services) == {"web", "api"}
    assert after.services["web"] == state.services["web"]


def test_service_add_accepts_a_registry_image() -> None:
    image = "registry.example.com:5000/team/webapp"
    plan = run(actions.add_service, State(), make_ctx(), "web", image, 1, ["v1.0.0"])
    assert accepted(plan).services["web"].image == image


@pytest.mark.parametrize(
    ("name", "image", "stacks", "version_list", "hosts"),
    [
        ("web", "example/web", 1, ["v1.0.0"], []),  # exists already
        ("Web_App", "example/webapp", 1, ["v1.0.0"], []),
        ("-web", "example/webapp", 1, ["v1.0.0"], []),
        ("webapp", "Example/WebApp:1.0", 1, ["v1.0.0"], []),
        ("webapp", "example/webapp:1.0", 1, ["v1.0.0"], []),
        ("webapp", "example/webapp", 1, [], []),
        ("webapp", "example/webapp", 1, ["v1..2"], []),
        ("webapp", "example/webapp", 1, ["v1.0.0", "latest"], []),
        ("webapp", "example/webapp", 0, ["v1.0.0"], []),
        ("webapp", "example/webapp", 65, ["v1.0.0"], []),
        ("webapp", "example/webapp", 1, ["v1.0.0"], ["bad host"]),
    ],
)
def test_service_add_refuses_bad_input(
    name: str, image: str, stacks: int, version_list: list[str], hosts: list[str]
) -> None:
    state = with_service(make_ctx(), "web", ["v1.0.0"])
    with pytest.raises(InvalidInput) as excinfo:
        run(actions.add_service, state, make_ctx(), name, image, stacks, version_list, hosts)
    assert excinfo.value.exit_code == 2


def test_service_add_with_too_many_versions_breaks_stack_height() -> None:
    versions = ["v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0", "v1.4.0"]
    plan = run(actions.add_service, State(), make_ctx(TALL), "web", "example/web", 1, versions)
    assert names(plan.violations) == ["stack-height"]


# -- push ------------------------------------------------------------------------------------


def test_push_adds_the_version_on_top_of_every_stack() -> None:
    state = base(TALL)
    plan = run(actions.push, state, later(TALL), "web", "v1.4.0")
    after = accepted(plan)
    assert versions_of(after, "web") == [(*ABC, "v1.4.0")] * 2
    for old, new in zip(state.services["web"].stacks, after.services["web"].stacks, strict=True):
        assert new.containers[:3] == old.containers  # untouched below
        top = new.containers[3]
        assert (top.entered, top.previous) == (LATER, None)
    assert ops(plan) == [("start", 0, 3, "v1.4.0"), ("start", 1, 3, "v1.4.0")]


def test_push_of_a_lower_version_breaks_version_order() -> None:
    plan = run(actions.push, base(TALL), later(TALL), "web", "v1.2.9")
    assert names(plan.violations) == ["version-order"]
    assert "v1.2.9 is lower than v1.3.0" in plan.violations[0].message


def test_push_equal_version_is_allowed_only_when_non_decreasing() -> None:
    accepted(run(actions.push, base(TALL), later(TALL), "web", "v1.3.0"))
    strict = Policy(max_height=4, versions=VersionPolicy.INCREASING)
    plan = run(actions.push, base(strict), later(strict), "web", "v1.3.0")
    assert names(plan.violations) == ["version-order"]


def test_push_above_max_height_breaks_stack_height() -> None:
    plan = run(actions.push, base(), later(), "web", "v1.4.0")
    assert names(plan.violations) == ["stack-height"]
    assert plan.after.services["web"].height == 4  # the plan still shows the outcome


@pytest.mark.parametrize(("service", "version"), [("ghost", "v1.4.0"), ("web", "v1..2")])
def test_push_refuses_bad_input(service: str, version: str) -> None:
    with pytest.raises(InvalidInput):
        run(actions.push, base(TALL), later(TALL), service, version)


# -- pop -------------------------------------------------------------------------------------


def _tall() -> State:
    """web: [v1.1.0, v1.2.0, v1.3.0, v1.4.0] on two stacks."""
    return accepted(run(actions.push, base(TALL), make_ctx(TALL, prefix="t"), "web", "v1.4.0"))


@pytest.mark.parametrize("stage", ["qa", "1"])
def test_pop_removes_a_position_and_shifts_the_rest_down(stage: str) -> None:
    state = _tall()
    plan = run(actions.pop, state, later(TALL), "web", stage)
    after = accepted(plan)
    assert versions_of(after, "web") == [("v1.1.0", "v1.3.0", "v1.4.0")] * 2
    for old, new in zip(state.services["web"].stacks, after.services["web"].stacks, strict=True):
        assert new.containers[0] == old.containers[0]  # prod untouched
        for pos in (1, 2):
            moved = new.containers[pos]
            assert moved.id == old.containers[pos + 1].id  # the same container moved down
            assert moved.entered == LATER
            assert moved.previous == old.containers[pos].version
    assert [c.previous for c in after.services["web"].stacks[0].containers] == [
        None,
        "v1.2.0",
        "v1.3.0",
    ]
    old_ids = [s.containers[1].id for s in state.services["web"].stacks]
    assert [(o.kind, o.stack, o.position, o.version, o.container) for o in plan.operations] == [
        ("stop", 0, 1, "v1.2.0", old_ids[0]),
        ("stop", 1, 1, "v1.2.0", old_ids[1]),
    ]


def test_pop_of_the_top_shifts_nothing() -> None:
    state = _tall()
    after = accepted(run(actions.pop, state, later(TALL), "web", "3"))
    assert (
        after.services["web"].stacks[0].containers == state.services["web"].stacks[0].containers[:3]
    )


def test_pop_below_min_height_breaks_stack_height() -> None:
    plan = run(actions.pop, base(), later(), "web", "dev")
    assert names(plan.violations) == ["stack-height"]
    assert places(plan.violations) == [("stack-height", None, None, ("min_height",))]


@pytest.mark.parametrize(("service", "stage"), [("web", "staging"), ("web", "4"), ("ghost", "qa")])
def test_pop_refuses_bad_input(service: str, stage: str) -> None:
    with pytest.raises(InvalidInput):
        run(actions.pop, _tall(), later(TALL), service, stage)


# -- promote ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("to", "version", "expected"),
    [
        ("prod", "v1.4.0", ("v1.2.0", "v1.3.0", "v1.4.0")),
        ("qa", "v1.4.0", ("v1.1.0", "v1.3.0", "v1.4.0")),
        ("dev", "v1.4.0", ("v1.1.0", "v1.2.0", "v1.4.0")),
        ("qa", None, ("v1.1.0", "v1.3.0", "v1.3.0")),
        ("prod", None, ("v1.2.0", "v1.3.0", "v1.3.0")),
        ("0", "v1.4.0", ("v1.2.0", "v1.3.0", "v1.4.0")),
        ("1", "v1.4.0", ("v1.1.0", "v1.3.0", "v1.4.0")),
    ],
)
def test_promote_pushes_and_pops_as_one_plan(
    to: str, version: str | None, expected: tuple[str, ...]
) -> None:
    plan = run(actions.promote, base(), later(), "web", to, version)
    after = accepted(plan)
    assert versions_of(after, "web") == [expected] * 2
    assert plan.args["version"] == (version or "v1.3.0")
    assert plan.args["to"] == {"0": "prod", "1": "qa"}.get(to, to)


def test_promote_operations_start_the_new_version_and_stop_the_popped_one() -> None:
    state = base()
    plan = run(actions.promote, state, later(), "web", "prod", "v1.4.0")
    after = accepted(plan)
    started = [o for o in plan.operations if o.kind == "start"]
    stopped = [o for o in plan.operations if o.kind == "stop"]
    # the new containers end at dev (position 2), where the plan says they start
    assert [(o.stack, o.position, o.version) for o in started] == [
        (0, 2, "v1.4.0"),
        (1, 2, "v1.4.0"),
    ]
    assert [o.container for o in started] == [
        s.containers[2].id for s in after.services["web"].stacks
    ]
    assert stopped == [
        Operation("stop", "web", i, 0, "v1.1.0", s.containers[0].id)
        for i, s in enumerate(state.services["web"].stacks)
    ]


def test_promote_records_previous_versions_and_entry_times() -> None:
    after = accepted(run(actions.promote, base(), later(), "web", "prod", "v1.4.0"))
    for stack in after.services["web"].stacks:
        assert [c.previous for c in stack.containers] == ["v1.1.0", "v1.2.0", "v1.3.0"]
        assert [c.entered for c in stack.containers] == [LATER] * 3


def test_promote_of_a_version_lower_than_the_top_breaks_version_order() -> None:
    plan = run(actions.promote, base(), later(), "web", "prod", "v1.2.5")
    assert names(plan.violations) == ["version-order"]
    assert plan.violations[0].subject == "web@dev"
    assert places(plan.violations) == [("version-order", "dev", 2, ("versions",))]


@pytest.mark.parametrize(
    ("service", "to", "version"),
    [
        ("web", "staging", "v1.4.0"),
        ("web", "3", "v1.4.0"),
        ("web", "99", "v1.4.0"),
        ("web", "-1", "v1.4.0"),
        ("web", "prod", "v1..2"),
        ("web", "prod", "latest"),
        ("ghost", "prod", "v1.4.0"),
    ],
)
def test_promote_refuses_bad_input(service: str, to: str, version: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        run(actions.promote, base(), later(), service, to, version)
    assert excinfo.value.exit_code == 2


def test_promote_to_a_unicode_digit_stage_is_invalid_input() -> None:
    # Regression (policy.Policy.position): "²".isdigit() is True but int("²") raises
    # ValueError, which escaped as a crash (exit 4) instead of InvalidInput (exit 2).
    for stage in ("²", "١"):
        with pytest.raises(InvalidInput):
            run(actions.promote, base(), later(), "web", stage, "v1.4.0")
    with pytest.raises(InvalidInput):
        run(actions.pop, base(), later(), "web", "²")


# -- replace ---------------------------------------------------------------------------------


def test_replace_with_above_copies_the_version_above() -> None:
    state = base()
    plan = run(actions.replace_stage, state, later(), "web", "prod", "above")
    after = accepted(plan)
    assert versions_of(after, "web") == [("v1.2.0", "v1.2.0", "v1.3.0")] * 2
    for old, new in zip(state.services["web"].stacks, after.services["web"].stacks, strict=True):
        c = new.containers[0]
        assert c.id not in {x.id for x in old.containers}  # a new container
        assert (c.entered, c.previous) == (LATER, "v1.1.0")
        assert new.containers[1:] == old.containers[1:]
    assert ops(plan) == [
        ("start", 0, 0, "v1.2.0"),
        ("stop", 0, 0, "v1.1.0"),
        ("start", 1, 0, "v1.2.0"),
        ("stop", 1, 0, "v1.1.0"),
    ]


def test_replace_with_below_copies_the_version_below() -> None:
    after = accepted(run(actions.replace_stage, base(), later(), "web", "dev", "below"))
    assert versions_of(after, "web") == [("v1.1.0", "v1.2.0", "v1.2.0")] * 2
    assert after.services["web"].stacks[0].containers[2].previous == "v1.3.0"


def test_replace_that_makes_equal_neighbours_breaks_increasing() -> None:
    policy = Policy(versions=VersionPolicy.INCREASING)
    plan = run(actions.replace_stage, base(policy), later(policy), "web", "qa", "below")
    assert names(plan.violations) == ["version-order"]


@pytest.mark.parametrize(
    ("service", "stage", "with_"),
    [
        ("web", "prod", "below"),
        ("web", "dev", "above"),
        ("web", "qa", "sideways"),
        ("web", "staging", "above"),
        ("ghost", "qa", "above"),
    ],
)
def test_replace_refuses_bad_input(service: str, stage: str, with_: str) -> None:
    with pytest.raises(InvalidInput):
        run(actions.replace_stage, base(), later(), service, stage, with_)


# -- rollback --------------------------------------------------------------------------------


def _promoted() -> State:
    """web after promote v1.4.0 --to prod: [v1.2.0, v1.3.0, v1.4.0], prod's previous v1.1.0."""
    ctx = make_ctx(now=T0 + timedelta(hours=1), prefix="p")
    return accepted(run(actions.promote, base(), ctx, "web", "prod", "v1.4.0"))


def test_rollback_restores_the_previous_prod_version_and_rejects_the_bad_one() -> None:
    state = _promoted()
    ctx = later()
    plan = run(actions.rollback, state, ctx, "web")
    after = accepted(plan)
    assert versions_of(after, "web") == [("v1.1.0", "v1.3.0", "v1.4.0")] * 2
    prod = after.services["web"].stacks[0].containers[0]
    assert (prod.previous, prod.entered) == ("v1.2.0", LATER)
    assert after.rejections == (Rejection("web", "v1.2.0", "rolled back from prod", "ann", LATER),)
    assert ops(plan) == [
        ("start", 0, 0, "v1.1.0"),
        ("stop", 0, 0, "v1.2.0"),
        ("start", 1, 0, "v1.1.0"),
        ("stop", 1, 0, "v1.2.0"),
    ]


def test_rolled_back_version_may_not_be_promoted_again() -> None:
    state = accepted(run(actions.rollback, _promoted(), later(), "web", "dev"))
    assert versions_of(state, "web") == [("v1.2.0", "v1.3.0", "v1.3.0")] * 2
    assert state.is_rejected("web", "v1.4.0") is not None
    plan = run(actions.promote, state, later(), "web", "qa", "v1.4.0")
    assert [(v.constraint, v.subject) for v in plan.violations] == [("rejected", "web v1.4.0→dev")]
    assert places(plan.violations) == [("rejected", "dev", 2, None)]
    accepted(run(actions.promote, state, later(), "web", "qa", "v1.4.1"))


def test_rolled_back_prod_version_is_refused_when_promoted_again() -> None:
    state = accepted(run(actions.rollback, _promoted(), later(), "web"))
    plan = run(actions.promote, state, later(), "web", "prod", "v1.2.0")
    assert "rejected" in names(plan.violations)


def test_rollback_to_an_explicit_older_version() -> None:
    plan = run(actions.rollback, _promoted(), later(), "web", "prod", "v1.0.0")
    after = accepted(plan)
    assert versions_of(after, "web") == [("v1.0.0", "v1.3.0", "v1.4.0")] * 2
    assert [r.version for r in after.rejections] == ["v1.2.0"]


def test_rollback_does_not_reject_twice() -> None:
    ctx = later()
    state = accepted(run(actions.reject, _promoted(), ctx, "web", "v1.2.0", "crashes"))
    after = accepted(run(actions.rollback, state, ctx, "web", "0"))
    assert after.rejections == state.rejections


@pytest.mark.parametrize(
    ("stage", "to"),
    [
        (None, "v1.3.0"),  # newer
        (None, "v1.2.0"),  # the same
        (None, "v1..2"),
        ("staging", None),
        ("3", None),
    ],
)
def test_rollback_refuses_bad_input(stage: str | None, to: str | None) -> None:
    with pytest.raises(InvalidInput):
        run(actions.rollback, _promoted(), later(), "web", stage, to)


def test_rollback_without_a_recorded_previous_version_needs_to() -> None:
    with pytest.raises(InvalidInput, match="give --to VERSION"):
        run(actions.rollback, base(), later(), "web")
    after = accepted(run(actions.rollback, base(), later(), "web", "prod", "v1.0.0"))
    assert versions_of(after, "web")[0][0] == "v1.0.0"


# -- stack add / remove ----------------------------------------------------------------------


def test_stack_add_clones_the_first_stack() -> None:
    state = base()
    plan = run(actions.add_stack, state, later(), "web", "h9")
    after = accepted(plan)
    stacks = after.services["web"].stacks
    assert [(s.index, s.host) for s in stacks] == [(0, "local"), (1, "local"), (2, "h9")]
    assert stacks[2].versions == ABC
    old_ids = {c.id for s in state.services["web"].stacks for c in s.containers}
    assert not old_ids & {c.id for c in stacks[2].containers}
    assert ops(plan) == [("start", 2, p, v) for p, v in enumerate(ABC)]
    default = accepted(run(actions.add_stack, state, later(), "web"))
    assert default.services["web"].stacks[2].host == "local"  # the first stack's host


def test_stack_remove_removes_the_last_or_the_given_stack() -> None:
    state = with_service(make_ctx(), "web", ABC, stacks=3)
    after = accepted(run(actions.remove_stack, state, later(), "web"))
    assert [s.index for s in after.services["web"].stacks] == [0, 1]
    plan = run(actions.remove_stack, state, later(), "web", 0)
    assert [s.index for s in accepted(plan).services["web"].stacks] == [1, 2]
    assert ops(plan) == [("stop", 0, p, v) for p, v in enumerate(ABC)]
    readded = accepted(run(actions.add_stack, accepted(plan), later(), "web"))
    assert [s.index for s in readded.services["web"].stacks] == [1, 2, 3]


def test_stack_remove_below_min_stacks_is_a_violation() -> None:
    policy = Policy(min_stacks=2)
    plan = run(actions.remove_stack, base(policy), later(policy), "web")
    assert names(plan.violations) == ["service"]
    assert "min_stacks is 2" in plan.violations[0].message
    assert places(plan.violations) == [("service", None, None, ("min_stacks",))]
    plan = run(actions.remove_stack, base(stacks=1), later(), "web")
    assert names(plan.violations) == ["service"]


@pytest.mark.parametrize(
    ("action", "args"),
    [
        (actions.remove_stack, ("web", 7)),
        (actions.remove_stack, ("ghost", None)),
        (actions.add_stack, ("ghost", None)),
        (actions.add_stack, ("web", "bad host")),
    ],
)
def test_stack_add_and_remove_refuse_bad_input(action: object, args: tuple[object, ...]) -> None:
    with pytest.raises(InvalidInput):
        run(action, base(), later(), *args)  # type: ignore[arg-type]


# -- endpoints, trees and switch -------------------------------------------------------------


def _graph() -> State:
    """web, api and db, each [v1.1.0, v1.2.0, v1.3.0]."""
    ctx = make_ctx(prefix="g")
    state = with_service(ctx, "web", ABC)
    state = with_service(ctx, "api", ABC, state=state)
    return with_service(ctx, "db", ABC, state=state)


def _with_endpoint(stage: str = "prod") -> State:
    return accepted(run(routes.add_endpoint, _graph(), make_ctx(), "www", "web", 80, stage))


@pytest.mark.parametrize(("stage", "position"), [("prod", 0), ("qa", 1), ("2", 2)])
def test_endpoint_add_makes_one_tree_per_stage(stage: str, position: int) -> None:
    after = _with_endpoint(stage)
    assert after.endpoints == {"www": Endpoint("www", "web", 80, position, position)}
    assert after.trees == {("web", p): Tree("web", p) for p in range(3)}


def test_second_endpoint_keeps_the_existing_trees() -> None:
    state = accepted(run(routes.connect, _with_endpoint(), make_ctx(), "web", "api", "www"))
    after = accepted(run(routes.add_endpoint, state, make_ctx(), "beta", "web", 81, "dev"))
    assert after.trees == state.trees
    assert set(after.endpoints) == {"www", "beta"}


def test_endpoint_add_on_a_port_in_use_is_a_violation() -> None:
    plan = run(routes.add_endpoint, _with_endpoint(), make_ctx(), "shop", "api", 80, "prod")
    assert [(v.constraint, v.subject) for v in plan.violations] == [("endpoint", "shop, www")]
    assert "share port 80" in plan.violations[0].message


@pytest.mark.parametrize(
    ("name", "service", "port", "stage"),
    [
        ("shop", "ghost", 81, "prod"),
        ("www", "api", 81, "prod"),  # exists already
        ("Shop", "api", 81, "prod"),
        ("shop", "api", 0, "prod"),
        ("shop", "api", 65536, "prod"),
        ("shop", "api", 81, "staging"),
        ("shop", "api", 81, "3"),
    ],
)
def test_endpoint_add_refuses_bad_input(name: str, service: str, port: int, stage: str) -> None:
    with pytest.raises(InvalidInput):
        run(routes.add_endpoint, _with_endpoint(), make_ctx(), name, service, port, stage)


def test_connect_adds_the_edge_to_every_tree_at_its_stage() -> None:
    plan = run(routes.connect, _with_endpoint(), make_ctx(), "web", "api", "www")
    after = accepted(plan)
    assert after.trees == {("web", p): Tree("web", p, (Edge("web", "api", p),)) for p in range(3)}
    after = accepted(run(routes.connect, after, make_ctx(), "api", "db", "www"))
    assert after.trees[("web", 1)].edges == (Edge("web", "api", 1), Edge("api", "db", 1))
    assert after.trees[("web", 2)].members() == {"web", "api", "db"}


@pytest.mark.parametrize(
    ("endpoint_stage", "stage", "expected"),
    [("prod", "dev", [2, 1, 2]), ("qa", "prod", [0, 0, 2]), ("prod", "prod", [0, 1, 2])],
)
def test_connect_stage_overrides_only_the_endpoints_own_tree(
    endpoint_stage: str, stage: str, expected: list[int]
) -> None:
    state = _with_endpoint(endpoint_stage)
    after = accepted(run(routes.connect, state, make_ctx(), "web", "api", "www", stage))
    assert [after.trees[("web", p)].edges for p in range(3)] == [
        (Edge("web", "api", pos),) for pos in expected
    ]


@pytest.mark.parametrize(
    ("parent", "child", "endpoint", "stage"),
    [
        ("api", "web", "www", None),  # cycle to the root
        ("web", "web", "www", None),  # self
        ("web", "api", "www", None),  # duplicate child
        ("api", "web", "www", "qa"),
        ("db", "web", "www", None),  # parent not in the tree
        ("web", "ghost", "www", None),
        ("ghost", "api", "www", None),
        ("web", "db", "nope", None),
        ("web", "db", "www", "staging"),
    ],
)
def test_connect_refuses_bad_input(
    parent: str, child: str, endpoint: str, stage: str | None
) -> None:
    state = accepted(run(routes.connect, _with_endpoint(), make_ctx(), "web", "api", "www"))
    with pytest.raises(InvalidInput):
        run(routes.connect, state, make_ctx(), parent, child, endpoint, stage)


def test_connect_refuses_a_cycle_below_the_root() -> None:
    state = accepted(run(routes.connect, _with_endpoint(), make_ctx(), "web", "api", "www"))
    state = accepted(run(routes.connect, state, make_ctx(), "api", "db", "www"))
    with pytest.raises(InvalidInput):
        run(routes.connect, state, make_ctx(), "db", "api", "www")


def test_switch_binds_the_endpoint_to_another_stage() -> None:
    state = accepted(run(routes.connect, _with_endpoint(), make_ctx(), "web", "api", "www"))
    after = accepted(run(routes.switch, state, make_ctx(), "www", "qa"))
    assert after.endpoints["www"] == Endpoint("www", "web", 80, 1, home=0)  # its home stays
    assert after.trees == state.trees
    assert accepted(run(routes.switch, after, make_ctx(), "www", "0")).endpoints == state.endpoints


@pytest.mark.parametrize(("endpoint", "stage"), [("nope", "qa"), ("www", "staging"), ("www", "3")])
def test_switch_refuses_bad_input(endpoint: str, stage: str) -> None:
    with pytest.raises(InvalidInput):
        run(routes.switch, _with_endpoint(), make_ctx(), endpoint, stage)


def test_switch_to_a_stage_without_container_is_a_violation() -> None:
    policy = Policy(min_height=2)
    ctx = make_ctx(policy)
    state = with_service(ctx, "web", ["v1.0.0", "v1.1.0"])
    state = accepted(run(routes.add_endpoint, state, ctx, "www", "web", 80, "qa"))
    plan = run(routes.switch, state, ctx, "www", "dev")
    assert [(v.constraint, v.subject) for v in plan.violations] == [("endpoint", "www")]
    assert places(plan.violations) == [("endpoint", "dev", 2, None)]


# -- approve and reject ----------------------------------------------------------------------


def test_approve_records_an_approval_once_per_person() -> None:
    ctx = later()
    plan = run(actions.approve, base(), ctx, "web", "v1.2.0", "prod", "ann")
    after = accepted(plan)
    assert after.approvals == (Approval("web", "v1.2.0", 0, "ann", LATER),)
    assert after.is_approved("web", "v1.2.0", 0)
    assert not after.is_approved("web", "v1.2.0", 1)
    again = accepted(run(actions.approve, after, ctx, "web", "1.2.0", "0", "ann"))
    assert again.approvals == after.approvals  # once per person
    other = accepted(run(actions.approve, after, ctx, "web", "v1.2.0", "0", "bob"))
    assert [a.by for a in other.approvals] == ["ann", "bob"]
    assert after.services == base().services


@pytest.mark.parametrize(
    ("service", "version", "stage", "by"),
    [
        ("ghost", "v1.2.0", "prod", "ann"),
        ("web", "v1..2", "prod", "ann"),
        ("web", "v1.2.0", "staging", "ann"),
        ("web", "v1.2.0", "3", "ann"),
        ("web", "v1.2.0", "prod", ""),
        ("web", "v1.2.0", "prod", "   "),
        ("web", "v1.2.0", "prod", "x" * 201),
    ],
)
def test_approve_refuses_bad_input(service: str, version: str, stage: str, by: str) -> None:
    with pytest.raises(InvalidInput):
        run(actions.approve, base(), later(), service, version, stage, by)


def test_reject_records_a_rejection_once() -> None:
    ctx = later()
    after = accepted(run(actions.reject, base(), ctx, "web", "v1.2.0", "crashes"))
    assert after.rejections == (Rejection("web", "v1.2.0", "crashes", "ann", LATER),)
    again = accepted(run(actions.reject, after, ctx, "web", "v1.2.0", "still"))
    assert again.rejections == after.rejections
    assert after.services == base().services  # containers stay where they are


@pytest.mark.parametrize(
    ("service", "version", "reason"),
    [
        ("ghost", "v1.2.0", "crashes"),
        ("web", "v1..2", "crashes"),
        ("web", "v1.2.0", ""),
        ("web", "v1.2.0", " "),
        ("web", "v1.2.0", "x" * 501),
    ],
)
def test_reject_refuses_bad_input(service: str, version: str, reason: str) -> None:
    with pytest.raises(InvalidInput):
        run(actions.reject, base(), later(), service, version, reason)


# -- purity ----------------------------------------------------------------------------------


def _full() -> State:
    state = accepted(
        run(routes.connect, _with_endpoint(), make_ctx(prefix="c"), "web", "api", "www")
    )
    ctx = make_ctx(TALL, prefix="f")
    state = accepted(run(actions.approve, state, ctx, "web", "v1.2.0", "prod", "ann"))
    state = accepted(run(actions.reject, state, ctx, "api", "v9.0.0", "bad"))
    return accepted(run(actions.push, state, ctx, "db", "v1.4.0"))


PURITY_CASES = [
    (actions.add_service, ("shop", "example/shop", 2, ["v1.0.0"])),
    (actions.add_service, ("Bad_Name", "example/shop", 2, ["v1.0.0"])),
    (actions.push, ("web", "v1.4.0")),
    (actions.push, ("web", "v1.0.0")),
    (actions.pop, ("db", "qa")),
    (actions.promote, ("web", "prod", "v1.4.0")),
    (actions.promote, ("web", "qa", None)),
    (actions.promote, ("web", "staging", None)),
    (actions.replace_stage, ("web", "prod", "above")),
    (actions.rollback, ("web", "prod", "v1.0.0")),
    (actions.add_stack, ("web", None)),
    (actions.remove_stack, ("web", None)),
    (routes.add_endpoint, ("shop", "api", 81, "qa")),
    (routes.add_endpoint, ("shop", "api", 80, "qa")),
    (routes.connect, ("api", "db", "www", "dev")),
    (routes.switch, ("www", "dev")),
    (actions.approve, ("web", "v1.3.0", "prod", "bob")),
    (actions.reject, ("web", "v1.3.0", "flaky")),
]


@pytest.mark.parametrize(("action", "args"), PURITY_CASES)
def test_actions_never_change_their_input_state(action: object, args: tuple[object, ...]) -> None:
    state = _full()
    rebuilt = _full()  # an equal state built independently
    assert state == rebuilt
    ctx = make_ctx(TALL, now=LATER, prefix="x")
    try:
        plan = run(action, state, ctx, *args)  # type: ignore[arg-type]
    except InvalidInput:
        plan = None
    assert state == rebuilt
    if plan is not None:
        assert plan.before is state
        assert plan.after != state
