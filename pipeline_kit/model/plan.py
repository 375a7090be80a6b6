"""Plans: what an action would do, computed before anything is written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline_kit.model.constraints import Entry, Violation
from pipeline_kit.model.items import Service, Stack, State


@dataclass(frozen=True, slots=True)
class Operation:
    """One runtime operation the plan needs: start or stop a container."""

    kind: Literal["start", "stop"]
    service: str
    stack: int
    position: int
    version: str
    container: str


@dataclass(frozen=True, slots=True)
class Change:
    """One position of one stack, before and after (None: no container there)."""

    service: str
    stack: int
    position: int
    old: str | None
    new: str | None


@dataclass(frozen=True)
class Plan:
    """An action's exact outcome: the new state, runtime operations and violations."""

    action: str
    args: dict[str, object]
    before: State
    after: State
    operations: tuple[Operation, ...] = ()
    violations: tuple[Violation, ...] = ()
    entries: tuple[Entry, ...] = ()  # every version the plan brings into a position's gates

    @property
    def ok(self) -> bool:
        return not self.violations

    def services_changed(self) -> list[str]:
        names = set(self.before.services) | set(self.after.services)
        return sorted(n for n in names if self.before.services.get(n) != self.after.services.get(n))

    def changes(self) -> list[Change]:
        """Every position of every changed stack, old → new (containers compared by id)."""
        out: list[Change] = []
        for name in self.services_changed():
            old_svc = self.before.services.get(name)
            new_svc = self.after.services.get(name)
            indexes = sorted(
                {s.index for s in _stacks(old_svc)} | {s.index for s in _stacks(new_svc)}
            )
            for index in indexes:
                old_stack = old_svc.stack(index) if old_svc else None
                new_stack = new_svc.stack(index) if new_svc else None
                old_versions = old_stack.versions if old_stack else ()
                new_versions = new_stack.versions if new_stack else ()
                for pos in range(max(len(old_versions), len(new_versions))):
                    out.append(
                        Change(
                            name,
                            index,
                            pos,
                            old_versions[pos] if pos < len(old_versions) else None,
                            new_versions[pos] if pos < len(new_versions) else None,
                        )
                    )
        return out


def _stacks(service: Service | None) -> tuple[Stack, ...]:
    return service.stacks if service else ()
