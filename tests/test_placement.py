"""Placement of stacks over hosts, and draining a host: the pure model, then the CLI's errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_kit.model import actions
from pipeline_kit.model.drain import move_off, stacks_on
from pipeline_kit.model.errors import InvalidInput, Refused
from pipeline_kit.model.items import State
from pipeline_kit.model.placement import by_load, load, pick
from tests.conftest import CLI
from tests.model_helpers import make_ctx

HOSTS = ["a", "b", "c"]


def _with(state: State, name: str, stacks: int, hosts: list[str], height: int = 3) -> State:
    versions = ["1.0.0"] * height
    plan = actions.add_service(state, make_ctx(), name, "ex/app", stacks, versions, hosts)
    return plan.after


def _hosts(state: State, service: str) -> list[str]:
    return [s.host for s in state.services[service].stacks]


def test_stacks_of_a_service_go_to_distinct_hosts_least_loaded_first() -> None:
    state = _with(State(), "web", 3, HOSTS)
    assert _hosts(state, "web") == ["a", "b", "c"]
    state = _with(state, "api", 1, ["a"])  # a now holds 6 containers
    state = _with(state, "db", 2, HOSTS)
    assert _hosts(state, "db") == ["b", "c"]
    assert load(state) == {"a": 6, "b": 6, "c": 6}
    assert by_load(state, ["c", "a", "b"]) == ["c", "a", "b"]  # ties keep the given order


def test_stack_add_picks_the_least_loaded_host_without_the_service() -> None:
    state = _with(State(), "web", 2, ["a", "b"])
    state = _with(state, "api", 1, ["a"])
    added = actions.add_stack(state, make_ctx(), "web", None, HOSTS)
    assert _hosts(added.after, "web") == ["a", "b", "c"]  # c is free
    full = actions.add_stack(added.after, make_ctx(), "web", None, HOSTS)
    assert _hosts(full.after, "web")[-1] == "b"  # all hold it: b and c have 3, b first
    forced = actions.add_stack(state, make_ctx(), "web", "a", HOSTS)
    assert _hosts(forced.after, "web") == ["a", "b", "a"]  # --host overrides
    assert _hosts(actions.add_stack(state, make_ctx(), "web").after, "web")[-1] == "a"
    assert pick(State(), [], "web") is None


def test_move_off_moves_every_stack_of_a_service_with_new_containers() -> None:
    state = _with(State(), "web", 3, HOSTS)
    state = _with(state, "api", 1, ["c"])
    assert stacks_on(state, "c") == ["api", "web"]
    plan = move_off(state, make_ctx(), "web", "c", HOSTS)
    moved = plan.after.services["web"].stacks[2]
    assert moved.host == "a" and moved.versions == ("1.0.0",) * 3
    old = {c.id for c in state.services["web"].stacks[2].containers}
    assert old.isdisjoint(c.id for c in moved.containers)
    kinds = sorted((op.kind, op.container in old) for op in plan.operations)
    assert kinds == [("start", False)] * 3 + [("stop", True)] * 3
    assert plan.after.services["web"].stacks[:2] == state.services["web"].stacks[:2]
    assert not plan.violations
    entered = [c.entered for c in state.services["web"].stacks[2].containers]
    assert [c.entered for c in moved.containers] == entered  # no gate is entered again


def test_move_off_refuses_without_another_host_or_with_an_unknown_one() -> None:
    state = _with(State(), "web", 1, ["a"])
    with pytest.raises(Refused, match="no other host"):
        move_off(state, make_ctx(), "web", "a", ["a"])
    with pytest.raises(InvalidInput, match="unknown host 'z'"):
        move_off(state, make_ctx(), "web", "z", ["a", "b"])


def test_host_commands_refuse_bad_input_with_one_line(project: Path, cli: CLI) -> None:
    assert cli("init").code == 0
    listed = cli("host", "list")
    assert listed.code == 2 and "runtime is none" in listed.err
    assert "Traceback" not in listed.err
    (project / "pipeline-kit.toml").write_text(
        '[[hosts]]\nname = "a"\nurl = "unix:///nonexistent/a.sock"\n'
        '[[hosts]]\nname = "b"\nurl = "unix:///nonexistent/b.sock"\n'
    )
    unknown = cli("host", "drain", "z")
    assert unknown.code == 2 and "unknown host 'z'" in unknown.err
    assert unknown.err.count("\n") == 1
    down = cli("host", "list")
    assert down.code == 3 and "2 host(s) do not answer: a, b" in down.err
    assert "no such socket" in down.out
    assert cli("host", "drain", "a").code == 0  # holds no stack: nothing to move
