"""Constraints: the invariants of a state, and the gates a version passes to enter a stage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline_kit.model import versions
from pipeline_kit.model.items import Service, State
from pipeline_kit.model.policy import Policy

# Constraint names, in the order of DESIGN §1, then the configurable gates.
ENDPOINT = "endpoint"
SERVICE = "service"
STACK = "stack"
VERSION_ORDER = "version-order"
STACK_HEIGHT = "stack-height"
TREES = "trees"
CONTAINER = "container"
DISTINCT_HOSTS = "distinct-hosts"
PRERELEASE = "prerelease"
SOAK = "soak"
APPROVAL = "approval"
REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken constraint: which, on what, and what is wrong in words."""

    constraint: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"[{self.constraint}] {self.subject}: {self.message}"


@dataclass(frozen=True, slots=True)
class Entry:
    """A version entering a position; ``origin`` is the position it moved from, if it moved."""

    service: str
    stack: int
    position: int
    version: str
    origin: int | None
    since: datetime  # when it entered ``origin`` (for soak)
    signed_off: bool = False  # needs no approval: a new service, or a rollback to what was there


def check_state(
    state: State, policy: Policy, services: Iterable[str] | None = None
) -> list[Violation]:
    """Every violation of the invariants, for the given services (default: all of them)."""
    names = sorted(state.services if services is None else set(services) & set(state.services))
    out: list[Violation] = []
    for name in names:
        out.extend(_check_service(state.services[name], policy))
    scope = set(names) if services is not None else None
    out.extend(_check_endpoints(state, policy, scope))
    out.extend(_check_trees(state, policy, scope))
    return out


def _check_service(service: Service, policy: Policy) -> Iterator[Violation]:
    name = service.name
    if len(service.stacks) < policy.min_stacks:
        yield Violation(
            SERVICE, name, f"has {len(service.stacks)} stacks, min_stacks is {policy.min_stacks}"
        )
    if not service.stacks:
        return
    first = service.stacks[0]
    indexes = [s.index for s in service.stacks]
    if len(set(indexes)) != len(indexes):
        yield Violation(STACK, name, "two stacks share one index")
    identical = True
    for stack in service.stacks[1:]:
        if stack.versions != first.versions:
            identical = False
            yield Violation(
                STACK,
                f"{name}/{stack.index}",
                f"differs from stack {first.index}: "
                f"[{', '.join(stack.versions)}] vs [{', '.join(first.versions)}]",
            )
    # Identical stacks break the same rules in the same places: say it once for the service.
    for stack in (first,) if identical else service.stacks:
        where = name if identical else f"{name}/{stack.index}"
        height = stack.height
        if height < policy.min_height:
            yield Violation(
                STACK_HEIGHT, where, f"height {height} is below min_height {policy.min_height}"
            )
        elif height > policy.max_height:
            yield Violation(
                STACK_HEIGHT, where, f"height {height} is above max_height {policy.max_height}"
            )
        yield from _check_versions(where, stack.versions, policy)
    if policy.distinct_hosts:
        hosts = [s.host for s in service.stacks]
        for host in sorted({h for h in hosts if hosts.count(h) > 1}):
            yield Violation(DISTINCT_HOSTS, name, f"{hosts.count(host)} stacks share host {host!r}")


def _check_versions(where: str, stack: tuple[str, ...], policy: Policy) -> Iterator[Violation]:
    for pos, version in enumerate(stack):
        stage = policy.stage_name(pos)
        if not version:
            yield Violation(CONTAINER, f"{where}@{stage}", "container has no version")
        elif policy.versions is not versions.VersionPolicy.ANY and versions.parse(version) is None:
            yield Violation(VERSION_ORDER, f"{where}@{stage}", f"{version!r} is not a version")
    for pos in range(1, len(stack)):
        lower, upper = stack[pos - 1], stack[pos]
        if not lower or not upper or versions.parse(lower) is None or versions.parse(upper) is None:
            continue
        if not versions.in_order(lower, upper, policy.versions):
            strict = policy.versions is versions.VersionPolicy.INCREASING
            relation = "not higher than" if strict else "lower than"
            yield Violation(
                VERSION_ORDER,
                f"{where}@{policy.stage_name(pos)}",
                f"{upper} is {relation} {lower} in {policy.stage_name(pos - 1)} "
                f"(versions = {policy.versions.value!r})",
            )


