"""Freeze windows and immediate freezes in the pure model, on a fixed clock."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from pipeline_kit.model import actions, signoff
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.freeze import Window, frozen, parse_moment, weekday, zone
from pipeline_kit.model.items import State
from pipeline_kit.model.policy import Gate, Policy
from tests.model_helpers import accepted, make_ctx, names, run

YEAR_END = Window(
    ("prod",),
    "year-end freeze",
    start=datetime(2026, 12, 20, tzinfo=UTC),
    end=datetime(2027, 1, 4, tzinfo=UTC),
)
WEEKEND = Window(("prod",), "no weekend deploys", weekly=(5, 6), timezone="Europe/Helsinki")
POLICY = Policy(freezes=(YEAR_END, WEEKEND))
CHRISTMAS = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)  # a Thursday inside the year-end window


def _state(policy: Policy = POLICY) -> State:
    ctx = make_ctx(policy, now=datetime(2026, 12, 1, tzinfo=UTC))  # a Tuesday, nothing frozen
    state = accepted(run(actions.add_service, State(), ctx, "web", "x/web", 1, ["v1.0.0"]))
    state = accepted(run(actions.promote, state, ctx, "web", "qa", "v1.1.0"))
    state = accepted(run(actions.promote, state, ctx, "web", "qa"))
    return accepted(run(actions.promote, state, ctx, "web", "prod"))  # v1.1.0 in prod


def test_a_window_covering_now_refuses_prod_and_allows_qa_and_a_rollback() -> None:
    state = _state()
    ctx = make_ctx(POLICY, now=CHRISTMAS)
    plan = run(actions.promote, state, ctx, "web", "prod", "v1.2.0")
    assert [str(v) for v in plan.violations] == ["[freeze] prod: year-end freeze until 2027-01-04"]
    assert plan.violations[0].key == ("freeze", "0")
    assert run(actions.promote, state, ctx, "web", "qa", "v1.2.0").violations == ()
    back = accepted(run(actions.rollback, state, ctx, "web"))
    assert back.services["web"].stacks[0].versions[0] == "v1.0.0"


def test_a_weekly_window_is_computed_in_its_time_zone() -> None:
    friday_evening_utc = datetime(2026, 12, 4, 21, 30, tzinfo=UTC)  # 23:30 Friday in Helsinki
    saturday_helsinki = datetime(2026, 12, 4, 22, 30, tzinfo=UTC)  # 00:30 Saturday there
    assert WEEKEND.covering(friday_evening_utc) is None
    start, end = WEEKEND.covering(saturday_helsinki) or (None, None)
    assert start == datetime(2026, 12, 4, 22, 0, tzinfo=UTC)
    assert end == datetime(2026, 12, 6, 22, 0, tzinfo=UTC)  # Monday 00:00 in Helsinki
    plan = run(actions.promote, _state(), make_ctx(POLICY, now=saturday_helsinki), "web", "prod")
    assert [str(v) for v in plan.violations] == [
        "[freeze] prod: no weekend deploys until 2026-12-07 Europe/Helsinki"
    ]
    assert WEEKEND.upcoming(friday_evening_utc) == (start, end)


def test_override_freeze_passes_only_with_the_stage_approvals() -> None:
    policy = replace(POLICY, gates={"prod": Gate(approval=False, approvals=2)})
    state = _state(policy)
    overriding = make_ctx(replace(policy, override="hotfix for the payment outage"), CHRISTMAS)
    refused = run(actions.promote, state, overriding, "web", "prod", "v1.2.0")
    assert names(refused.violations) == ["freeze"]
    # v1.1.0 moves from qa into prod: its approvals are the ones that count.
    assert "--override-freeze: web v1.1.0 has 0 of 2 approvals" in str(refused.violations[0])
    for person in ("alice", "bob"):
        state = accepted(run(actions.approve, state, overriding, "web", "v1.1.0", "prod", person))
    accepted(run(actions.promote, state, overriding, "web", "prod", "v1.2.0"))
    # Without the override the same approvals do not lift the freeze.
    plain = run(actions.promote, state, make_ctx(policy, CHRISTMAS), "web", "prod", "v1.2.0")
    assert names(plain.violations) == ["freeze"]


def test_freeze_and_unfreeze_a_stage_now() -> None:
    state = _state(Policy())
    ctx = make_ctx(Policy(), now=datetime(2026, 12, 2, tzinfo=UTC))
    held = accepted(run(signoff.freeze, state, ctx, "web", "prod", "incident 42", "alice"))
    assert [h.reason for h in held.holds] == ["incident 42"]
    plan = run(actions.promote, held, ctx, "web", "prod", "v1.2.0")
    assert [str(v) for v in plan.violations] == [
        "[freeze] prod: incident 42 (frozen by alice until unfrozen)"
    ]
    assert run(actions.promote, held, ctx, "web", "qa", "v1.2.0").violations == ()
    with pytest.raises(InvalidInput, match="frozen for web already"):
        run(signoff.freeze, held, ctx, "web", "prod", "again", "bob")
    free = accepted(run(signoff.unfreeze, held, ctx, "web", "prod", "bob"))
    assert free.holds == ()
    with pytest.raises(InvalidInput, match="not frozen"):
        run(signoff.unfreeze, free, ctx, "web", "prod", "bob")
    everyone = accepted(run(signoff.freeze, state, ctx, None, "prod", "release train", "carol"))
    assert [f.reason for f in frozen(everyone, Policy(), "web", 0, ctx.now)] == ["release train"]


def test_bad_weekdays_zones_and_moments_are_bad_input() -> None:
    assert weekday("Saturday") == 5 and weekday("sun") == 6
    for bad in ("sunday-ish", "caturday", ""):
        with pytest.raises(InvalidInput, match="unknown weekday"):
            weekday(bad)
    with pytest.raises(InvalidInput, match="unknown time zone"):
        zone("Mars/Olympus_Mons")
    with pytest.raises(InvalidInput, match="has no time zone"):
        parse_moment("2026-12-20T00:00:00")
