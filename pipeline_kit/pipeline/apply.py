"""Apply a plan to the Docker hosts and the state, all or nothing (DESIGN §4).

1. Under the service locks: plan, check, and journal the containers to start and stop.
2. Start the new containers, in parallel across stacks and hosts, and wait until healthy.
3. Under the locks again: commit the new state and mark the journal entry committed.
4. Remove the containers that left; drop the journal entry.

Any failure before 3 removes what was started and leaves the state as it was. A process
killed at any step leaves a journal entry that the next run finishes (after 3) or undoes
(before 3), saying so in one line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline_kit.config import Settings
from pipeline_kit.model.errors import ConstraintFailed, ExternalFailure, PipelineKitError
from pipeline_kit.model.items import Container, Service, Stack, State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline import routing
from pipeline_kit.pipeline.canary import active, begin
from pipeline_kit.runtime import containers as rt
from pipeline_kit.runtime.engine import Engines
from pipeline_kit.runtime.placement import specs_for
from pipeline_kit.store import journal
from pipeline_kit.store.database import Scope, Store

Build = Callable[[State, Any], Plan]
Report = Callable[[str], None]
Observe = Callable[[rt.Spec, float, "BaseException | None"], None]  # health check, seconds
_WAIT = 0.2


def checkpoint(step: str) -> None:
    """Fault injection for the recovery tests: ``PIPELINE_KIT_KILL_AT=step`` kills us here."""
    if os.environ.get("PIPELINE_KIT_KILL_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _now() -> datetime:
    return datetime.now(UTC)


def run_parallel(jobs: list[Callable[[], Any]]) -> list[BaseException | Any]:
    """Run ``jobs`` on threads; each result, or the exception it raised."""
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool:
        futures = [pool.submit(job) for job in jobs]
        out: list[BaseException | Any] = []
        for future in futures:
            try:
                out.append(future.result())
            except BaseException as exc:  # collected; the caller re-raises
                out.append(exc)
        return out


def remove_placed(engines: Engines, placed: Iterable[journal.Placed]) -> int:
    """Remove containers by their journal record; how many were asked for."""
    items = list(placed)

    def job(p: journal.Placed) -> Callable[[], None]:
        return lambda: rt.remove(
            engines.client(p.host), rt.container_name(p.service, p.stack, p.id)
        )

    errors = [r for r in run_parallel([job(p) for p in items]) if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    return len(items)


def recover(store: Store, engines: Engines, services: frozenset[str] | None) -> list[str]:
    """Finish or undo applies whose process is gone; one line per entry."""
    notes = []
    with store.read("journal") as session:
        found = journal.entries(session, services)
    now = _now()
    for entry in found:
        if entry.alive(now):
            continue
        if entry.phase == journal.COMMITTED:
            count = remove_placed(engines, entry.stops)
            note = (
                f"recovered: finished the interrupted {entry.describe()}: the state was "
                f"committed, removed {count} container(s) that had left"
            )
        else:
            count = remove_placed(engines, entry.starts)
            note = (
                f"recovered: undid the interrupted {entry.describe()}: removed {count} "
                "container(s) it had started, the state was not changed"
            )
        with store.write(Scope(), "journal") as session:
            journal.remove(session, entry.id)
        notes.append(note)
    return notes


def _busy(session: Any, services: frozenset[str]) -> journal.Entry | None:
    now = _now()
    return next((e for e in journal.entries(session, services) if e.alive(now)), None)


def with_addresses(state: State, addresses: dict[str, str]) -> State:
    def stack(s: Stack) -> Stack:
        return replace(s, containers=tuple(_addressed(c, addresses) for c in s.containers))

    services: dict[str, Service] = {
        name: replace(svc, stacks=tuple(stack(s) for s in svc.stacks))
        for name, svc in state.services.items()
    }
    return replace(state, services=services)


def _addressed(c: Container, addresses: dict[str, str]) -> Container:
    return replace(c, address=addresses[c.id]) if c.id in addresses else c


def start_jobs(
    engines: Engines, settings: Settings, specs: list[rt.Spec], observe: Observe | None = None
) -> list[Callable[[], None]]:
    """One job per spec: start it and wait until healthy, all within ``health_timeout``.

    ``observe`` hears of each container: how long it took to be healthy, or why it failed.
    """
    deadline = time.monotonic() + settings.runtime.health_timeout
    auth = settings.registry.auth if settings.registry else None

    def job(spec: rt.Spec) -> Callable[[], None]:
        def run() -> None:
            began = time.monotonic()
            try:
                rt.start_healthy(
                    engines.client(spec.host.name),
                    spec,
                    settings.runtime,
                    deadline,
                    auth,
                    lambda: checkpoint("started"),
                )
            except BaseException as exc:
                if observe is not None:
                    observe(spec, time.monotonic() - began, exc)
                raise
            if observe is not None:
                observe(spec, time.monotonic() - began, None)

        return run

    return [job(s) for s in specs]


def _start_all(
    engines: Engines, settings: Settings, specs: list[rt.Spec], observe: Observe | None
) -> None:
    """Start every spec and wait until healthy; on any failure remove them all and raise."""
    results = run_parallel(start_jobs(engines, settings, specs, observe))
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        placed = [journal.Placed(s.id, s.service, s.stack, s.host.name, s.version) for s in specs]
        # If this fails too, the journal entry still lists them: the next run removes them.
        with contextlib.suppress(PipelineKitError):
            remove_placed(engines, placed)
        raise errors[0]


def _switch(settings: Settings, text: str, report: Report, committed: bool) -> None:
    """Switch HAProxy to ``text`` after a commit; say what is left when it fails."""
    try:
        switched = routing.switch(settings, text)
    except PipelineKitError as exc:
        if not committed:
            raise
        raise ExternalFailure(
            f"{exc}; the state is committed but HAProxy still routes to the previous "
            "containers, which keep running: fix it, run 'pipeline-kit lb apply', then "
            "'pipeline-kit deploy' removes them"
        ) from None
    if not switched.drained:
        report(
            f"HAProxy: connections of the previous config still open after {settings.lb.drain:g}s"
            "; removing the old containers anyway"
        )


def apply_with_runtime(
    settings: Settings,
    store: Store,
    scope: Scope,
    build: Build,
    context: Callable[[], Any],
    report: Report,
    observe: Observe | None = None,
    canary: int | None = None,
) -> Plan:
    """Plan, start, commit, remove: the journaled apply. Returns the applied plan.

    With ``canary`` (a percent), stop after the start: the plan becomes a canary
    (``pipeline.canary``) and nothing is committed.
    """
    lb = routing.enabled(settings)
    text: str | None = None
    with Engines(settings.runtime) as engines:
        for note in recover(store, engines, scope.services or None):
            report(note)
        waited_until = time.monotonic() + settings.lock_timeout
        while True:
            with store.write(scope, f"change to {', '.join(sorted(scope.services))}") as session:
                ctx = context()
                plan = build(session.load(scope), ctx)
                if plan.violations:
                    raise ConstraintFailed(plan.violations)
                busy = _busy(session, scope.services | frozenset(plan.services_changed()))
                if busy is None:
                    if not plan.operations:
                        if lb:
                            whole = routing.merged(session.load_all(), plan.before, plan.after)
                            text = routing.prepare(settings, whole, canaries=active(session))
                        session.apply(plan, settings.policy, ctx.actor, ctx.now)
                        break
                    routes = None
                    if lb:
                        whole = routing.merged(session.load_all(), plan.before, plan.after)
                        routes = (settings.lb.bind, routing.upstream_ports(whole, settings.lb))
                    specs, stops = specs_for(plan, settings, engines, routes)
                    lease = timedelta(seconds=settings.runtime.health_timeout + 300)
                    starts = [
                        journal.Placed(s.id, s.service, s.stack, s.host.name, s.version)
                        for s in specs
                    ]
                    entry = journal.add(
                        session, plan.services_changed(), plan.action, starts, stops, ctx.now, lease
                    )
                    break
            if time.monotonic() >= waited_until or busy.phase == journal.CANARY:
                raise ExternalFailure(
                    f"another change is being applied: {busy.describe()}; nothing was changed, "
                    "try again when it is done"
                )
            time.sleep(_WAIT)
        if not plan.operations:
            if text is not None:
                _switch(settings, text, report, committed=False)
            return plan
        checkpoint("journaled")
        try:
            _start_all(engines, settings, specs, observe)
            addresses = {s.id: s.address for s in specs}
            applied = replace(plan, after=with_addresses(plan.after, addresses))
            if canary is not None:
                begin(settings, store, plan, applied.after, specs, entry, canary)
                return plan
            if lb:
                with store.read("routing") as session:
                    whole = routing.merged(session.load_all(), plan.before, applied.after)
                    others = active(session)
                text = routing.prepare(settings, whole, canaries=others)
        except BaseException:
            with contextlib.suppress(PipelineKitError):
                remove_placed(engines, starts)  # started and healthy, but the LB refused
            with store.write(Scope(), "journal") as session:
                journal.remove(session, entry.id)
            raise
        checkpoint("healthy")
        try:
            with store.write(scope, "commit") as session:
                current = session.load(scope)
                changed = plan.services_changed()
                if any(current.services.get(n) != plan.before.services.get(n) for n in changed):
                    raise ExternalFailure("the state changed while containers were starting")
                session.apply(applied, settings.policy, ctx.actor, ctx.now)
                journal.set_committed(session, entry.id)
        except BaseException:
            remove_placed(engines, starts)
            with store.write(Scope(), "journal") as session:
                journal.remove(session, entry.id)
            raise
        checkpoint("committed")
        if text is not None:
            try:
                _switch(settings, text, report, committed=True)
            except PipelineKitError:
                # The old containers keep serving: forget the entry, do not remove them.
                with store.write(Scope(), "journal") as session:
                    journal.remove(session, entry.id)
                raise
        remove_placed(engines, stops)
        checkpoint("removed")
        with store.write(Scope(), "journal") as session:
            journal.remove(session, entry.id)
        return applied
