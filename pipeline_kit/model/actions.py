"""Actions: pure functions ``action(state, context, ...) -> Plan``. Nothing is written here."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from pipeline_kit.model import approvals, versions
from pipeline_kit.model.configs import ConfigOf, reconfigure
from pipeline_kit.model.constraints import Entry, check_entries, check_state, traffic_entries
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import (
    Approval,
    Container,
    Endpoint,
    Rejection,
    Service,
    Stack,
    State,
    check_host,
    check_image,
    check_name,
)
from pipeline_kit.model.placement import by_load, pick
from pipeline_kit.model.plan import Operation, Plan
from pipeline_kit.model.policy import Policy


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


@dataclass(frozen=True)
class Context:
    """What every action needs besides the state: the rules, the time, who acts."""

    policy: Policy
    now: datetime
    actor: str = "unknown"
    new_id: Callable[[], str] = field(default=_new_id)
    config_of: ConfigOf | None = None  # a position's configuration digest (see model.configs)


# -- helpers -------------------------------------------------------------------------------


def _service(state: State, name: str) -> Service:
    service = state.services.get(name)
    if service is None:
        raise InvalidInput(f"unknown service {name!r}: see 'pipeline-kit show services'")
    return service


def _endpoint(state: State, name: str) -> Endpoint:
    endpoint = state.endpoints.get(name)
    if endpoint is None:
        raise InvalidInput(f"unknown endpoint {name!r}: see 'pipeline-kit show endpoints'")
    return endpoint


def _stage(ctx: Context, stage: str) -> int:
    """A named stage's position (endpoints, approvals and trees bind to named stages only)."""
    position = ctx.policy.position(stage)
    if position >= len(ctx.policy.stages):
        raise InvalidInput(f"unknown stage {stage!r}: stages are {', '.join(ctx.policy.stages)}")
    return position


def _position(ctx: Context, service: Service, stage: str) -> int:
    """A stack position given by stage name or number, which must exist on the stack."""
    position = ctx.policy.position(stage)
    if position >= service.height:
        raise InvalidInput(
            f"--stage {stage} is beyond the stack of {service.name} "
            f"(height {service.height}, positions 0-{service.height - 1})"
        )
    return position


def _version(ctx: Context, version: str) -> str:
    return versions.validate(version, ctx.policy.versions)


def _with_service(state: State, service: Service) -> State:
    return replace(state, services={**state.services, service.name: service})


def _entries(before: Service | None, after: Service, copies: dict[str, Entry]) -> list[Entry]:
    """Every version that enters a position, found by container id (``copies``: explicit)."""
    where: dict[str, tuple[int, Container]] = {}
    if before is not None:
        for stack in before.stacks:
            for pos, c in enumerate(stack.containers):
                where[c.id] = (pos, c)
    out: list[Entry] = []
    for stack in after.stacks:
        for pos, c in enumerate(stack.containers):
            if c.id in copies:
                out.append(copies[c.id])
            elif c.id not in where:
                out.append(Entry(after.name, stack.index, pos, c.version, None, c.entered))
            elif where[c.id][0] != pos:
                origin, old = where[c.id]
                out.append(Entry(after.name, stack.index, pos, c.version, origin, old.entered))
    return out


def _finish(
    action: str,
    args: Mapping[str, object],
    ctx: Context,
    before: State,
    after: State,
    operations: Iterable[Operation] = (),
    entries: Iterable[Entry] = (),
    scope: Iterable[str] = (),
) -> Plan:
    names = set(scope)
    if ctx.config_of is not None:
        after, moved = reconfigure(ctx.config_of, ctx.new_id, before, after, list(operations))
        operations = moved
    entries = [*entries, *traffic_entries(before, after, ctx.policy, ctx.now)]
    violations = check_state(after, ctx.policy, names) + check_entries(
        after, ctx.policy, entries, ctx.now
    )
    return Plan(
        action, dict(args), before, after, tuple(operations), tuple(violations), tuple(entries)
    )


def _start(service: str, stack: int, pos: int, c: Container) -> Operation:
    return Operation("start", service, stack, pos, c.version, c.id)


def _stop(service: str, stack: int, pos: int, c: Container) -> Operation:
    return Operation("stop", service, stack, pos, c.version, c.id)


# -- stacks: push, pop and what is built from them -------------------------------------------


def _push(ctx: Context, service: Service, version: str) -> tuple[Service, list[Operation]]:
    stacks, ops = [], []
    for stack in service.stacks:
        c = Container(ctx.new_id(), version, ctx.now)
        ops.append(_start(service.name, stack.index, stack.height, c))
        stacks.append(replace(stack, containers=(*stack.containers, c)))
    return replace(service, stacks=tuple(stacks)), ops


