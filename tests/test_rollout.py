"""The rollout's order and every failure path, fast: in-memory ledger, runtime and router
(the same steps run against the real ones in test_runtime.py and test_lb_promote.py)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline_kit.config_types import Lb, Runtime, Settings
from pipeline_kit.errors import ExternalFailure
from pipeline_kit.lb.render import Canary
from pipeline_kit.model import actions, routes
from pipeline_kit.model.actions import Context
from pipeline_kit.model.errors import ConstraintFailed
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Policy
from pipeline_kit.pipeline import rollout
from pipeline_kit.pipeline.rollout import sequences, steps
from pipeline_kit.pipeline.rollout.flight import Flight, Rig, Step, run
from pipeline_kit.pipeline.rollout.steps import with_addresses
from pipeline_kit.store import journal
from pipeline_kit.store.database import Scope
from pipeline_kit.store.journal import Entry
from tests.model_helpers import T0, accepted, make_ctx, with_service
from tests.support.fakes import FakeRouter, FakeRuntime, FakeTime, MemoryLedger, render_routes

POLICY = Policy()
NOW = T0 + timedelta(days=1)
WEB = Scope(frozenset({"web"}))
DOCKER = Runtime(kind="docker", health_timeout=5.0)  # canaries need docker and HAProxy
SETTINGS = Settings(POLICY, "sqlite://", DOCKER, 1.0, None, Path(), lb=Lb(enabled=True, drain=5.0))
COMMIT_AT = sequences.BLUE_GREEN.index(sequences.COMMIT)
STEPS = [step.name for step in sequences.BLUE_GREEN]
PROMOTED = [("v1.2.0", "v1.3.0", "v1.4.0")] * 2  # web's stacks once promoted to prod


def initial_state() -> State:
    """web (2 stacks: v1.1.0 prod, v1.2.0 qa, v1.3.0 dev) behind endpoint site at prod, and
    api behind endpoint api-site: every container with an address."""
    ctx = make_ctx(POLICY, prefix="old-")
    state = with_service(ctx, "web", ("v1.1.0", "v1.2.0", "v1.3.0"), stacks=2)
    state = with_service(ctx, "api", ("v2.0.0",), state=state)
    state = accepted(routes.add_endpoint(state, ctx, "site", "web", 8080, "prod"))
    state = accepted(routes.add_endpoint(state, ctx, "api-site", "api", 8081, "prod"))
    ids = [c.id for svc in state.services.values() for s in svc.stacks for c in s.containers]
    return with_addresses(state, {cid: f"10.0.0.{n}:20000" for n, cid in enumerate(ids, 1)})


def to_prod(state: State, ctx: Context) -> Plan:
    return actions.promote(state, ctx, "web", "prod", "v1.4.0")


def approve(state: State, ctx: Context) -> Plan:
    return actions.approve(state, ctx, "web", "v1.4.0", "qa", "ann")


@dataclass
class World:
    """One set of fakes sharing one list of calls, and the rig that drives them."""

    before: State = field(default_factory=initial_state)
    calls: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        services = self.before.services.values()
        self.ids = {c.id for svc in services for s in svc.stacks for c in s.containers}
        self.config = render_routes(self.before)
        self.ledger = MemoryLedger(self.calls, self.before)
        self.runtime = FakeRuntime(self.calls, set(self.ids))
        self.router = FakeRouter(self.calls, self.config)
        self.time = FakeTime(self.calls, NOW)
        counter = itertools.count()
        self.rig = Rig(
            SETTINGS,
            self.ledger,
            self.runtime,
            self.router,
            lambda: make_ctx(POLICY, now=NOW, actor="ann", prefix=f"new{next(counter)}-"),
            note=self.notes.append,
            clock=self.time.clock(),
        )

    def unchanged(self) -> None:
        """Nothing of the state, journal, containers or routing differs from the start."""
        assert self.ledger.state == self.before and self.ledger.history == []
        assert self.ledger.entries() == [] and self.ledger.writing is None
        assert self.runtime.running == self.ids and self.router.running == self.config

    def add_entry(self, phase: str = journal.STARTING) -> Entry:
        """Another apply of web in flight (by this live process), or a running canary."""
        with self.ledger.write(WEB, "journal") as tx:
            entry = tx.add_entry(["web"], "promote", [], [], NOW, timedelta(minutes=5))
        self.ledger.journal[entry.id] = replace(entry, phase=phase)
        self.calls.clear()
        return self.ledger.journal[entry.id]


def web_after(w: World, flight: Flight) -> State:
    """The whole state once ``flight``'s plan is committed."""
    web = flight.final().after.services["web"]
    return replace(w.before, services={**w.before.services, "web": web})


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


