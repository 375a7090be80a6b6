"""``deploy`` (make the hosts match the state) and ``verify`` (report where they differ)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from pipeline_kit.config_types import Settings
from pipeline_kit.errors import ExternalFailure
from pipeline_kit.lb.render import edges
from pipeline_kit.model.actions import Context
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.effective import configured, effective
from pipeline_kit.pipeline.rollout import sequences
from pipeline_kit.pipeline.rollout.docker import launch_of, run_parallel
from pipeline_kit.pipeline.rollout.flight import Flight, Rig, Step, run
from pipeline_kit.pipeline.rollout.steps import with_addresses
from pipeline_kit.pipeline.unit import Unit
from pipeline_kit.report.results import Result
from pipeline_kit.runtime import containers as rt
from pipeline_kit.runtime.placement import Ports, Routes, port_of, spec_of
from pipeline_kit.store import journal
from pipeline_kit.store.database import Scope


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

    kind: str  # missing | unhealthy | unknown | wrong-version | config
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
    health: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id → svc, status, why
    warnings: list[str] = field(default_factory=list)  # e.g. the result could not be kept


def wanted(state: State) -> list[Wanted]:
    return [
        Wanted(svc.name, stack.index, pos, c.id, c.version, stack.host, c.address)
        for svc in state.services.values()
        for stack in svc.stacks
        for pos, c in enumerate(stack.containers)
    ]


def in_flight(unit: Unit, services: frozenset[str] | None) -> set[str]:
    """Ids of containers that a live apply is starting or stopping, and standby containers
    (until the next command removes them): not drift."""
    now = datetime.now(UTC)
    with unit.store.read("journal") as session:
        found = journal.entries(session, services)
    live = [e for e in found if e.alive(now) or e.phase == journal.STANDBY]
    return {p.id for e in live for p in (*e.starts, *e.stops)}


def _load(unit: Unit, services: list[str] | None) -> tuple[State, State]:
    """The whole state, and the part of it to look at (all of it, or some services)."""
    with unit.store.read() as session:
        whole = session.load_all()
    if services is None:
        return whole, whole
    unknown = sorted(set(services) - set(whole.services))
    if unknown:
        raise InvalidInput(f"unknown service {unknown[0]!r}: see 'pipeline-kit show services'")
    return whole, replace(whole, services={n: whole.services[n] for n in services})


def survey(unit: Unit, state: State) -> Survey:
    """Compare every wanted container with what its host runs."""
    settings, engines = unit.settings, unit.engines
    names = frozenset(state.services)
    skip = in_flight(unit, names)
    hosts = sorted({w.host for w in wanted(state)} | {h.name for h in settings.runtime.hosts})

    def listing(host: str) -> Callable[[], list[rt.Found]]:
        return lambda: rt.found(engines.client(host), host, names)

    running: dict[str, rt.Found] = {}
    down: dict[str, str] = {}  # host → why it does not answer
    for host, result in zip(hosts, run_parallel([listing(h) for h in hosts]), strict=True):
        if isinstance(result, ExternalFailure):
            down[host] = str(result)
        elif isinstance(result, BaseException):
            raise result
        else:
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
        if w.host in down:
            out.drift.append(Drift("unreachable", w.service, w.stack, w.host, name, down[w.host]))
        elif f is None:
            out.drift.append(Drift("missing", w.service, w.stack, w.host, name, "not running"))
        elif f.version != w.version:
            detail = f"runs {f.version}, the state says {w.version}"
            out.drift.append(Drift("wrong-version", w.service, w.stack, w.host, name, detail))
        elif f.status != "running" or f.health == "unhealthy":
            detail = f"docker status {f.status}" + (f", {f.health}" if f.health else "")
            out.drift.append(Drift("unhealthy", w.service, w.stack, w.host, name, detail))
        elif f.config and f.config != (wants := wanted_config(settings, state, w)):
            detail = f"started with configuration {f.config}, its stage's is now {wants}"
            out.drift.append(Drift("config", w.service, w.stack, w.host, name, detail))
        elif w.address:
            probes.append(probe_of(w.address, settings, w.service))
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
    out.results = survey_results(settings, items, skip, out.drift)
    out.health = _health(items, skip, out.drift)
    return out


def wanted_config(settings: Settings, state: State, w: Wanted) -> str:
    """The digest of the configuration the container at ``w``'s place should run with."""
    return effective(settings, state, w.service, w.position).digest()