def _check_endpoints(state: State, policy: Policy, scope: set[str] | None) -> Iterator[Violation]:
    by_port: dict[int, list[str]] = {}
    for endpoint in state.endpoints.values():
        by_port.setdefault(endpoint.port, []).append(endpoint.name)
        if scope is not None and endpoint.service not in scope:
            continue
        service = state.services.get(endpoint.service)
        if service is None:
            yield Violation(ENDPOINT, endpoint.name, f"unknown service {endpoint.service!r}")
        elif not 0 <= endpoint.position < len(policy.stages):
            yield Violation(
                ENDPOINT, endpoint.name, f"bound to position {endpoint.position}, not a stage"
            )
        elif endpoint.position >= service.height:
            yield Violation(
                ENDPOINT,
                endpoint.name,
                f"{service.name} has no container at {policy.stage_name(endpoint.position)}",
            )
    for port, names in sorted(by_port.items()):
        if len(names) > 1:
            yield Violation(ENDPOINT, ", ".join(sorted(names)), f"share port {port}")


def _check_trees(state: State, policy: Policy, scope: set[str] | None) -> Iterator[Violation]:
    main = sorted({e.service for e in state.endpoints.values()})
    for name in main:
        if scope is not None and name not in scope:
            continue
        missing = [
            policy.stage_name(p) for p in range(len(policy.stages)) if (name, p) not in state.trees
        ]
        if missing:
            yield Violation(
                TREES,
                name,
                f"main service has {len(policy.stages) - len(missing)} trees for "
                f"{len(policy.stages)} stages (missing: {', '.join(missing)})",
            )
    for tree in state.trees.values():
        members = {tree.service}
        for edge in tree.edges:
            known = edge.parent in members  # edges are kept in the order they were added
            members.add(edge.child)
            if scope is not None and not {tree.service, edge.child} & scope:
                continue
            where = f"{tree.service}@{policy.stage_name(tree.position)}"
            child = state.services.get(edge.child)
            if not known:
                yield Violation(
                    TREES, where, f"edge {edge.parent} → {edge.child}: parent not in tree"
                )
            if child is None:
                yield Violation(TREES, where, f"edge to unknown service {edge.child!r}")
            elif edge.position >= child.height:
                yield Violation(
                    TREES,
                    where,
                    f"edge {edge.parent} → {edge.child} points at position {edge.position}, "
                    f"{edge.child} has height {child.height}",
                )


def check_entries(
    state: State, policy: Policy, entries: Iterable[Entry], now: datetime
) -> list[Violation]:
    """The gates of every stage a version enters: rejected, pre-release, approval, soak."""
    out: list[Violation] = []
    seen: set[tuple[str, str, int, str]] = set()
    for entry in entries:
        if entry.position >= len(policy.stages):
            continue
        stage = policy.stage_name(entry.position)
        subject = f"{entry.service} {entry.version}→{stage}"
        gate = policy.gate(entry.position)
        found: list[Violation] = []
        rejection = state.is_rejected(entry.service, entry.version)
        if rejection is not None:
            found.append(Violation(REJECTED, subject, f"rejected: {rejection.reason}"))
        if not gate.prereleases and versions.is_prerelease(entry.version):
            found.append(Violation(PRERELEASE, subject, f"pre-releases may not enter {stage}"))
        approved = entry.signed_off or state.is_approved(
            entry.service, entry.version, entry.position
        )
        if gate.approval and not approved:
            found.append(
                Violation(
                    APPROVAL,
                    subject,
                    f"{stage} needs an approval: pipeline-kit approve {entry.service} "
                    f"{entry.version} --stage {stage} --by NAME",
                )
            )
        if entry.origin is not None and entry.origin > entry.position:
            soak = policy.gate(entry.origin).soak
            spent = now - entry.since
            if spent < soak:
                found.append(
                    Violation(
                        SOAK,
                        subject,
                        f"{_span(spent)} in {policy.stage_name(entry.origin)}, "
                        f"soak time is {_span(soak)}",
                    )
                )
        for violation in found:
            vkey = (entry.service, entry.version, entry.position, violation.constraint)
            if vkey not in seen:  # one line per version and stage, not one per stack
                seen.add(vkey)
                out.append(violation)
    return out


def _span(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