# -- blue-green: the order ---------------------------------------------------------------

# The switch: under the routing lock, the committed state rendered and run.
SWITCH = (
    *("ledger.write", "ledger.routing", "tx.load_all", "journal.entries", "router.render"),
    *("router.switch", "ledger.commit"),
)


def test_a_promotion_runs_every_step_in_order() -> None:
    w = World()
    flight = Flight(WEB, to_prod)
    outcome = rollout.apply_flight(w.rig, flight)
    assert w.calls == [
        *("ledger.read", "journal.entries"),  # recover
        *("ledger.write", "tx.load", "journal.entries"),  # plan, under the locks
        *("tx.routing_keys", "router.routes", "runtime.place", "ports.taken"),
        *("ports.reserve", "journal.add", "ledger.commit"),  # ports reserved with the entry
        "runtime.start",
        "runtime.wait_healthy",
        *("ledger.read", "tx.load_all", "journal.entries", "router.prepare"),
        *("ledger.write", "tx.unchanged", "state.apply", "journal.committed", "ledger.commit"),
        *SWITCH,
        "router.drain",
        "runtime.remove",
        *("ledger.write", "ports.release", "journal.remove", "ledger.commit"),  # close
    ]
    assert outcome.applied and outcome.notes == ()
    started = [launch.id for launch in flight.launches]
    stopped = [p.id for p in flight.stops]
    assert len(started) == 2 and len(stopped) == 2
    assert w.runtime.started == started and w.runtime.removed == stopped
    assert w.runtime.running == (w.ids - set(stopped)) | set(started)
    assert w.ledger.state == web_after(w, flight)
    assert [s.versions for s in w.ledger.state.services["web"].stacks] == PROMOTED
    assert [h["action"] for h in w.ledger.history] == ["promote"]
    assert w.ledger.entries() == []
    # The new containers hold their ports; the removed ones released theirs.
    held = {r.container: f"{r.port}" for r in w.ledger.ports.values()}
    assert held == {launch.id: launch.address.rsplit(":")[1] for launch in flight.launches}
    # HAProxy validated, then runs, the config of the whole new state (api included).
    assert w.router.validated == w.router.switched == [render_routes(w.ledger.state)]
    assert "api-site :8081" in w.router.running and w.router.running != w.config


def test_a_write_without_operations_keeps_one_transaction_from_plan_to_commit() -> None:
    w = World()
    outcome = rollout.apply(w.rig, WEB, approve)
    assert w.calls == [
        *("ledger.read", "journal.entries"),
        *("ledger.write", "tx.load", "journal.entries"),
        "runtime.place",
        *("tx.load_all", "journal.entries", "router.prepare"),
        *("state.apply", "ledger.commit"),
        *SWITCH,  # HAProxy already runs this config: nothing to drain
    ]
    assert outcome.applied
    assert w.ledger.state.is_approved("web", "v1.4.0", 1)
    assert w.ledger.entries() == [] and w.runtime.running == w.ids
    assert w.router.running == w.config


def test_a_dry_run_only_reads() -> None:
    w = World()
    outcome = rollout.apply(w.rig, WEB, to_prod, dry_run=True)
    assert w.calls == ["ledger.read", "tx.load"]
    assert not outcome.applied and len(outcome.plan.operations) == 4
    w.unchanged()


def test_connections_still_open_after_the_drain_are_noted_and_the_old_ones_removed() -> None:
    w = World()
    w.router.drained = False
    outcome = rollout.apply(w.rig, WEB, to_prod)
    assert outcome.notes == (
        "HAProxy: connections of the previous config still open after 5s; "
        "removing the old containers anyway",
    )
    assert len(w.runtime.removed) == 2 and w.ledger.entries() == []


