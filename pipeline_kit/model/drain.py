"""Drain a host: move every stack of a service off it, through a normal rollout."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pipeline_kit.model.actions import Context, _finish, _service, _start, _stop, _with_service
from pipeline_kit.model.errors import InvalidInput, Refused
from pipeline_kit.model.items import State
from pipeline_kit.model.placement import pick
from pipeline_kit.model.plan import Plan


def stacks_on(state: State, host: str) -> list[str]:
    """The services with at least one stack on ``host``, sorted."""
    return sorted(
        name for name, svc in state.services.items() if any(s.host == host for s in svc.stacks)
    )


def move_off(
    state: State, ctx: Context, service: str, host: str, hosts: Sequence[str] = ()
) -> Plan:
    """Every stack of ``service`` on ``host`` moves to another of ``hosts`` (``pick``): new
    containers of the same versions there, the old ones stopped once they take over."""
    svc = _service(state, service)
    if host not in hosts:
        raise InvalidInput(f"unknown host {host!r}: the configured hosts are {', '.join(hosts)}")
    others = [h for h in hosts if h != host]
    if not others:
        raise Refused(f"cannot drain host {host}: no other host is configured")
    current, ops, moved = state, [], []
    for stack in svc.stacks:
        if stack.host != host:
            continue
        target = pick(current, others, service) or others[0]
        fresh = tuple(replace(c, id=ctx.new_id(), address=None) for c in stack.containers)
        for pos, (old, new) in enumerate(zip(stack.containers, fresh, strict=True)):
            ops += [_stop(service, stack.index, pos, old), _start(service, stack.index, pos, new)]
        placed = replace(stack, host=target, containers=fresh)
        stacks = tuple(placed if s.index == stack.index else s for s in svc.stacks)
        svc = replace(svc, stacks=stacks)
        current = _with_service(current, svc)
        moved.append(f"{stack.index}→{target}")
    args = {"service": service, "host": host, "moved": moved}
    return _finish("host drain", args, ctx, state, current, ops, (), [service])
