"""The verification window and standby containers, fast: in-memory ledger, runtime and
router (the same steps run against Docker and HAProxy in test_lb_verify.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline_kit import config as configuration
from pipeline_kit.lb.stats import ServerStat, parse
from pipeline_kit.model import actions
from pipeline_kit.model.actions import Context
from pipeline_kit.model.errors import InvalidInput, Refused
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Gate, Policy
from pipeline_kit.pipeline import rollout
from pipeline_kit.pipeline.rollout import ramp, sequences
from pipeline_kit.pipeline.rollout.flight import Flight
from pipeline_kit.pipeline.rollout.ports import Checked
from pipeline_kit.report.results import Report, Result
from pipeline_kit.report.summary import markdown
from pipeline_kit.store import journal
from tests.model_helpers import make_ctx
from tests.test_rollout import SETTINGS, WEB, World, approve, to_prod

SECONDS = timedelta(seconds=1)


def world(verify: int = 10, standby: int | None = None, rate: float = 0.01) -> World:
    """web promoted under a prod gate that watches ``verify`` seconds."""
    gate = Gate(
        verify=verify * SECONDS,
        standby=None if standby is None else standby * SECONDS,
        max_error_rate=rate,
    )
    policy = Policy(gates={"prod": gate})
    w = World()
    w.checks: list[Checked] = []  # type: ignore[misc]
    ids = iter(range(1000))
    w.rig = replace(
        w.rig,
        settings=replace(SETTINGS, policy=policy),
        context=lambda: make_ctx(policy, now=w.time.wall, actor="ann", prefix=f"n{next(ids)}-"),
        checked=w.checks.append,  # type: ignore[attr-defined]
    )
    return w


def prod(w: World, state: State | None = None) -> list[tuple[str, str, str | None]]:
    """(id, version, address) of web's prod containers."""
    found = state or w.ledger.state
    return [(s.containers[0].id, s.containers[0].version, s.containers[0].address)
            for s in found.services["web"].stacks]  # fmt: skip


def back(state: State, ctx: Context) -> Plan:
    return actions.rollback(state, ctx, "web", "prod")


def test_a_good_version_is_watched_for_its_window_and_the_old_containers_stay_on_standby() -> None:
    w = world(verify=10)
    old = prod(w)
    flight = Flight(WEB, to_prod)
    outcome = rollout.apply_flight(w.rig, flight)
    assert outcome.applied
    names = [step.name for step in sequences.BLUE_GREEN]
    assert names.index("switch") < names.index("standby") < names.index("watch")
    assert names.index("watch") < names.index("remove")
    assert sum(w.time.sleeps) == pytest.approx(10) and max(w.time.sleeps) <= 1.0
    assert w.calls.count("runtime.states") == len(w.time.sleeps) + 1  # bounded polling
    (entry,) = w.ledger.entries()
    assert entry.phase == journal.STANDBY and entry.expires == w.time.wall + 10 * SECONDS
    assert {k.id for k in entry.kept} == {i for i, _, _ in old}
    assert all(k.position == 0 and k.version == "v1.1.0" for k in entry.kept)
    assert w.runtime.removed == []  # the previous prod containers keep running
    assert {i for i, _, _ in old} <= w.runtime.running
    assert {c.name: c.ok for c in w.checks} == {  # type: ignore[attr-defined]
        "error rate web v1.2.0": True, "servers web v1.2.0": True,
        "containers web v1.2.0": True,
    }  # fmt: skip


def test_a_dying_version_rolls_back_to_the_standby_containers_without_starting_one() -> None:
    w = world(verify=10)
    old = prod(w)
    new = [i for i, _, _ in prod(w, Flight(WEB, to_prod).build(w.before, make_ctx()).after)]
    w.time.on_sleep = lambda n: w.runtime.exited.update(new) if n == 3 else None
    with pytest.raises(Refused) as refused:
        rollout.apply_flight(w.rig, Flight(WEB, to_prod))
    message = str(refused.value)
    assert "verification in prod failed: containers:" in message and "exited" in message
    assert "rolled back by itself to web v1.1.0" in message and "v1.2.0 is rejected" in message
    assert len(w.time.sleeps) == 3  # detected at the first reading after the death
    assert prod(w) == old  # the very containers that served before, at their addresses
    assert len(w.runtime.started) == 2  # the promotion's dev containers only
    assert set(new) <= set(w.runtime.removed)
    assert w.ledger.entries() == []  # the standby entry was taken back into rotation
    rejected = w.ledger.state.is_rejected("web", "v1.2.0")
    assert rejected is not None and "containers:" in rejected.reason
    assert [h["action"] for h in w.ledger.history] == ["promote", "rollback"]
    assert all(a in w.router.running for _, _, a in old if a)
    failed = [c for c in w.checks if not c.ok]  # type: ignore[attr-defined]
    assert [c.name for c in failed] == ["containers web v1.2.0"]