# -- blue-green: failures ----------------------------------------------------------------

FAILURES = {
    "place": ("runtime", "fail_place", "no free port"),
    "start": ("runtime", "fail_start", "cannot start"),
    "healthy": ("runtime", "fail_healthy", "did not become healthy"),
    "validate routing": ("router", "fail_validate", "config is invalid"),
    "commit": ("ledger", "fail_commit", "the commit failed"),
}


@pytest.mark.parametrize("step", FAILURES)
def test_a_failure_before_the_commit_changes_nothing(step: str) -> None:
    w = World()
    fake, option, message = FAILURES[step]
    setattr(getattr(w, fake), option, True)
    flight = Flight(WEB, to_prod)
    with pytest.raises(ExternalFailure, match=message):
        rollout.apply_flight(w.rig, flight)
    w.unchanged()
    assert w.router.switched == []
    assert set(w.runtime.started) <= set(w.runtime.removed)
    if step in ("healthy", "validate routing", "commit"):
        assert len(w.runtime.started) == 2  # both were running before the undo
    if step == "place":
        assert w.calls[-1] == "ledger.rollback"  # the plan's transaction, still open
    else:  # the entry was journaled, and is dropped last with the ports it reserved
        assert w.calls[-4:] == ["ledger.write", "ports.release", "journal.remove", "ledger.commit"]
    assert w.ledger.ports == {}


def test_the_switch_routes_what_another_command_committed_meanwhile() -> None:
    """Two promotions of different services: the one that switches last runs both results,
    not the config it validated before the other committed."""
    w = World()

    def api_to_prod(state: State, ctx: Context) -> Plan:
        return actions.promote(state, ctx, "api", "prod", "v2.1.0")

    def another_command(rig: Rig, flight: Flight) -> None:
        rollout.apply(rig, Scope(frozenset({"api"})), api_to_prod)

    at = sequences.BLUE_GREEN.index(sequences.SWITCH)
    between = Step("another command", another_command)
    flight = Flight(WEB, to_prod)
    run((*sequences.BLUE_GREEN[:at], between, *sequences.BLUE_GREEN[at:]), w.rig, flight)
    both = render_routes(w.ledger.state)
    assert flight.config != both  # validated before api's promotion committed
    assert w.router.running == both and w.router.validated[-1] == both
    api_prod = [s.containers[0].address for s in w.ledger.state.services["api"].stacks]
    was = [s.containers[0].address for s in w.before.services["api"].stacks]
    assert api_prod != was and f"api-0 {api_prod[0]} " in both and " v1.2.0" in both
    assert w.ledger.ports and w.ledger.entries() == []


def test_a_failure_at_the_switch_keeps_the_committed_state_and_the_old_containers() -> None:
    w = World()
    w.router.fail_switch = True
    flight = Flight(WEB, to_prod)
    with pytest.raises(ExternalFailure, match="reload failed; the state is committed"):
        rollout.apply_flight(w.rig, flight)
    assert w.ledger.state == web_after(w, flight)
    assert w.runtime.removed == []
    assert w.runtime.running == w.ids | {launch.id for launch in flight.launches}
    assert w.ledger.entries() == [] and w.router.running == w.config
    assert "router.drain" not in w.calls


def test_a_failure_at_the_remove_leaves_the_committed_entry_for_the_next_run(
    dead_pid: int,
) -> None:
    w = World()
    w.runtime.fail_remove = True
    flight = Flight(WEB, to_prod)
    with pytest.raises(ExternalFailure, match="cannot remove"):
        rollout.apply_flight(w.rig, flight)
    assert w.ledger.state == web_after(w, flight)
    [entry] = w.ledger.entries()
    assert entry.phase == journal.COMMITTED
    # The process ends; the next one finishes the job.
    w.ledger.journal[entry.id] = replace(entry, pid=dead_pid)
    w.runtime.fail_remove = False
    outcome = rollout.apply(w.rig, WEB, approve)  # the next change of web
    assert outcome.notes[0].startswith("recovered: finished the interrupted promote of web")
    assert w.runtime.removed == [p.id for p in flight.stops]
    assert w.ledger.entries() == [] and len(w.ledger.history) == 2


# -- blue-green: a process killed after each step ----------------------------------------


