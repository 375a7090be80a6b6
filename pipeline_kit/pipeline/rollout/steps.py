"""The steps every rollout is made of. Each reads what earlier steps left in the flight and
adds what it did; the lists of steps are in ``sequences``.

plan → journal → start → healthy → validate routing → commit → switch → drain → remove → close
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from pipeline_kit.errors import ExternalFailure
from pipeline_kit.model.errors import ConstraintFailed, PipelineKitError
from pipeline_kit.model.items import Container, Service, Stack, State
from pipeline_kit.pipeline import routing
from pipeline_kit.pipeline.rollout.flight import Flight, Rig
from pipeline_kit.store import journal
from pipeline_kit.store.database import Scope

_WAIT = 0.2  # seconds between two looks at a busy service


def recover(rig: Rig, flight: Flight) -> None:
    """Finish or undo the applies of the flight's services whose process is gone."""
    for line in recover_entries(rig, flight.scope.services or None):
        rig.note(line)


def recover_entries(rig: Rig, services: frozenset[str] | None) -> list[str]:
    """Finish (after its commit) or undo (before it) every dead apply; one line each."""
    lines = []
    with rig.ledger.read("journal") as tx:
        found = tx.entries(services)
    now = rig.clock.now()
    for entry in found:
        if entry.alive(now):
            continue
        if entry.phase == journal.STANDBY:
            count = rig.runtime.remove(entry.stops)
            line = f"removed {count} standby container(s) of {', '.join(entry.services)}"
        elif entry.phase == journal.COMMITTED:
            count = rig.runtime.remove(entry.stops)
            line = (
                f"recovered: finished the interrupted {entry.describe()}: the state was "
                f"committed, removed {count} container(s) that had left"
            )
        else:
            count = rig.runtime.remove(entry.starts)
            line = (
                f"recovered: undid the interrupted {entry.describe()}: removed {count} "
                "container(s) it had started, the state was not changed"
            )
        done = entry.phase in (journal.COMMITTED, journal.STANDBY)
        gone = entry.stops if done else entry.starts
        with rig.ledger.write(Scope(), "journal") as tx:
            tx.release_ports([p.id for p in gone])
            tx.remove_entry(entry.id)
        lines.append(line)
    return lines


def _busy(found: list[journal.Entry], now: datetime) -> journal.Entry | None:
    """An apply in flight among ``found`` (standby containers wait for nobody)."""
    return next((e for e in found if e.phase != journal.STANDBY and e.alive(now)), None)


def plan(rig: Rig, flight: Flight) -> None:
    """Under the locks of the scope: load it once, plan, refuse on any violation, and wait
    while another apply of the same services is in flight. The transaction stays open."""
    build = flight.need_build()
    names = ", ".join(sorted(flight.scope.services)) or "state"
    waited_until = rig.clock.monotonic() + rig.settings.lock_timeout
    while True:
        tx = flight.hold(rig.ledger, f"change to {names}")
        ctx = rig.context()
        found = build(tx.load(flight.scope), ctx)
        flight.ctx, flight.plan = ctx, found
        if found.violations:
            raise ConstraintFailed(found.violations)
        flight.seen = tx.entries(flight.scope.services | frozenset(found.services_changed()))
        busy = _busy(flight.seen, ctx.now)
        if busy is None:
            return
        flight.release()
        if rig.clock.monotonic() >= waited_until or busy.phase == journal.CANARY:
            raise ExternalFailure(
                f"another change is being applied: {busy.describe()}; nothing was changed, "
                "try again when it is done"
            )
        rig.clock.sleep(_WAIT)


def preview(rig: Rig, flight: Flight) -> None:
    """A dry run: plan on a read-only snapshot; violations are the plan's, not an error."""
    build = flight.need_build()
    flight.ctx = rig.context()
    if flight.snapshot is not None:
        flight.plan = build(flight.snapshot, flight.ctx)
        return
    with rig.ledger.read("plan") as tx:
        flight.plan = build(tx.load(flight.scope), flight.ctx)


def journal_plan(rig: Rig, flight: Flight) -> None:
    """Place the containers to start and stop, reserve their host ports and journal them (then
    the locks go: others see the entry and the reservations, and wait or draw other ports).
    With nothing to run, the transaction stays open to the commit."""
    found, tx, ctx = flight.need_plan(), flight.need_tx(), flight.need_ctx()
    routes = None
    if rig.router.enabled and found.operations:
        routes = rig.router.routes(*tx.routing_keys(found))
    flight.launches, flight.stops = rig.runtime.place(found, routes, tx.ports_taken)
    flight.removing = flight.stops
    if not flight.launches and not flight.stops:
        return
    starts = [launch.placed() for launch in flight.launches]
    held = [launch.reservation() for launch in flight.launches]
    tx.reserve_ports([r for r in held if r is not None])
    changed = found.services_changed()
    flight.entry = tx.add_entry(changed, found.action, starts, flight.stops, ctx.now, lease(rig))
    flight.release()


def lease(rig: Rig) -> timedelta:
    """How long a journal entry of a living process stays valid on another host's reading."""
    return timedelta(seconds=rig.settings.runtime.health_timeout + 300)


