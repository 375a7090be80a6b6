"""Constraints: the invariants of a state, and the gates a version passes to enter a stage."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta

from pipeline_kit.model import versions
from pipeline_kit.model.approvals import tally
from pipeline_kit.model.freeze import frozen
from pipeline_kit.model.items import Endpoint, Service, State
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
FREEZE = "freeze"


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken constraint: which, on what, and what is wrong in words.

    Where it is, as values: ``position`` is the stack position it is about and ``stage``
    that position's stage (None when it is about no single position, or one above the
    named stages); ``key`` is the config key whose value it breaks, e.g. ``("min_stacks",)``
    or ``("gates", "prod", "approval")``, None when no key sets the rule.
    """

    constraint: str
    subject: str
    message: str
    _: KW_ONLY
    stage: str | None = None
    position: int | None = None
    key: tuple[str, ...] | None = None

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
    rollback: bool = False  # a rollback: never frozen


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
            SERVICE,
            name,
            f"has {len(service.stacks)} stacks, min_stacks is {policy.min_stacks}",
            key=("min_stacks",),
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
                STACK_HEIGHT,
                where,
                f"height {height} is below min_height {policy.min_height}",
                key=("min_height",),
            )
        elif height > policy.max_height:
            yield Violation(
                STACK_HEIGHT,
                where,
                f"height {height} is above max_height {policy.max_height}",
                key=("max_height",),
            )
        yield from _check_versions(where, stack.versions, policy)
    if policy.distinct_hosts:
        hosts = [s.host for s in service.stacks]
        for host in sorted({h for h in hosts if hosts.count(h) > 1}):
            yield Violation(
                DISTINCT_HOSTS,
                name,
                f"{hosts.count(host)} stacks share host {host!r}",
                key=("distinct_hosts",),
            )


def _check_versions(where: str, stack: tuple[str, ...], policy: Policy) -> Iterator[Violation]:
    order = ("versions",)
    for pos, version in enumerate(stack):
        subject, stage = f"{where}@{policy.stage_name(pos)}", _stage(policy, pos)
        if not version:
            message = "container has no version"
            yield Violation(CONTAINER, subject, message, stage=stage, position=pos)
        elif policy.versions is not versions.VersionPolicy.ANY and versions.parse(version) is None:
            message = f"{version!r} is not a version"
            yield Violation(VERSION_ORDER, subject, message, stage=stage, position=pos, key=order)
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
                stage=_stage(policy, pos),
                position=pos,
                key=order,
            )


def _stage(policy: Policy, position: int) -> str | None:
    """The stage at ``position``; None above the named stages (``#3`` in words)."""
    return policy.stages[position] if 0 <= position < len(policy.stages) else None


def _check_endpoints(state: State, policy: Policy, scope: set[str] | None) -> Iterator[Violation]:
    by_port: dict[int, list[str]] = {}
    for endpoint in state.endpoints.values():
        by_port.setdefault(endpoint.port, []).append(endpoint.name)
        if scope is not None and endpoint.service not in scope:
            continue
        service = state.services.get(endpoint.service)
        pos = endpoint.position
        if service is None:
            message = f"unknown service {endpoint.service!r}"
        elif not 0 <= pos < len(policy.stages):
            message = f"bound to position {pos}, not a stage"
        elif pos >= service.height:
            message = f"{service.name} has no container at {policy.stage_name(pos)}"
        else:
            continue
        yield Violation(ENDPOINT, endpoint.name, message, stage=_stage(policy, pos), position=pos)
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
            messages = [] if known else [f"edge {edge.parent} → {edge.child}: parent not in tree"]
            if child is None:
                messages.append(f"edge to unknown service {edge.child!r}")
            elif edge.position >= child.height:
                messages.append(
                    f"edge {edge.parent} → {edge.child} points at position {edge.position}, "
                    f"{edge.child} has height {child.height}"
                )
            stage = _stage(policy, tree.position)
            for message in messages:
                yield Violation(TREES, where, message, stage=stage, position=tree.position)


def check_entries(
    state: State, policy: Policy, entries: Iterable[Entry], now: datetime
) -> list[Violation]:
    """The gates of every stage a version enters: rejected, pre-release, approval, soak."""
    out: list[Violation] = []
    seen: set[tuple[str, str, int, str, str]] = set()
    for entry in entries:
        if entry.position >= len(policy.stages):
            continue
        for violation in _gates(state, policy, entry, now):
            vkey = (entry.service, entry.version, entry.position, *violation_key(violation))
            if vkey not in seen:  # one line per version and stage, not one per stack
                seen.add(vkey)
                out.append(violation)
    return out