@pytest.mark.parametrize("k", range(1, len(STEPS) + 1), ids=STEPS)
def test_a_killed_apply_is_undone_or_finished_by_the_next_rollout(k: int, dead_pid: int) -> None:
    w = World()
    w.ledger.pid = dead_pid  # the entries the killed process journals name it
    flight = run(sequences.BLUE_GREEN[:k], w.rig, Flight(WEB, to_prod))
    w.ledger.pid = os.getpid()
    started = {launch.id for launch in flight.launches}
    stopped = {p.id for p in flight.stops}
    left = w.ledger.entries()
    if k - 1 >= sequences.BLUE_GREEN.index(sequences.START):
        assert started <= w.runtime.running and len(started) == 2
    w.calls.clear()
    run((sequences.RECOVER,), w.rig, Flight(WEB))
    assert w.ledger.entries() == []
    assert len(w.notes) == len(left)
    if k - 1 < COMMIT_AT:
        w.unchanged()
        assert w.ledger.ports == {}  # what it had reserved is free again
        if left:
            assert w.notes[0].startswith("recovered: undid the interrupted promote of web")
            assert set(w.runtime.removed) == started
    else:
        assert w.ledger.state == web_after(w, flight)
        assert w.runtime.running == (w.ids - stopped) | started
        assert {r.container for r in w.ledger.ports.values()} == started
        if left:
            assert w.notes[0].startswith("recovered: finished the interrupted promote of web")
    if not left:
        assert w.calls == ["ledger.read", "journal.entries"]


# -- refusals and a busy service ---------------------------------------------------------


def test_a_refused_plan_changes_nothing_and_starts_nothing() -> None:
    w = World()
    with pytest.raises(ConstraintFailed, match=r"refused: 1 violation: .*v1\.0\.0"):
        rollout.apply(w.rig, WEB, lambda s, ctx: actions.promote(s, ctx, "web", "prod", "v1.0.0"))
    w.unchanged()
    assert not [c for c in w.calls if c.startswith(("runtime.", "router.", "journal.add"))]
    assert w.calls[-1] == "ledger.rollback"


def test_a_busy_service_waits_then_fails_after_the_lock_timeout() -> None:
    w = World()
    other = w.add_entry()
    with pytest.raises(ExternalFailure, match="another change is being applied: promote of web"):
        rollout.apply(w.rig, WEB, to_prod)
    assert w.time.sleeps == [0.2] * 5  # lock_timeout 1.0s
    assert w.calls.count("clock.sleep") == 5 and w.calls.count("ledger.write") == 6
    assert not [c for c in w.calls if c.startswith(("runtime.", "router."))]
    assert w.ledger.entries() == [other]
    w.ledger.journal.clear()
    w.unchanged()


def test_a_busy_service_proceeds_once_the_other_apply_is_done() -> None:
    w = World()
    other = w.add_entry()

    def done(count: int) -> None:
        if count == 2:
            del w.ledger.journal[other.id]

    w.time.on_sleep = done
    outcome = rollout.apply(w.rig, WEB, to_prod)
    assert outcome.applied and w.time.sleeps == [0.2, 0.2]
    assert w.ledger.entries() == [] and len(w.ledger.history) == 1


def test_a_running_canary_fails_a_change_at_once() -> None:
    w = World()
    w.add_entry(journal.CANARY)
    with pytest.raises(ExternalFailure, match="another change is being applied: the canary"):
        rollout.apply(w.rig, WEB, to_prod)
    assert w.time.sleeps == [] and len(w.ledger.entries()) == 1
    w.ledger.journal.clear()
    w.unchanged()


# -- canaries ----------------------------------------------------------------------------


def start_canary(w: World) -> Flight:
    flight = Flight(WEB, to_prod, 10)
    outcome = rollout.apply_flight(w.rig, flight)
    assert not outcome.applied
    return flight


