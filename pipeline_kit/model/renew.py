"""Renew containers in place: new ones of the same versions, where the configuration of the
running ones is no longer their stage's. Nothing moves, no gate is entered."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from pipeline_kit.model.actions import Context, _finish, _service, _start, _stop, _with_service
from pipeline_kit.model.items import Container, State
from pipeline_kit.model.plan import Plan


def renew(state: State, ctx: Context, service: str, containers: Iterable[str]) -> Plan:
    """A new container of the same version in place of each of ``containers`` (ids)."""
    svc = _service(state, service)
    wanted = set(containers)
    stacks, ops = [], []
    # One stop and one start per renewed container, at its place.
    for stack in svc.stacks:
        kept: list[Container] = []
        for pos, c in enumerate(stack.containers):
            if c.id in wanted:
                fresh = replace(c, id=ctx.new_id(), address=None)
                ops += [_stop(service, stack.index, pos, c)]
                ops += [_start(service, stack.index, pos, fresh)]
                c = fresh
            kept.append(c)
        stacks.append(replace(stack, containers=tuple(kept)))
    after = _with_service(state, replace(svc, stacks=tuple(stacks)))
    args = {"service": service, "containers": sorted(wanted)}
    return _finish("renew", args, ctx, state, after, ops, (), [service])