def test_an_error_rate_over_the_limit_rolls_back() -> None:
    w = world(verify=10, rate=0.05)
    addresses = [a for _, _, a in prod(w, _promoted(w))]

    def traffic(n: int) -> None:
        w.router.stats = [
            ServerStat("be_web_prod", f"s{k}", "UP", 100, 1, 100 * n, str(a), 15 * n * k, 0, 0)
            for k, a in enumerate(addresses)
        ]

    w.time.on_sleep = traffic
    with pytest.raises(Refused, match=r"error rate: \d+ of \d+ failed") as refused:
        rollout.apply_flight(w.rig, Flight(WEB, to_prod))
    assert "limit 5.00%" in str(refused.value)
    assert [v for _, v, _ in prod(w)] == ["v1.1.0", "v1.1.0"]


def _promoted(w: World) -> State:
    """web's state once promoted (the fake runtime's addresses come from its ports)."""
    plan = to_prod(w.before, make_ctx())
    return plan.after


def test_rollback_within_standby_is_a_routing_switch_only() -> None:
    w = world(verify=2, standby=900)
    old = prod(w)
    rollout.apply(w.rig, WEB, to_prod)
    started = list(w.runtime.started)
    w.calls.clear()
    outcome = rollout.apply(w.rig, WEB, back)
    assert outcome.applied and w.runtime.started == started  # nothing started
    assert "runtime.start" not in w.calls and "runtime.states" in w.calls
    assert "2 standby container(s) back in rotation" in " ".join(outcome.notes)
    assert prod(w) == old and w.ledger.entries() == []
    assert all(a in w.router.running for _, _, a in old if a)


def test_standby_containers_go_with_the_next_command_once_their_time_is_up() -> None:
    w = world(verify=2, standby=60)
    old = {i for i, _, _ in prod(w)}
    rollout.apply(w.rig, WEB, to_prod)
    assert old <= w.runtime.running
    w.time.wall += timedelta(minutes=2)
    outcome = rollout.apply(w.rig, WEB, approve)
    assert "removed 2 standby container(s) of web" in outcome.notes
    assert not old & w.runtime.running and w.ledger.entries() == []


def test_standby_zero_removes_the_old_containers_once_the_window_passed() -> None:
    w = world(verify=2, standby=0)
    old = {i for i, _, _ in prod(w)}
    rollout.apply(w.rig, WEB, to_prod)
    assert set(w.runtime.removed) == old and w.ledger.entries() == []


def test_no_window_no_standby_changes_nothing_of_today() -> None:
    w = world(verify=0)
    rollout.apply(w.rig, WEB, to_prod)
    assert "runtime.states" not in w.calls and w.time.sleeps == []
    assert len(w.runtime.removed) == 2 and w.ledger.entries() == []


def test_standby_does_not_make_other_changes_wait() -> None:
    w = world(verify=2, standby=900)
    rollout.apply(w.rig, WEB, to_prod)
    approved = rollout.apply(w.rig, WEB, approve)
    assert approved.applied and [e.phase for e in w.ledger.entries()] == [journal.STANDBY]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("max_error_rate = 2", "expected a share from 0 to 1, not 2"),
        ("max_error_rate = -0.5", "expected a share from 0 to 1"),
        ('verify = "soon"', "expected a duration"),
        ('standby = "-5m"', "expected a duration"),
    ],
)
def test_bad_gate_values_are_refused(tmp_path: Path, line: str, expected: str) -> None:
    (tmp_path / "pipeline-kit.toml").write_text(f"[gates.prod]\n{line}\n")
    with pytest.raises(InvalidInput, match=expected) as refused:
        configuration.load(tmp_path, environ={})
    assert refused.value.exit_code == 2 and "gates.prod" in str(refused.value)


def test_gate_values_are_read(tmp_path: Path) -> None:
    (tmp_path / "pipeline-kit.toml").write_text(
        '[gates.prod]\nverify = "60s"\nmax_error_rate = 0.02\nstandby = "15m"\n'
    )
    gate = configuration.load(tmp_path, environ={}).policy.gate(0)
    assert (gate.verify, gate.max_error_rate, gate.standby) == (60 * SECONDS, 0.02, 900 * SECONDS)
    assert Gate(verify=60 * SECONDS).kept() == 60 * SECONDS  # standby defaults to the window


# -- a canary ramp -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pause", "steps"),
    [
        ("10", False, ((10, True),)),  # one step waits for --continue, as ever
        ("10,25,50", False, ((10, False), (25, False), (50, False))),
        ("10,25:pause,50", False, ((10, False), (25, True), (50, False))),
        ("10,50", True, ((10, True), (50, True))),
    ],
)
def test_a_ramp_is_read(text: str, pause: bool, steps: ramp.Steps) -> None:
    assert ramp.parse(text, pause) == steps