def test_a_canary_start_routes_its_share_and_commits_nothing() -> None:
    w = World()
    flight = start_canary(w)
    assert "state.apply" not in w.calls and "runtime.remove" not in w.calls
    assert w.ledger.state == w.before and w.ledger.history == []
    [entry] = w.ledger.entries()
    assert entry.phase == journal.CANARY and entry.canary is not None
    assert (entry.canary.position, entry.canary.percent, entry.canary.to) == (0, 10, "prod")
    incoming = {s.index: str(s.containers[1].address) for s in w.before.services["web"].stacks}
    canary = Canary("web", 0, 10, incoming)  # qa's containers take 10% of prod
    assert w.router.canaries == [[canary]]
    assert w.router.running == render_routes(w.before, [canary])
    started = {launch.id for launch in flight.launches}
    assert len(started) == 2 and w.runtime.running == w.ids | started


def test_a_canary_continue_commits_its_plan_with_the_canary_containers() -> None:
    w = World()
    started = {launch.id: launch.address for launch in start_canary(w).launches}
    stops = {p.id for p in w.ledger.entries()[0].stops}
    w.calls.clear()
    outcome = rollout.resume(w.rig, "web")
    assert w.calls == [  # no container placed or started: the canary's take their places
        *("ledger.read", "journal.entries"),  # the ramp's step: its last, so it completes
        *("ledger.write", "journal.entries", "tx.load", "journal.claim"),  # resume, locked
        *("tx.load_all", "journal.entries", "router.prepare"),
        *("state.apply", "journal.committed", "ledger.commit"),
        *SWITCH,
        *("router.drain", "runtime.remove"),
        *("ledger.write", "ports.release", "journal.remove", "ledger.commit"),
    ]
    assert outcome.applied
    web = w.ledger.state.services["web"]
    assert {s.containers[2].id: s.containers[2].address for s in web.stacks} == started
    assert [s.versions for s in web.stacks] == PROMOTED
    assert w.runtime.running == (w.ids - stops) | set(started)
    assert set(w.runtime.removed) == stops
    assert w.ledger.entries() == [] and [h["action"] for h in w.ledger.history] == ["promote"]
    assert w.router.running == render_routes(w.ledger.state) and "canary" not in w.router.running


def test_a_canary_continue_owns_the_entry_while_it_drains(dead_pid: int) -> None:
    w = World()
    w.ledger.pid = dead_pid  # the process that started the canary has exited since
    start_canary(w)
    w.ledger.pid = os.getpid()
    stops = {p.id for p in w.ledger.entries()[0].stops}
    seen: list[list[str]] = []
    drain = w.router.drain

    def another_command_meanwhile() -> bool:
        seen.append(steps.recover_entries(w.rig, frozenset({"web"})))
        assert stops <= w.runtime.running  # still serving the connections being drained
        return drain()

    w.router.drain = another_command_meanwhile  # type: ignore[method-assign]
    rollout.resume(w.rig, "web")
    assert seen == [[]]  # the entry names the live --continue: nothing to recover
    assert set(w.runtime.removed) == stops and w.ledger.entries() == []


def test_a_canary_abort_removes_its_containers_and_routes_the_state_as_it_was() -> None:
    w = World()
    flight = start_canary(w)
    assert rollout.abort(w.rig, "web") == "v1.2.0"
    assert "state.apply" not in w.calls
    assert set(w.runtime.removed) == {launch.id for launch in flight.launches}
    assert len(w.router.switched) == 2  # the canary's config, then the state's again
    w.unchanged()


def test_a_failure_at_the_canary_switch_undoes_its_start() -> None:
    w = World()
    w.router.fail_switch = True
    flight = Flight(WEB, to_prod, 10)
    with pytest.raises(ExternalFailure, match="reload failed"):
        rollout.apply_flight(w.rig, flight)
    assert "journal.canary" in w.calls  # it was paused as a canary before the switch
    assert set(w.runtime.removed) == {launch.id for launch in flight.launches}
    w.unchanged()


def test_a_failure_after_the_canary_switch_keeps_the_canary_running() -> None:
    w = World()
    w.router.fail_drain = True
    flight = Flight(WEB, to_prod, 10)
    with pytest.raises(ExternalFailure, match="does not answer"):
        rollout.apply_flight(w.rig, flight)
    [entry] = w.ledger.entries()
    assert entry.phase == journal.CANARY and w.runtime.removed == []
    assert w.runtime.running == w.ids | {launch.id for launch in flight.launches}
    assert "canary web@0 10%" in w.router.running and w.ledger.state == w.before
