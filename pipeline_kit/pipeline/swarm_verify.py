"""``verify`` on Swarm: every container of the state against its Swarm service's task, and
the Swarm's nodes. A task that is not running, one that runs elsewhere than the state says,
and a node that is not ready are drift."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline_kit.model.items import State
from pipeline_kit.pipeline.reconcile import (
    Drift,
    Survey,
    Wanted,
    in_flight,
    probe_of,
    survey_results,
    wanted,
    wanted_config,
)
from pipeline_kit.pipeline.rollout.docker import run_parallel
from pipeline_kit.pipeline.rollout.swarm import MANAGER
from pipeline_kit.pipeline.unit import Unit
from pipeline_kit.report.results import Result
from pipeline_kit.runtime import swarm


def _place(listed: list[swarm.Listed]) -> dict[str, tuple[swarm.Listed, int]]:
    """Container id → the Swarm service that runs it and its slot."""
    return {cid: (found, slot) for found in listed for slot, cid in enumerate(found.ids, 1)}


def survey(unit: Unit, state: State) -> Survey:
    """Compare every wanted container with its task, and report the nodes that are down."""
    settings, client = unit.settings, unit.engines.client(MANAGER)
    names = frozenset(state.services)
    skip = in_flight(unit, names)
    listed = swarm.listed(client, names)
    where = _place(listed)
    tasks = {found.name: swarm.tasks(client, found.name) for found in listed}
    nodes = swarm.nodes(client)
    out = Survey()
    items = wanted(state)
    probes: list[Callable[[], str | None]] = []
    probed: list[Wanted] = []
    for w in items:
        out.checked += 1
        if w.id in skip:
            continue
        problem = _task_drift(w, where.get(w.id), tasks, nodes)
        if problem is None and w.address:
            wants = wanted_config(settings, state, w)
            found = where[w.id][0]
            if found.config and found.config != wants:
                detail = f"started with configuration {found.config}, its stage's is now {wants}"
                problem = Drift("config", w.service, w.stack, w.host, found.name, detail)
            else:
                probes.append(probe_of(w.address, settings, w.service))
                probed.append(w)
        if problem is not None:
            out.drift.append(problem)
    for w, answer in zip(probed, run_parallel(probes), strict=True):
        if answer is not None:
            name = where[w.id][0].name
            out.drift.append(Drift("unhealthy", w.service, w.stack, w.host, name, str(answer)))
    known = {w.id for w in items} | skip
    for found in listed:
        if not set(found.ids) & known:
            detail = f"{found.version}, not in the state"
            out.drift.append(Drift("unknown", found.service, -1, MANAGER, found.name, detail))
    down = _nodes_down(nodes)
    out.drift.extend(down)
    out.results = survey_results(settings, items, skip, out.drift) + [
        Result("swarm", "verify", f"node {d.host}", "failed", d.detail) for d in down
    ]
    return out


def _task_drift(
    w: Wanted,
    placed: tuple[swarm.Listed, int] | None,
    tasks: dict[str, list[swarm.Task]],
    nodes: dict[str, swarm.Node],
) -> Drift | None:
    """What is wrong with the task that runs ``w``; None when it runs where the state says."""
    if placed is None:
        return Drift(
            "missing",
            w.service,
            w.stack,
            w.host,
            f"{w.service}/{w.stack}",
            "no Swarm service runs it",
        )
    found, slot = placed
    if found.version != w.version:
        detail = f"runs {found.version}, the state says {w.version}"
        return Drift("wrong-version", w.service, w.stack, w.host, found.name, detail)
    mine = [t for t in tasks.get(found.name, []) if t.slot == slot]
    up = [t for t in mine if t.state in swarm.UP and t.desired == "running"]
    if not up:
        last = _latest(mine, nodes)
        detail = f"task {slot} is not running" + (f": {last}" if last else "")
        return Drift("task-not-running", w.service, w.stack, w.host, found.name, detail)
    node = nodes.get(up[0].node)
    address = f"{node.address}:{found.port}" if node else "an unknown node"
    if w.address and address != w.address:
        detail = f"task {slot} runs at {address}, the state says {w.address}"
        return Drift("moved", w.service, w.stack, w.host, found.name, detail)
    return None


def _latest(mine: list[swarm.Task], nodes: dict[str, swarm.Node]) -> str:
    """The state of the task Swarm wants to run in a slot, with its error; when it wants
    none to run, what the last one does and where (e.g. on a node that is down)."""
    wanted_now = [t for t in mine if t.desired == "running"]
    if wanted_now:
        task = wanted_now[0]
        return task.state + (f" ({task.error})" if task.error else "")
    if not mine:
        return "no task"
    task = mine[0]
    node = nodes.get(task.node)
    where = f" on node {node.hostname} ({node.address}, {node.state})" if node else ""
    return f"its task{where} is {task.state}, Swarm wants it {task.desired}"


def _nodes_down(nodes: dict[str, Any]) -> list[Drift]:
    out = []
    for node in sorted(nodes.values(), key=lambda n: n.hostname):
        if node.state != "ready":
            detail = f"node {node.hostname} ({node.address or 'no address'}) is {node.state}"
            out.append(Drift("node-down", "", -1, node.hostname, node.hostname, detail))
    return out
