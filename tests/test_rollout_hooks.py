"""Smoke checks and hooks as steps of the rollout, on the in-memory fakes (fast): where they
run in the order, what a failure undoes, and what each reports."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline_kit.config_types import Hook, ServiceDecl, SmokeCheck
from pipeline_kit.model.errors import Refused
from pipeline_kit.pipeline import rollout
from pipeline_kit.pipeline.rollout.flight import Flight
from pipeline_kit.pipeline.rollout.ports import Checked, HookRun
from tests.test_rollout import SETTINGS, WEB, World, to_prod, web_after

MIGRATE = ("/app/migrate.sh",)
NOTIFY = ("/app/notify.sh",)
DECL = ServiceDecl(
    "web",
    hooks=(Hook("before_switch", MIGRATE, 30.0), Hook("after_switch", NOTIFY, 30.0)),
    checks=(SmokeCheck("/", 200, "web"),),
)


def declared(w: World) -> list[Checked]:
    """Give ``w`` the declaration of web; the checks and hooks it reports."""
    seen: list[Checked] = []
    w.rig.settings = replace(SETTINGS, services=(DECL,))
    w.rig.checked = seen.append
    return seen


def test_checks_and_hooks_run_between_health_and_commit() -> None:
    w = World()
    seen = declared(w)
    flight = Flight(WEB, to_prod)
    rollout.apply_flight(w.rig, flight)
    order = [
        c
        for c in w.calls
        if c.startswith(("runtime.", "router.p", "router.s", "router.d", "state."))
    ]
    assert order == [
        *("runtime.place", "runtime.start", "runtime.wait_healthy"),
        *("runtime.probe",) * 2,  # one check, two new containers
        *("runtime.hook",) * 3,  # before_switch: once per stage entered
        *("router.prepare", "state.apply", "router.switch"),
        *("runtime.hook",) * 3,  # after_switch
        *("router.drain", "runtime.remove"),
    ]
    entered = [(s, p) for s, p, when in w.runtime.hooks_run if when == "before_switch"]
    assert entered == [("web", 0), ("web", 1), ("web", 2)]  # v1.2.0 prod, v1.3.0 qa, v1.4.0 dev
    assert [(c.kind, c.ok) for c in seen] == [("smoke", True)] * 2 + [("hook", True)] * 6
    assert {c.stage for c in seen if c.kind == "smoke"} == {"dev"}
    assert w.ledger.state == web_after(w, flight)


def test_a_failing_smoke_check_changes_nothing() -> None:
    w = World()
    seen = declared(w)
    flight = Flight(WEB, to_prod)

    def probe_fails(launch: object, check: SmokeCheck) -> str | None:
        w.calls.append("runtime.probe")
        return "answered 500, expected 200"

    w.runtime.probe = probe_fails  # type: ignore[method-assign]
    with pytest.raises(Refused, match=r"smoke check GET / web/0 v1.4.0 .*answered 500"):
        rollout.apply_flight(w.rig, flight)
    assert "runtime.hook" not in w.calls and "state.apply" not in w.calls
    assert [c.ok for c in seen] == [False, False]
    w.unchanged()


def test_a_failing_before_switch_hook_changes_nothing() -> None:
    w = World()
    seen = declared(w)
    w.runtime.hook_results = {MIGRATE: HookRun(3, "applying 0042\nerror: column exists")}
    with pytest.raises(Refused, match=r"before_switch /app/migrate.sh .* \(exit 3\): error"):
        rollout.apply_flight(w.rig, Flight(WEB, to_prod))
    failed = [c for c in seen if not c.ok]
    assert failed and failed[0].kind == "hook" and "column exists" in failed[0].message
    assert "state.apply" not in w.calls and "router.switch" not in w.calls
    w.unchanged()


def test_a_hook_that_times_out_changes_nothing() -> None:
    w = World()
    declared(w)
    w.runtime.hook_results = {MIGRATE: HookRun(None, "")}
    with pytest.raises(Refused, match="timed out after 30s"):
        rollout.apply_flight(w.rig, Flight(WEB, to_prod))
    w.unchanged()


def test_a_failing_after_switch_hook_fails_the_command_and_the_version_stays() -> None:
    w = World()
    declared(w)
    w.runtime.hook_results = {NOTIFY: HookRun(1, "no route to the chat server")}
    flight = Flight(WEB, to_prod)
    with pytest.raises(Refused, match=r"after_switch .* failed .*the new version stays"):
        rollout.apply_flight(w.rig, flight)
    assert w.ledger.state == web_after(w, flight)  # committed and switched
    assert set(w.runtime.removed) == {p.id for p in flight.stops}  # the old ones went
    assert w.ledger.entries() == []  # and the journal entry is closed