def _pop(ctx: Context, service: Service, position: int) -> tuple[Service, list[Operation]]:
    stacks, ops = [], []
    for stack in service.stacks:
        old = stack.containers
        ops.append(_stop(service.name, stack.index, position, old[position]))
        shifted = tuple(
            replace(c, entered=ctx.now, previous=old[pos - 1].version)
            for pos, c in enumerate(old[position + 1 :], start=position + 1)
        )
        stacks.append(replace(stack, containers=old[:position] + shifted))
    return replace(service, stacks=tuple(stacks)), ops


def push(state: State, ctx: Context, service: str, version: str) -> Plan:
    """Push ``version`` onto every stack of ``service``."""
    svc = _service(state, service)
    new, ops = _push(ctx, svc, _version(ctx, version))
    after = _with_service(state, new)
    args = {"service": service, "version": version}
    return _finish("push", args, ctx, state, after, ops, _entries(svc, new, {}), [service])


def pop(state: State, ctx: Context, service: str, stage: str) -> Plan:
    """Remove one position from every stack; everything above shifts down one."""
    svc = _service(state, service)
    new, ops = _pop(ctx, svc, _position(ctx, svc, stage))
    after = _with_service(state, new)
    args = {"service": service, "stage": stage}
    return _finish("pop", args, ctx, state, after, ops, _entries(svc, new, {}), [service])


def promote(state: State, ctx: Context, service: str, to: str, version: str | None = None) -> Plan:
    """Push ``version`` (default: the top one again) and pop the ``to`` position, as one plan."""
    svc = _service(state, service)
    position = _position(ctx, svc, to)
    if version is None:
        version = svc.stacks[0].containers[-1].version
    pushed, ops = _push(ctx, svc, _version(ctx, version))
    new, more = _pop(ctx, pushed, position)
    final = {c.id: pos for st in new.stacks for pos, c in enumerate(st.containers)}
    ops = [replace(op, position=final.get(op.container, op.position)) for op in ops]
    after = _with_service(state, new)
    args = {"service": service, "version": version, "to": ctx.policy.stage_name(position)}
    entries = _entries(svc, new, {})
    return _finish("promote", args, ctx, state, after, ops + more, entries, [service])


def replace_stage(state: State, ctx: Context, service: str, stage: str, with_: str) -> Plan:
    """Replace the container at ``stage`` by one running the version above or below it."""
    svc = _service(state, service)
    position = _position(ctx, svc, stage)
    if with_ not in ("above", "below"):
        raise InvalidInput(f"--with must be 'above' or 'below', not {with_!r}")
    source = position + 1 if with_ == "above" else position - 1
    if not 0 <= source < svc.height:
        raise InvalidInput(f"{ctx.policy.stage_name(position)} has nothing {with_} it")
    stacks, ops, copies = [], [], {}
    for stack in svc.stacks:
        old, src = stack.containers[position], stack.containers[source]
        c = Container(ctx.new_id(), src.version, ctx.now, previous=old.version)
        origin = source if with_ == "above" else None
        copies[c.id] = Entry(svc.name, stack.index, position, c.version, origin, src.entered)
        ops += [
            _start(svc.name, stack.index, position, c),
            _stop(svc.name, stack.index, position, old),
        ]
        cs = stack.containers
        stacks.append(replace(stack, containers=(*cs[:position], c, *cs[position + 1 :])))
    new = replace(svc, stacks=tuple(stacks))
    after = _with_service(state, new)
    args = {"service": service, "stage": stage, "with": with_}
    return _finish("replace", args, ctx, state, after, ops, _entries(svc, new, copies), [service])


def rollback(
    state: State,
    ctx: Context,
    service: str,
    stage: str | None = None,
    to: str | None = None,
    reason: str | None = None,
) -> Plan:
    """Put an older version back into ``stage`` (default: the lowest) and reject the bad one
    (``reason``: why, default "rolled back from STAGE")."""
    svc = _service(state, service)
    position = _position(ctx, svc, stage) if stage is not None else 0
    name = ctx.policy.stage_name(position)
    stacks, ops, rejections = [], [], list(state.rejections)
    copies: dict[str, Entry] = {}
    for stack in svc.stacks:
        old = stack.containers[position]
        target = _version(ctx, to) if to is not None else old.previous
        if target is None:
            raise InvalidInput(
                f"no earlier version of {service} in {name} is recorded: give --to VERSION"
            )
        if (
            ctx.policy.versions is not versions.VersionPolicy.ANY
            and versions.compare(target, old.version) >= 0
        ):
            raise InvalidInput(f"{target} is not older than {old.version} in {name}")
        c = Container(ctx.new_id(), target, ctx.now, previous=old.version)
        restored = target == old.previous  # it held this stage before: no new sign-off
        copies[c.id] = Entry(svc.name, stack.index, position, target, None, ctx.now, restored, True)
        ops += [
            _start(svc.name, stack.index, position, c),
            _stop(svc.name, stack.index, position, old),
        ]
        cs = stack.containers
        stacks.append(replace(stack, containers=(*cs[:position], c, *cs[position + 1 :])))
        if replace(state, rejections=tuple(rejections)).is_rejected(service, old.version) is None:
            why = reason or f"rolled back from {name}"
            rejections.append(Rejection(service, old.version, why, ctx.actor, ctx.now))
    new = replace(svc, stacks=tuple(stacks))
    after = replace(_with_service(state, new), rejections=tuple(rejections))
    args = {"service": service, "stage": name, "to": to}
    entries = _entries(svc, new, copies)
    return _finish("rollback", args, ctx, state, after, ops, entries, [service])


