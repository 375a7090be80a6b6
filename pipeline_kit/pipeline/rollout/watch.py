"""The verification window: after the switch a rollout watches the version it brought in.

For the ``verify`` time of the gate of every stage a new version entered, it reads, at a
bounded interval, HAProxy's counters of the new containers' servers (5xx answers, failed
connections and responses against sessions, servers DOWN) and the containers' state from
the engine (exited, restarting, unhealthy, gone). Each measure becomes a result. When one
breaks its threshold the rollout rolls back by itself (a routing switch to the standby
containers when they are kept), rejects the version saying which measure broke, and fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline_kit.errors import ExternalFailure
from pipeline_kit.lb.stats import ServerStat
from pipeline_kit.model.actions import Context
from pipeline_kit.model.errors import PipelineKitError, Refused
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Gate
from pipeline_kit.pipeline.rollout import standby
from pipeline_kit.pipeline.rollout.flight import Flight, Rig
from pipeline_kit.pipeline.rollout.hooks import entered
from pipeline_kit.pipeline.rollout.ports import Checked
from pipeline_kit.store.journal import Placed

_DOWN = ("DOWN", "MAINT", "NOLB")  # HAProxy server statuses that take no traffic


@dataclass
class Meter:
    """The measures of one version in one stage, summed over the window so far."""

    service: str
    stage: str
    position: int
    version: str
    gate: Gate
    placed: list[Placed]
    addresses: set[str]
    label: str = ""  # added to the results' names: a canary's share
    failed: int = 0
    total: int = 0
    down: list[str] = field(default_factory=list)  # addresses of servers DOWN now
    states: dict[str, str] = field(default_factory=dict)  # container id → state
    _last: dict[str, tuple[int, int]] = field(default_factory=dict)  # address → counters

    def read(self, servers: list[ServerStat], states: dict[str, str]) -> None:
        """Add what changed since the last reading (a reloaded HAProxy counts from 0)."""
        self.states = {p.id: states.get(p.id, "missing") for p in self.placed}
        mine = [s for s in servers if s.address in self.addresses]
        self.down = sorted(s.address for s in mine if s.status.startswith(_DOWN))
        for s in mine:
            failed, total = self._last.get(s.address, (0, 0))
            if s.failed < failed or s.total < total:
                failed, total = 0, 0
            self.failed += s.failed - failed
            self.total += s.total - total
            self._last[s.address] = (s.failed, s.total)

    def rate(self) -> float:
        return self.failed / max(self.total, self.failed, 1)

    def breach(self) -> str | None:
        """The first measure over its threshold, in words; None while all hold."""
        bad = {i: s for i, s in self.states.items() if s != "running"}
        if bad:
            return f"containers: {_listed(bad)}"
        if self.down:
            return f"servers: {len(self.down)} of {len(self.addresses)} DOWN in HAProxy"
        if self.rate() > self.gate.max_error_rate:
            return f"error rate: {self._errors()}"
        return None

    def _errors(self) -> str:
        limit = self.gate.max_error_rate
        return f"{self.failed} of {self.total} failed ({self.rate():.2%}, limit {limit:.2%})"

    def results(self, seconds: float) -> list[Checked]:
        """One result per measure."""
        name = f"{self.service} {self.version}{self.label}"
        bad = {i: s for i, s in self.states.items() if s != "running"}
        down = f"{len(self.down)} of {len(self.addresses)} DOWN"
        running = f"{len(self.states) - len(bad)} of {len(self.states)} running"
        return [
            Checked(self.stage, "watch", f"error rate {name}",
                    self.rate() <= self.gate.max_error_rate, self._errors(), seconds),
            Checked(self.stage, "watch", f"servers {name}", not self.down, down, seconds),
            Checked(self.stage, "watch", f"containers {name}", not bad,
                    _listed(bad) if bad else running, seconds),
        ]  # fmt: skip


def _listed(states: dict[str, str]) -> str:
    return ", ".join(f"{cid} {state}" for cid, state in sorted(states.items()))


def meters(rig: Rig, flight: Flight) -> list[Meter]:
    """A meter per stage a new version entered whose gate has a verification window."""
    plan = flight.final()
    if plan.action == "rollback" or not flight.committed or rig.settings.runtime.kind == "none":
        return []  # nothing to watch: a rollback's version was watched, or nothing runs
    policy, out = rig.settings.policy, []
    for service, position, version in entered(plan):
        gate = policy.gate(position)
        if gate.verify.total_seconds() <= 0:
            continue
        svc = plan.after.services[service]
        here = [(s, s.containers[position]) for s in svc.stacks if position < s.height]
        placed = [Placed(c.id, service, s.index, s.host, c.version) for s, c in here]
        addresses = {c.address for _, c in here if c.address}
        stage = policy.stage_name(position)
        out.append(Meter(service, stage, position, version, gate, placed, addresses))
    return out


def _servers(rig: Rig) -> list[ServerStat]:
    """HAProxy's servers now; none while it does not answer (a reload of another change)."""
    if not rig.router.enabled:
        return []
    try:
        return rig.router.servers()
    except PipelineKitError:
        return []