def traffic_entries(before: State, after: State, policy: Policy, now: datetime) -> list[Entry]:
    """The versions that come to answer an endpoint's traffic from another stage.

    An endpoint serves its home stage's users (the stage it was added for) through the tree
    it points at: the main service at the tree's position and every child at its edge's
    position. A version that answers them after a change, did not before, and runs at another
    position than the home stage (after a ``switch``, ``connect --stage``, a ``promote`` into
    the stage a switched endpoint points at, or a ``replace``/``rollback`` below such an edge)
    enters the home stage as far as its users are concerned: it passes that stage's gates.
    Versions entering the home position are the ordinary entries and are checked as such.
    """
    out: list[Entry] = []
    for endpoint in after.endpoints.values():
        old = before.endpoints.get(endpoint.name)
        stage = endpoint.serves if old is None else old.serves  # whose users it serves
        served = {(s, v) for s, _, v in _serving(before, old)}
        for service, position, version in sorted(_serving(after, endpoint)):
            if position != stage and (service, version) not in served:
                out.append(Entry(service, 0, stage, version, None, now))
    return out


def _serving(state: State, endpoint: Endpoint | None) -> set[tuple[str, int, str]]:
    """(service, position, version) of every container that answers ``endpoint``'s traffic."""
    if endpoint is None:
        return set()
    tree = state.trees.get((endpoint.service, endpoint.position))
    edges = tree.edges if tree is not None else ()
    out: set[tuple[str, int, str]] = set()
    for name, position in [(endpoint.service, endpoint.position)] + [
        (e.child, e.position) for e in edges
    ]:
        service = state.services.get(name)
        for stack in service.stacks if service is not None else ():
            if position < stack.height:
                out.add((name, position, stack.containers[position].version))
    return out


def violation_key(violation: Violation) -> tuple[str, str]:
    """Freezes are told apart by their message; other gates by their name alone."""
    return violation.constraint, violation.message if violation.constraint == FREEZE else ""


def _gates(state: State, policy: Policy, entry: Entry, now: datetime) -> Iterator[Violation]:
    """The gates one entry into a named stage breaks, in the documented order."""
    stage = policy.stage_name(entry.position)
    subject = f"{entry.service} {entry.version}→{stage}"
    gate = policy.gate(entry.position)

    def violation(name: str, message: str, key: tuple[str, ...] | None) -> Violation:
        return Violation(name, subject, message, stage=stage, position=entry.position, key=key)

    rejection = state.is_rejected(entry.service, entry.version)
    if rejection is not None:
        message = f"rejected: {rejection.reason}"
        if entry.origin is not None and entry.origin > entry.position:
            # It keeps running where it is until a newer version moves up behind it.
            left = policy.stage_name(entry.origin)
            message += (
                f"; it stays in {left} until a newer version replaces it: release a newer "
                f"version and promote it through {left} first"
            )
        yield violation(REJECTED, message, None)
    if not gate.prereleases and versions.is_prerelease(entry.version):
        message = f"pre-releases may not enter {stage}"
        yield violation(PRERELEASE, message, ("gates", stage, "prereleases"))
    if gate.approval and not entry.signed_off:
        count = tally(state, policy, entry.service, entry.version, entry.position)
        if not count.ok:
            needs = "an approval" if count.need == 1 else f"{count.need} approvals"
            message = (
                f"{stage} needs {needs}, {count.describe(short=True)}: pipeline-kit approve "
                f"{entry.service} {entry.version} --stage {stage}"
            )
            yield violation(APPROVAL, message, ("gates", stage, "approval"))
    if not entry.rollback:
        yield from _freezes(state, policy, entry, now)
    if entry.origin is not None and entry.origin > entry.position:
        # The soak time is the gate of the stage the version leaves.
        left = policy.stage_name(entry.origin)
        soak = policy.gate(entry.origin).soak
        spent = now - entry.since
        if spent < soak:
            message = f"{_span(spent)} in {left}, soak time is {_span(soak)}"
            yield violation(SOAK, message, ("gates", left, "soak"))


def _freezes(state: State, policy: Policy, entry: Entry, now: datetime) -> Iterator[Violation]:
    """A freeze on the stage refuses the entry; ``--override-freeze`` lets it pass only with
    the stage's approval policy satisfied (at least one approval)."""
    found = frozen(state, policy, entry.service, entry.position, now)
    if not found:
        return
    suffix = ""
    if policy.override is not None:
        count = tally(state, policy, entry.service, entry.version, entry.position)
        if count.ok:
            return
        suffix = f" (--override-freeze: {entry.service} {entry.version} {count.describe()})"
    for item in found:
        key = ("freeze", str(item.index)) if item.index is not None else None
        yield Violation(
            FREEZE,
            item.stage,
            item.message + suffix,
            stage=item.stage,
            position=entry.position,
            key=key,
        )


def _span(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
