"""Configuration follows the stage: a container that moves to a position whose configuration
differs is replaced by a new one of the same version (its old one stops).

Which configuration a position has is not the model's knowledge: the context may carry
``config_of(service, position, state) -> digest``; without it, containers move as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pipeline_kit.model.items import Container, Service, State
from pipeline_kit.model.plan import Operation

ConfigOf = Callable[[str, int, State], str]


def reconfigure(
    config_of: ConfigOf,
    new_id: Callable[[], str],
    before: State,
    after: State,
    operations: list[Operation],
) -> tuple[State, list[Operation]]:
    """``after`` with every moved container whose configuration changes replaced, and the
    operations that does (stop the old one, start the new one at its place)."""
    was = {
        c.id: (name, pos)
        for name, svc in before.services.items()
        for stack in svc.stacks
        for pos, c in enumerate(stack.containers)
    }
    memo: dict[tuple[bool, str, int], str] = {}

    def digest(name: str, position: int, state: State) -> str:
        key = (state is after, name, position)
        if key not in memo:
            memo[key] = config_of(name, position, state)
        return memo[key]

    services = dict(after.services)
    ops = list(operations)
    for name, svc in after.services.items():
        if before.services.get(name) == svc:
            continue
        services[name] = _service(digest, new_id, before, after, svc, was, ops)
    return replace(after, services=services), ops


def _service(
    config_of: ConfigOf,
    new_id: Callable[[], str],
    before: State,
    after: State,
    svc: Service,
    was: dict[str, tuple[str, int]],
    ops: list[Operation],
) -> Service:
    stacks = []
    for stack in svc.stacks:
        containers: list[Container] = []
        for pos, c in enumerate(stack.containers):
            origin = was.get(c.id)
            if origin is not None and _reconfigured(
                config_of, before, after, svc.name, origin, pos
            ):
                fresh = replace(c, id=new_id(), address=None)
                ops.append(Operation("stop", svc.name, stack.index, origin[1], c.version, c.id))
                ops.append(Operation("start", svc.name, stack.index, pos, c.version, fresh.id))
                c = fresh
            containers.append(c)
        stacks.append(replace(stack, containers=tuple(containers)))
    return replace(svc, stacks=tuple(stacks))


def _reconfigured(
    config_of: ConfigOf, before: State, after: State, name: str, origin: tuple[str, int], pos: int
) -> bool:
    """Whether the container at ``origin`` moves to ``pos`` of ``name`` with another config."""
    if origin[0] != name or origin[1] == pos:
        return False
    return config_of(name, origin[1], before) != config_of(name, pos, after)
