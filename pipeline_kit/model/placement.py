"""Which host a stack goes to. Pure: hosts are names.

Stacks of one service go to distinct hosts when there are enough; among the candidates the
host with the fewest containers wins, ties going to the first in the configured order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from pipeline_kit.model.items import State


def load(state: State) -> Counter[str]:
    """Host → the number of containers the state places on it."""
    out: Counter[str] = Counter()
    for service in state.services.values():
        for stack in service.stacks:
            out[stack.host] += len(stack.containers)
    return out


def by_load(state: State, hosts: Iterable[str]) -> list[str]:
    """``hosts`` from the least to the most loaded (stable: ties keep their order)."""
    counts = load(state)
    return sorted(dict.fromkeys(hosts), key=lambda h: counts[h])


def pick(state: State, hosts: Sequence[str], service: str | None) -> str | None:
    """The host for one more stack of ``service``: the least loaded of those that hold none
    of its stacks, else of all; None without hosts."""
    held = set()
    if service is not None and service in state.services:
        held = {s.host for s in state.services[service].stacks}
    free = [h for h in hosts if h not in held]
    ranked = by_load(state, free or hosts)
    return ranked[0] if ranked else None
