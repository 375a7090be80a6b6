"""Approval policies in the pure model: distinct approvers, groups, no self-approval, and
approvals of a rejected version void."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline_kit.model import actions
from pipeline_kit.model.approvals import is_author, tally
from pipeline_kit.model.errors import ConstraintFailed
from pipeline_kit.model.items import Authored, State
from pipeline_kit.model.policy import Gate, Policy
from tests.model_helpers import T0, accepted, make_ctx, names, run

POLICY = Policy(
    gates={
        "prod": Gate(
            approval=True,
            approvals=2,
            approvers=("alice", "bob", "release-managers"),
            self_approval=False,
        )
    },
    groups={"release-managers": ("carol", "dave")},
)


def _qa_ready() -> State:
    """webapp with v1.1.0 in qa, waiting for prod; carol (a release manager) released it."""
    ctx = make_ctx(POLICY)
    state = accepted(run(actions.add_service, State(), ctx, "web", "x/web", 1, ["v1.0.0"]))
    state = accepted(run(actions.promote, state, ctx, "web", "qa", "v1.1.0"))
    state = accepted(run(actions.promote, state, ctx, "web", "qa"))
    author = Authored("web", "v1.1.0", "Carol Example <carol@example.com>", T0)
    return replace(state, authors=(author,))


def _approve(state: State, *people: str) -> State:
    ctx = make_ctx(POLICY)
    for person in people:
        state = accepted(run(actions.approve, state, ctx, "web", "v1.1.0", "prod", person))
    return state


def _into_prod(state: State) -> list[str]:
    plan = run(actions.promote, state, make_ctx(POLICY), "web", "prod")
    return [str(v) for v in plan.violations]


def test_two_approvals_by_distinct_people_pass_and_one_does_not() -> None:
    one = _approve(_qa_ready(), "alice")
    refused = _into_prod(one)
    assert len(refused) == 1
    assert "prod needs 2 approvals, has 1 (alice); 1 more from " in refused[0]
    assert "alice, bob, release-managers (carol, dave)" in refused[0]
    assert _into_prod(_approve(one, "bob")) == []


def test_the_same_person_twice_is_one_approval() -> None:
    twice = _approve(_qa_ready(), "alice", "alice")
    assert [a.by for a in twice.approvals] == ["alice"]
    assert tally(twice, POLICY, "web", "1.1.0", 0).have == ("alice",)
    assert len(_into_prod(twice)) == 1


def test_a_group_member_counts_and_a_stranger_is_refused() -> None:
    state = _approve(_qa_ready(), "dave", "bob")
    assert _into_prod(state) == []
    with pytest.raises(ConstraintFailed, match="mallory may not approve prod: approvers are"):
        _approve(_qa_ready(), "mallory")


def test_the_release_author_may_not_approve_it_when_self_approval_is_off() -> None:
    for login in ("carol", "Carol Example", "carol@example.com"):
        with pytest.raises(ConstraintFailed, match=r"released web v1\.1\.0 and may not approve"):
            _approve(_qa_ready(), login)
    # With self_approval on, the author's approval counts like any other.
    allowed = replace(POLICY, gates={"prod": replace(POLICY.gates["prod"], self_approval=True)})
    state = _qa_ready()
    ctx = make_ctx(allowed)
    state = accepted(run(actions.approve, state, ctx, "web", "v1.1.0", "prod", "carol"))
    assert tally(state, allowed, "web", "v1.1.0", 0).have == ("carol",)
    assert tally(state, POLICY, "web", "v1.1.0", 0).have == ()  # and not when it is off


def test_approvals_recorded_before_a_rule_change_count_only_when_allowed() -> None:
    state = _approve(_qa_ready(), "alice", "bob")
    stricter = replace(POLICY, gates={"prod": replace(POLICY.gates["prod"], approvers=("bob",))})
    assert tally(state, stricter, "web", "v1.1.0", 0).have == ("bob",)


def test_approvals_of_a_version_later_rejected_are_void() -> None:
    state = _approve(_qa_ready(), "alice", "bob")
    state = accepted(run(actions.reject, state, make_ctx(POLICY), "web", "v1.1.0", "crashes"))
    count = tally(state, POLICY, "web", "v1.1.0", 0)
    assert count.have == () and not count.ok
    assert "void" in count.describe()
    plan = run(actions.promote, state, make_ctx(POLICY), "web", "prod")
    assert names(plan.violations).count("approval") == 1
    assert "rejected" in names(plan.violations)


def test_authors_match_by_login_name_email_or_github_noreply_address() -> None:
    record = Authored("web", "1.0.0", "Erin E <123+erin-e@users.noreply.github.com>", T0)
    assert is_author(record, "erin-e") and is_author(record, "Erin E")
    assert not is_author(record, "erin") and not is_author(None, "erin-e")


def test_a_passed_gate_is_told_once_per_version_and_stage_with_its_tally() -> None:
    from pipeline_kit.model.approvals import passed

    state = _approve(_qa_ready(), "alice", "dave")
    plan = run(actions.promote, state, make_ctx(POLICY), "web", "prod")
    assert plan.ok
    gates = passed(plan.after, POLICY, [*plan.entries, *plan.entries])  # told once
    assert [str(g) for g in gates] == [
        "approval web v1.1.0→prod: 2 of 2 approvals (alice, dave); "
        "approvers: alice, bob, release-managers (carol, dave)"
    ]
    # A rollback back to what was there needs no approval, so it passes no approval gate.
    back = run(actions.rollback, plan.after, make_ctx(POLICY), "web", "prod")
    assert [e for e in back.entries if e.position == 0 and e.signed_off]
    assert passed(back.after, POLICY, back.entries) == []
    # Short of approvals, the gate is a violation, not a passed gate.
    short = run(actions.promote, _approve(_qa_ready(), "alice"), make_ctx(POLICY), "web", "prod")
    assert names(short.violations) == ["approval"]
    assert passed(short.after, POLICY, short.entries) == []