def forget(rig: Rig, flight: Flight) -> None:
    """Drop the flight's journal entry, unless it keeps standby containers, and release the
    ports of the containers it removed (undo of ``journal``, and the last step of all)."""
    if flight.entry is None or (flight.kept and not flight.removed):
        return
    with rig.ledger.write(Scope(), "journal") as tx:
        tx.release_ports([p.id for p in flight.removed])
        if not flight.kept:
            tx.remove_entry(flight.entry.id)


def start(rig: Rig, flight: Flight) -> None:
    """Start the new containers, in parallel across stacks and hosts."""
    if flight.launches:
        flight.handles = rig.runtime.start(flight.launches)


def remove_started(rig: Rig, flight: Flight) -> None:
    """Remove what the flight started (undo of ``start``)."""
    if flight.launches:
        started = [launch.placed() for launch in flight.launches]
        rig.runtime.remove(started)
        flight.removed += started


def healthy(rig: Rig, flight: Flight) -> None:
    """Wait until every new container answers its health check; note their addresses."""
    if not flight.launches:
        return
    moved = rig.runtime.wait_healthy(flight.launches, flight.handles, rig.observe)
    if moved is not None:
        flight.launches = moved
    addresses = {launch.id: launch.address for launch in flight.launches}
    found = flight.need_plan()
    flight.applied = replace(found, after=with_addresses(found.after, addresses))


def validate_routing(rig: Rig, flight: Flight) -> None:
    """The HAProxy config of the whole state after the change (running canaries included),
    checked by HAProxy itself; nothing switches yet. One whole-state read."""
    if not rig.router.enabled:
        return
    found, final = flight.need_plan(), flight.final()
    if flight.tx is not None:
        whole, entries = flight.tx.load_all(), flight.tx.entries()
    else:
        with rig.ledger.read("routing") as tx:
            whole, entries = tx.load_all(), tx.entries()
    if flight.commit:
        whole = routing.merged(whole, found.before, final.after)
    skip = flight.entry.id if flight.entry is not None else None
    canaries = routing.canaries(entries, skip)
    if flight.weights is not None:
        canaries.append(flight.weights)
    flight.config = rig.router.prepare(whole, canaries)


def commit(rig: Rig, flight: Flight) -> None:
    """Write the new state and its history, and mark the journal entry committed."""
    found, final, ctx = flight.need_plan(), flight.final(), flight.need_ctx()
    policy = rig.settings.policy
    if flight.tx is not None:  # planned in this very transaction: nothing could change
        flight.tx.apply(final, policy, ctx.actor, ctx.now)
        if flight.entry is not None:
            flight.tx.set_committed(flight.entry.id)
        flight.release()
    else:
        entry = flight.need_entry()
        with rig.ledger.write(flight.scope, "commit") as tx:
            if not tx.unchanged(found.before, found.services_changed()):
                raise ExternalFailure("the state changed while containers were starting")
            tx.apply(final, policy, ctx.actor, ctx.now)
            tx.set_committed(entry.id)
    flight.committed = True


def switch(rig: Rig, flight: Flight) -> None:
    """Under the routing lock (one switch at a time), render the committed state and make
    HAProxy run it (a seamless reload): a change committed meanwhile by another command is
    kept, and the config that runs last holds every committed change."""
    flight.release()
    if flight.config is None:
        return
    try:
        with rig.ledger.routing("switch HAProxy") as tx:
            whole, entries = tx.load_all(), tx.entries()
            # An aborted canary's entry goes at the close: its weights must go now.
            mine = flight.entry.id if flight.entry is not None else None
            skip = mine if flight.weights is None else None
            canaries = routing.canaries(entries, skip)
            config = rig.router.render(whole, canaries)
            if config != flight.config:  # others committed meanwhile: validate it too
                config = rig.router.prepare(whole, canaries)
            flight.switched = rig.router.switch(config)
    except PipelineKitError as exc:
        if not flight.committed:
            raise
        forget(rig, flight)  # the old containers keep serving: they must not be removed
        raise ExternalFailure(
            f"{exc}; the state is committed but HAProxy still routes to the previous "
            "containers, which keep running: fix it, run 'pipeline-kit lb apply', then "
            "'pipeline-kit deploy' removes them"
        ) from None


def drain(rig: Rig, flight: Flight) -> None:
    """Let the previous configuration's connections finish (bounded)."""
    if flight.switched and not rig.router.drain():
        rig.note(
            f"HAProxy: connections of the previous config still open after "
            f"{rig.router.drain_seconds:g}s; removing the old containers anyway"
        )


def remove(rig: Rig, flight: Flight) -> None:
    """Remove the containers that left."""
    if flight.removing:
        rig.runtime.remove(flight.removing)
        flight.removed += flight.removing


def with_addresses(state: State, addresses: dict[str, str]) -> State:
    """``state`` with the given containers' addresses."""

    def container(c: Container) -> Container:
        return replace(c, address=addresses[c.id]) if c.id in addresses else c

    def stack(s: Stack) -> Stack:
        return replace(s, containers=tuple(container(c) for c in s.containers))

    services: dict[str, Service] = {
        name: replace(svc, stacks=tuple(stack(s) for s in svc.stacks))
        for name, svc in state.services.items()
    }
    return replace(state, services=services)