# -- services and stacks -------------------------------------------------------------------


def add_service(
    state: State,
    ctx: Context,
    name: str,
    image: str,
    stacks: int = 1,
    version_list: Iterable[str] = (),
    hosts: Iterable[str] = (),
) -> Plan:
    """A new service with ``stacks`` identical stacks; versions are padded to ``min_height``."""
    check_name("service", name)
    check_image(image)
    if name in state.services:
        raise InvalidInput(f"service {name!r} exists already")
    if not 1 <= stacks <= 64:
        raise InvalidInput(f"--stacks must be between 1 and 64, not {stacks}")
    listed = [_version(ctx, v) for v in version_list]
    if not listed:
        raise InvalidInput("give at least one --version: every container has a version")
    listed += [listed[-1]] * (ctx.policy.min_height - len(listed))
    host_list = by_load(state, [check_host(h) for h in hosts]) or ["local"]
    new_stacks, ops = [], []
    for index in range(stacks):
        containers = tuple(Container(ctx.new_id(), v, ctx.now) for v in listed)
        stack = Stack(index, host_list[index % len(host_list)], containers)
        ops += [_start(name, index, pos, c) for pos, c in enumerate(containers)]
        new_stacks.append(stack)
    svc = Service(name, image, tuple(new_stacks))
    after = _with_service(state, svc)
    args = {"name": name, "image": image, "stacks": stacks, "versions": listed}
    # A new service declares what runs where: no sign-off, but no pre-release or rejected one.
    entries = [replace(e, signed_off=True) for e in _entries(None, svc, {})]
    return _finish("service add", args, ctx, state, after, ops, entries, [name])


def add_stack(
    state: State, ctx: Context, service: str, host: str | None = None, hosts: Iterable[str] = ()
) -> Plan:
    """One more stack, identical to the others (scale out), on ``host``; else on the least
    loaded of ``hosts`` that holds none of the service's stacks (``placement.pick``)."""
    svc = _service(state, service)
    template = svc.stacks[0]
    index = max(s.index for s in svc.stacks) + 1
    containers = tuple(replace(c, id=ctx.new_id(), address=None) for c in template.containers)
    where = check_host(host) if host else pick(state, list(hosts), service)
    stack = Stack(index, where or template.host, containers)
    ops = [_start(service, index, pos, c) for pos, c in enumerate(containers)]
    new = replace(svc, stacks=(*svc.stacks, stack))
    after = _with_service(state, new)
    args = {"service": service, "host": stack.host}
    return _finish("stack add", args, ctx, state, after, ops, (), [service])


def remove_stack(state: State, ctx: Context, service: str, index: int | None = None) -> Plan:
    """Remove one stack (default: the last one)."""
    svc = _service(state, service)
    index = max(s.index for s in svc.stacks) if index is None else index
    stack = svc.stack(index)
    if stack is None:
        raise InvalidInput(f"{service} has no stack {index}")
    ops = [_stop(service, index, pos, c) for pos, c in enumerate(stack.containers)]
    new = replace(svc, stacks=tuple(s for s in svc.stacks if s.index != index))
    after = _with_service(state, new)
    args = {"service": service, "stack": index}
    return _finish("stack remove", args, ctx, state, after, ops, (), [service])


# -- sign-offs -----------------------------------------------------------------------------


def approve(state: State, ctx: Context, service: str, version: str, stage: str, by: str) -> Plan:
    """Record that ``version`` may enter ``stage``."""
    _service(state, service)
    position = _stage(ctx, stage)
    _version(ctx, version)
    if not by.strip() or len(by) > 200:
        raise InvalidInput("--by must name who approves (1-200 characters)")
    after = approvals.approved(state, ctx.policy, Approval(service, version, position, by, ctx.now))
    args = {"service": service, "version": version, "stage": stage, "by": by}
    return _finish("approve", args, ctx, state, after, scope=[service])


def reject(state: State, ctx: Context, service: str, version: str, reason: str) -> Plan:
    """Mark ``version`` as rejected: it may never enter a stage again."""
    _service(state, service)
    _version(ctx, version)
    if not reason.strip() or len(reason) > 500:
        raise InvalidInput("--reason must say why (1-500 characters)")
    rejections = state.rejections
    if state.is_rejected(service, version) is None:
        rejections += (Rejection(service, version, reason, ctx.actor, ctx.now),)
    after = replace(state, rejections=rejections)
    args = {"service": service, "version": version, "reason": reason}
    return _finish("reject", args, ctx, state, after, scope=[service])
