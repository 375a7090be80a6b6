"""``deploy`` (make the hosts match the state) and ``verify`` (report where they differ)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from pipeline_kit.config import Settings
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import State
from pipeline_kit.pipeline import routing
from pipeline_kit.pipeline.apply import recover, run_parallel, start_jobs, with_addresses
from pipeline_kit.report.results import Result
from pipeline_kit.runtime import containers as rt
from pipeline_kit.runtime.engine import Engines
from pipeline_kit.runtime.placement import Ports, port_of, spec_of
from pipeline_kit.store import journal
from pipeline_kit.store.database import Scope, Store

Report = Callable[[str], None]


@dataclass(frozen=True)
class Wanted:
    """A container the state says should run."""

    service: str
    stack: int
    position: int
    id: str
    version: str
    host: str
    address: str | None


@dataclass(frozen=True)
class Drift:
    """One difference between the state and a host."""

    kind: str  # missing | unhealthy | unknown | wrong-version
    service: str
    stack: int
    host: str
    container: str  # docker name
    detail: str


@dataclass
class Survey:
    """What ``verify`` found: containers checked and every drift."""

    checked: int = 0
    drift: list[Drift] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)  # one per container checked


def wanted(state: State) -> list[Wanted]:
    return [
        Wanted(svc.name, stack.index, pos, c.id, c.version, stack.host, c.address)
        for svc in state.services.values()
        for stack in svc.stacks
        for pos, c in enumerate(stack.containers)
    ]


def _in_flight(store: Store, services: frozenset[str] | None) -> set[str]:
    """Ids of containers that a live apply is starting or stopping: not drift."""
    now = datetime.now(UTC)
    with store.read("journal") as session:
        live = [e for e in journal.entries(session, services) if e.alive(now)]
    return {p.id for e in live for p in (*e.starts, *e.stops)}


def _load(store: Store, services: list[str] | None) -> State:
    with store.read() as session:
        state = session.load_all()
    if services is None:
        return state
    unknown = sorted(set(services) - set(state.services))
    if unknown:
        raise InvalidInput(f"unknown service {unknown[0]!r}: see 'pipeline-kit show services'")
    return replace(state, services={n: state.services[n] for n in services})


def survey(settings: Settings, store: Store, engines: Engines, state: State) -> Survey:
    """Compare every wanted container with what its host runs."""
    names = frozenset(state.services)
    skip = _in_flight(store, names)
    hosts = sorted({w.host for w in wanted(state)} | {h.name for h in settings.runtime.hosts})

    def listing(host: str) -> Callable[[], list[rt.Found]]:
        return lambda: rt.found(engines.client(host), host, names)

    running: dict[str, rt.Found] = {}
    for result in run_parallel([listing(h) for h in hosts]):
        if isinstance(result, BaseException):
            raise result
        running.update((f.id, f) for f in result)
    out = Survey()
    items = wanted(state)
    probes: list[Callable[[], str | None]] = []
    probed: list[Wanted] = []
    for w in items:
        out.checked += 1
        name = rt.container_name(w.service, w.stack, w.id)
        f = running.get(w.id)
        if w.id in skip:
            continue
        if f is None:
            out.drift.append(Drift("missing", w.service, w.stack, w.host, name, "not running"))
        elif f.version != w.version:
            detail = f"runs {f.version}, the state says {w.version}"
            out.drift.append(Drift("wrong-version", w.service, w.stack, w.host, name, detail))
        elif f.status != "running" or f.health == "unhealthy":
            detail = f"docker status {f.status}" + (f", {f.health}" if f.health else "")
            out.drift.append(Drift("unhealthy", w.service, w.stack, w.host, name, detail))
        elif w.address:
            probes.append(_probe(w.address, settings))
            probed.append(w)
    for w, problem in zip(probed, run_parallel(probes), strict=True):
        if problem is not None:
            name = rt.container_name(w.service, w.stack, w.id)
            detail = str(problem)
            out.drift.append(Drift("unhealthy", w.service, w.stack, w.host, name, detail))
    known = {w.id for w in items} | skip
    for f in running.values():
        if f.id not in known:
            detail = f"{f.version}, not in the state"
            out.drift.append(Drift("unknown", f.service, f.stack, f.host, f.name, detail))
    out.results = _results(settings, items, skip, out.drift)
    return out


def _results(
    settings: Settings, items: list[Wanted], skip: set[str], drift: list[Drift]
) -> list[Result]:
    """A result per container: passed, or failed with its drift; unknown ones apart."""
    found = {d.container: d for d in drift}
    out = []
    for w in items:
        name = rt.container_name(w.service, w.stack, w.id)
        stage = settings.policy.stage_name(w.position)
        label = f"{w.service}/{w.stack} {w.version} ({name})"
        if w.id in skip:
            out.append(Result(stage, "verify", label, "skipped", "an apply is in flight"))
        elif name in found:
            d = found[name]
            out.append(Result(stage, "verify", label, "failed", f"{d.kind}: {d.detail}"))
        else:
            out.append(Result(stage, "verify", label, "passed", f"runs on {w.host}"))
    for d in drift:
        if d.kind == "unknown":
            out.append(Result("unknown", "verify", d.container, "failed", f"unknown: {d.detail}"))
    return out


def _probe(address: str, settings: Settings) -> Callable[[], str | None]:
    return lambda: rt.check_once(address, settings.runtime)


def verify(settings: Settings, store: Store, services: list[str] | None) -> Survey:
    _require_docker(settings)
    with Engines(settings.runtime) as engines:
        return survey(settings, store, engines, _load(store, services))


def _require_docker(settings: Settings) -> None:
    if settings.runtime.kind != "docker":
        raise InvalidInput(
            'runtime is none: set runtime = "docker" and [[hosts]] in pipeline-kit.toml'
        )


def deploy(
    settings: Settings, store: Store, services: list[str] | None, dry_run: bool, report: Report
) -> list[Drift]:
    """Start what is missing (or drifted) and remove labelled containers the state doesn't know.

    Returns the drift acted on (or, with ``dry_run``, that would be).
    """
    _require_docker(settings)
    with Engines(settings.runtime) as engines:
        if not dry_run:
            for note in recover(store, engines, frozenset(services) if services else None):
                report(note)
        state = _load(store, services)
        found = survey(settings, store, engines, state).drift
        if dry_run:
            return found
        if not found:
            _route(settings, store)
            return found
        by_name = {rt.container_name(w.service, w.stack, w.id): w for w in wanted(state)}
        replace_ = [by_name[d.container] for d in found if d.kind != "unknown"]
        for w in replace_:
            rt.remove(engines.client(w.host), rt.container_name(w.service, w.stack, w.id))
        ports = Ports(settings.runtime, engines, state)
        routes = None
        if routing.enabled(settings):
            with store.read("routing") as session:
                edges = routing.upstream_ports(session.load_all(), settings.lb)
            routes = (settings.lb.bind, edges)
        specs = [
            spec_of(
                settings,
                ports,
                state,
                w.service,
                w.stack,
                w.position,
                w.id,
                w.version,
                port_of(w.address),
                routes,
            )
            for w in replace_
        ]
        results = run_parallel(start_jobs(engines, settings, specs))
        addresses = {
            s.id: s.address
            for s, r in zip(specs, results, strict=True)
            if not isinstance(r, BaseException)
        }
        if addresses:
            _record(store, state, addresses)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]
        _route(settings, store)
        for d in found:
            if d.kind == "unknown":
                rt.remove(engines.client(d.host), d.container)
        return found


def _route(settings: Settings, store: Store) -> None:
    """Behind HAProxy: make it run the config of the whole state (deploy fixes routing too)."""
    if not routing.enabled(settings):
        return
    routing.switch(settings, routing.prepare(settings, *routing.current(settings, store)))


def _record(store: Store, state: State, addresses: dict[str, str]) -> None:
    """Write the addresses of containers deploy (re)started; nothing else changes."""
    scope = Scope(frozenset(state.services))
    with store.write(scope, "deploy") as session:
        current = session.load(scope)
        session.write_state(current, with_addresses(current, addresses))
