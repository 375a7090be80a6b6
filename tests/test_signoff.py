"""Sign-offs: what needs an approval, and what a rollback or a new service does not."""

from __future__ import annotations

from pipeline_kit.model import actions
from pipeline_kit.model.items import State
from pipeline_kit.model.policy import Gate, Policy
from tests.model_helpers import accepted, make_ctx, names, places, run, versions_of

GATED = Policy(gates={"prod": Gate(approval=True, prereleases=False)})


def test_a_new_service_needs_no_approval_but_refuses_a_prerelease_in_prod() -> None:
    ctx = make_ctx(GATED)
    state = accepted(run(actions.add_service, State(), ctx, "web", "x/web", 2, ["v1.0.0"]))
    assert versions_of(state, "web")[0] == ("v1.0.0", "v1.0.0", "v1.0.0")
    plan = run(actions.add_service, State(), ctx, "api", "x/api", 1, ["1.0.0-rc.1"])
    assert names(plan.violations) == ["prerelease"]
    assert places(plan.violations) == [("prerelease", "prod", 0, ("gates", "prod", "prereleases"))]


def test_rollback_to_the_previous_prod_version_needs_no_new_approval() -> None:
    ctx = make_ctx(GATED)
    state = accepted(run(actions.add_service, State(), ctx, "web", "x/web", 1, ["v1.0.0"]))
    state = accepted(run(actions.promote, state, ctx, "web", "qa", "v1.1.0"))
    state = accepted(run(actions.promote, state, ctx, "web", "qa"))
    refused = run(actions.promote, state, ctx, "web", "prod")
    assert names(refused.violations) == ["approval"]
    assert places(refused.violations) == [("approval", "prod", 0, ("gates", "prod", "approval"))]
    state = accepted(run(actions.approve, state, ctx, "web", "v1.1.0", "prod", "alice"))
    state = accepted(run(actions.promote, state, ctx, "web", "prod"))
    assert versions_of(state, "web")[0][0] == "v1.1.0"
    state = accepted(run(actions.rollback, state, ctx, "web"))
    assert versions_of(state, "web")[0][0] == "v1.0.0"
    assert state.is_rejected("web", "v1.1.0") is not None


def test_rollback_to_another_older_version_needs_its_approval() -> None:
    ctx = make_ctx(GATED)
    state = accepted(
        run(actions.add_service, State(), ctx, "web", "x/web", 1, ["v1.2.0", "v1.3.0"])
    )
    plan = run(actions.rollback, state, ctx, "web", None, "v1.1.0")
    assert names(plan.violations) == ["approval"]


def test_a_rejected_version_is_one_version_with_or_without_v() -> None:
    ctx = make_ctx()
    state = accepted(run(actions.add_service, State(), ctx, "web", "x/web", 1, ["v1.0.0"]))
    state = accepted(run(actions.reject, state, ctx, "web", "1.2.0", "broken"))
    plan = run(actions.promote, state, ctx, "web", "prod", "v1.2.0")
    assert names(plan.violations) == ["rejected"]
    state = accepted(run(actions.approve, state, ctx, "web", "v1.3.0", "prod", "bob"))
    assert state.is_approved("web", "1.3.0", 0)