def observe(rig: Rig, found: list[Meter]) -> tuple[tuple[Meter, str] | None, float]:
    """Read the meters at a bounded interval for the longest of their windows, or until one
    breaks its threshold; report every measure. The breach (with its meter), and seconds."""
    window = max(m.gate.verify.total_seconds() for m in found)
    interval = min(0.5, max(0.1, window / 40))
    began = rig.clock.monotonic()
    rig.note(f"verifying {', '.join(f'{m.service} {m.version} in {m.stage}' for m in found)} "
             f"for {window:g}s")  # fmt: skip
    placed = [p for m in found for p in m.placed]
    while True:
        servers, states = _servers(rig), rig.runtime.states(placed)
        for m in found:
            m.read(servers, states)
        breach = next(((m, why) for m in found if (why := m.breach()) is not None), None)
        left = began + window - rig.clock.monotonic()
        if breach is not None or left <= 0:
            break
        rig.clock.sleep(min(interval, left))
    seconds = rig.clock.monotonic() - began
    for m in found:
        for check in m.results(seconds):
            rig.checked(check)
    return breach, seconds


def watch(rig: Rig, flight: Flight) -> None:
    """Watch the new versions for their window; on a breach, roll back and fail."""
    found = meters(rig, flight)
    if not found:
        return
    breach, seconds = observe(rig, found)
    if breach is None:
        standby.release(rig, flight)
        return
    meter, why = breach
    roll_back(rig, flight, meter, f"{why} after {seconds:.1f}s")


def roll_back(rig: Rig, flight: Flight, meter: Meter, why: str) -> None:
    """Put the previous version back in the meter's stage (its standby containers when kept),
    reject the watched one with ``why``, and fail the command."""
    from pipeline_kit.model.actions import rollback
    from pipeline_kit.pipeline.rollout import sequences
    from pipeline_kit.pipeline.rollout.flight import run

    reason = f"verification in {meter.stage} failed: {why}"

    def build(state: State, ctx: Context) -> Plan:
        return rollback(state, ctx, meter.service, meter.stage, reason=reason)

    began = rig.clock.monotonic()
    back = Flight(flight.scope, build)
    try:
        run(sequences.BLUE_GREEN, rig, back)
    except PipelineKitError as exc:
        raise ExternalFailure(f"{reason}; the automatic rollback failed: {exc}") from None
    flight.kept = ()  # taken back into rotation, or left to their entry's time
    seconds = rig.clock.monotonic() - began
    previous = _version_in(back, meter)
    from pipeline_kit.pipeline import notify  # HTTP: loaded when a rollback happened

    for warning in notify.rolled_back(rig.settings, meter.service, meter.version, meter.stage,
                                      previous):  # fmt: skip
        rig.note(f"warning: {warning}")
    rig.checked(Checked(meter.stage, "watch", f"rollback {meter.service}", True,
                        f"back to {previous}, {meter.version} rejected", seconds))  # fmt: skip
    raise Refused(
        f"{reason}; rolled back by itself to {meter.service} {previous} in {seconds:.2f}s, "
        f"{meter.version} is rejected"
    )


def _version_in(flight: Flight, meter: Meter) -> str:
    svc = flight.final().after.services.get(meter.service)
    stacks = svc.stacks if svc is not None else ()
    found = {s.containers[meter.position].version for s in stacks if meter.position < s.height}
    return ", ".join(sorted(found)) or "?"