def survey_results(
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


def _health(
    items: list[Wanted], skip: set[str], drift: list[Drift]
) -> dict[str, tuple[str, str, str]]:
    """Container id → (service, status, detail) of every container checked."""
    found = {d.container: d for d in drift}
    out = {}
    for w in items:
        if w.id in skip:
            continue
        d = found.get(rt.container_name(w.service, w.stack, w.id))
        out[w.id] = (w.service, d.kind, d.detail) if d else (w.service, "healthy", "")
    return out


def probe_of(address: str, settings: Settings, service: str) -> Callable[[], str | None]:
    decl = settings.declared(service)
    path = decl.health_path if decl is not None else None
    return lambda: rt.check_once(address, settings.runtime, path)


def verify(unit: Unit, services: list[str] | None) -> Survey:
    if unit.settings.runtime.kind == "swarm":
        from pipeline_kit.pipeline import swarm_verify

        return swarm_verify.survey(unit, _load(unit, services)[1])
    _require_docker(unit.settings)
    return survey(unit, _load(unit, services)[1])


def _require_docker(settings: Settings) -> None:
    if settings.runtime.kind == "swarm":
        raise InvalidInput(
            "deploy is for runtime docker: on Swarm, Swarm itself restarts the tasks that stop"
        )
    if settings.runtime.kind != "docker":
        raise InvalidInput(
            'runtime is none: set runtime = "docker" and [[hosts]] in pipeline-kit.toml'
        )


@dataclass
class _Deploy:
    """Deploy's own steps: survey, clear what drifted, place its replacements, record them."""

    unit: Unit
    services: list[str] | None
    whole: State = field(default_factory=State)
    state: State = field(default_factory=State)
    drift: list[Drift] = field(default_factory=list)

    def survey(self, rig: Rig, flight: Flight) -> None:
        self.whole, self.state = _load(self.unit, self.services)
        self.drift = survey(self.unit, self.state).drift
        flight.plan = Plan("deploy", {}, self.state, self.state)
        flight.commit = False

    def renew(self, rig: Rig, flight: Flight) -> None:
        """Containers running with a configuration that is no longer their stage's: renewed
        in place by a blue-green rollout per service (started, checked, switched, removed),
        so no request is lost."""
        from pipeline_kit.model.renew import renew

        by_name = {rt.container_name(w.service, w.stack, w.id): w for w in wanted(self.state)}
        stale: dict[str, list[str]] = {}
        for d in self.drift:
            if d.kind == "config":
                stale.setdefault(d.service, []).append(by_name[d.container].id)
        for service in sorted(stale):

            def build(state: State, ctx: Context, name: str = service) -> Plan:
                return renew(state, ctx, name, stale[name])

            scope = Scope(frozenset({service}))
            run(sequences.BLUE_GREEN[1:], rig, Flight(scope, build))

    def clear(self, rig: Rig, flight: Flight) -> None:
        engines = self.unit.engines
        for w in self._replaced():
            rt.remove(engines.client(w.host), rt.container_name(w.service, w.stack, w.id))

    def _replaced(self) -> list[Wanted]:
        by_name = {rt.container_name(w.service, w.stack, w.id): w for w in wanted(self.state)}
        return [by_name[d.container] for d in self.drift if d.kind not in ("unknown", "config")]

    def place(self, rig: Rig, flight: Flight) -> None:
        settings, replaced = self.unit.settings, self._replaced()
        if not replaced:
            return
        routes = rig.router.routes(
            edges(self.whole), [e.port for e in self.whole.endpoints.values()]
        )
        hosts = sorted({settings.runtime.host(w.host).name for w in replaced})
        with rig.ledger.write(Scope(), "deploy: reserve ports") as tx:  # as a rollout does
            ports = Ports(settings.runtime, self.unit.engines, self.state, tx.ports_taken(hosts))
            flight.launches = [
                launch_of(configured(settings, self.whole, self._spec(ports, routes, w)))
                for w in replaced
            ]
            held = [launch.reservation() for launch in flight.launches]
            tx.release_ports([launch.id for launch in flight.launches])  # their former ports
            tx.reserve_ports([r for r in held if r is not None])

    def _spec(self, ports: Ports, routes: Routes | None, w: Wanted) -> rt.Spec:
        return spec_of(
            self.unit.settings, ports, self.state, w.service, w.stack, w.position, w.id,
            w.version, port_of(w.address), routes,
        )  # fmt: skip

    def record(self, rig: Rig, flight: Flight) -> None:
        """Write the addresses of the containers deploy (re)started; nothing else changes."""
        if not flight.launches:
            return
        addresses = {launch.id: launch.address for launch in flight.launches}
        scope = Scope(frozenset(self.state.services))
        with self.unit.store.write(scope, "deploy") as session:
            current = session.load(scope)
            session.write_state(current, with_addresses(current, addresses))

    def remove_unknown(self, rig: Rig, flight: Flight) -> None:
        engines = self.unit.engines
        for d in self.drift:
            if d.kind == "unknown":
                rt.remove(engines.client(d.host), d.container)


def deploy(unit: Unit, services: list[str] | None, dry_run: bool) -> tuple[list[Drift], list[str]]:
    """Start what is missing (or drifted) and remove labelled containers the state doesn't know;
    behind HAProxy, make it route the whole state. The drift acted on (or, with ``dry_run``,
    that would be) and the recovery notes."""
    _require_docker(unit.settings)
    work = _Deploy(unit, services)
    notes: list[str] = []
    rig = unit.rig(notes.append)
    flight = Flight(Scope(frozenset(services or ())))
    if dry_run:
        run((Step("survey", work.survey),), rig, flight)
        return work.drift, notes
    steps = (
        sequences.RECOVER,
        Step("survey", work.survey),
        Step("renew", work.renew),
        Step("clear", work.clear),
        Step("place", work.place),
        sequences.START,
        sequences.HEALTHY,
        Step("record", work.record, point_of_no_return=True),
        sequences.VALIDATE_ROUTING,
        sequences.SWITCH,
        sequences.DRAIN,
        Step("remove unknown", work.remove_unknown),
    )
    run(steps, rig, flight)
    return work.drift, notes