@pytest.mark.parametrize("text", ["0", "50,10", "abc", "101", "10,10", "", "10,", "5:wait", "١٠"])
def test_a_bad_ramp_is_one_line_of_bad_input(text: str) -> None:
    with pytest.raises(InvalidInput, match="expected percents from 1 to 99") as refused:
        ramp.parse(text)
    assert refused.value.exit_code == 2 and "\n" not in str(refused.value)


def test_a_ramp_verifies_each_step_then_completes_the_promotion() -> None:
    w = world(verify=2)
    steps = ((10, False), (50, False))
    outcome = rollout.apply_flight(w.rig, Flight(WEB, to_prod, 10, ramp=steps))
    assert outcome.applied and outcome.canary is None
    assert [[c.percent for c in found] for found in w.router.canaries] == [[10], [50], []]
    assert [v for _, v, _ in prod(w)] == ["v1.2.0", "v1.2.0"]
    assert [h["action"] for h in w.ledger.history] == ["promote"]
    windows = [c for c in w.checks if c.name.startswith("error rate web v1.2.0")]  # type: ignore[attr-defined]
    assert [c.name[-7:] for c in windows] == [" at 10%", " at 50%"]  # a window per step
    assert all(c.ok for c in windows)
    assert sum(w.time.sleeps) == pytest.approx(4)


def test_a_ramp_pauses_where_told_and_continue_goes_on() -> None:
    w = world(verify=2)
    steps = ((10, False), (25, True), (50, False))
    outcome = rollout.apply_flight(w.rig, Flight(WEB, to_prod, 10, ramp=steps))
    assert not outcome.applied and outcome.canary == 25
    (entry,) = w.ledger.entries()
    assert entry.canary is not None and (entry.canary.step, entry.canary.percent) == (1, 25)
    assert w.ledger.history == []
    done = rollout.resume(w.rig, "web")
    assert done.applied and [v for _, v, _ in prod(w)] == ["v1.2.0", "v1.2.0"]
    assert [[c.percent for c in found] for found in w.router.canaries][-2:] == [[50], []]


def test_a_breach_during_a_ramp_aborts_it_and_rejects_the_version() -> None:
    w = world(verify=2)
    incoming = [a for _, _, a in prod(w, _promoted(w))]

    def errors(n: int) -> None:
        if n >= 2:
            w.router.stats = [
                ServerStat("be_web_prod", "s0-canary", "UP", 10, 0, 20, str(a), 20, 0, 0)
                for a in incoming
            ]

    w.time.on_sleep = errors
    steps = ((10, False), (50, False))
    with pytest.raises(Refused, match="canary aborted") as refused:
        rollout.apply_flight(w.rig, Flight(WEB, to_prod, 10, ramp=steps))
    assert "verification of the canary in prod at 10% failed: error rate" in str(refused.value)
    assert w.ledger.state.services == w.before.services  # nothing committed
    assert w.ledger.entries() == [] and w.router.canaries[-1] == []
    rejected = w.ledger.state.is_rejected("web", "v1.2.0")
    assert rejected is not None and "error rate" in rejected.reason


# -- what a watch reads and reports ------------------------------------------------------

SHOW_STAT = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,"
    "wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,"
    "throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,"
    "check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,addr\n"
    "be_web_prod,s0,0,0,1,3,,120,0,0,,0,,2,1,0,0,UP,100,1,0,0,0,5,0,,1,3,1,,120,,2,0,,4,"
    "L7OK,200,1,0,110,0,0,7,0,127.0.0.1:21001\n"
    "be_web_prod,BACKEND,0,0,1,3,,120,0,0,0,0,,2,1,0,0,UP,100,1,0,,0,5,0,,1,3,0,,120,,1,0,,4,"
    ",,,0,110,0,0,7,0,\n"
)


def test_show_stat_gives_each_server_its_failure_counters() -> None:
    (server,) = parse(SHOW_STAT)
    assert (server.backend, server.server, server.status) == ("be_web_prod", "s0", "UP")
    assert (server.total, server.errors_5xx, server.connect_errors) == (120, 7, 2)
    assert server.response_errors == 1 and server.failed == 10
    assert server.address == "127.0.0.1:21001"


def test_the_job_summary_lists_the_figures_of_the_window() -> None:
    results = (
        Result("prod", "watch", "error rate web 1.2.0", "passed", "3 of 900 failed (0.33%)", 10),
        Result("prod", "watch", "containers web 1.2.0", "failed", "c1 exited", 2.5),
    )
    report = Report("promote", ("prod", "qa", "dev"), results, "web", "1.2.0")
    text = markdown(report)
    assert "Verification window:" in text
    assert "- ✅ **prod** `error rate web 1.2.0`: 3 of 900 failed (0.33%) (10.0s)" in text
    assert "- ❌ **prod** `containers web 1.2.0`: c1 exited (2.5s)" in text
