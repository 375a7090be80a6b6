"""No runtime and no router: ``runtime = "none"`` records operations without running them,
and without ``[lb]`` pipeline-kit serves no endpoint itself."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pipeline_kit.config_types import Hook, SmokeCheck
from pipeline_kit.lb.render import Canary
from pipeline_kit.lb.stats import ServerStat
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.rollout.ports import Booked, HookRun, Launch, Observe, Routes
from pipeline_kit.store.journal import Placed


class NoRuntime:
    """``runtime = "none"``: operations are recorded in the state, not run."""

    def place(
        self, plan: Plan, routes: Routes | None, booked: Booked | None = None
    ) -> tuple[list[Launch], list[Placed]]:
        return [], []

    def start(self, launches: list[Launch]) -> list[Any]:
        return []

    def wait_healthy(
        self, launches: list[Launch], handles: list[Any], observe: Observe | None
    ) -> None:
        return None

    def remove(self, placed: Iterable[Placed]) -> int:
        return 0

    def probe(self, launch: Launch, check: SmokeCheck) -> str | None:
        return None

    def states(self, placed: list[Placed]) -> dict[str, str]:
        return {p.id: "running" for p in placed}

    def run_hook(self, plan: Plan, service: str, position: int, hook: Hook) -> HookRun:
        return HookRun(0, "not run: runtime none records operations only")


class NoRouter:
    """No load balancer: endpoints are not served by pipeline-kit."""

    enabled = False
    drain_seconds = 0.0

    def routes(self, edges: list[tuple[str, int]], taken: list[int]) -> Routes | None:
        return None

    def render(self, whole: State, canaries: list[Canary]) -> str:
        return ""

    def prepare(self, whole: State, canaries: list[Canary]) -> str:
        return ""

    def switch(self, config: str) -> bool:
        return False

    def drain(self) -> bool:
        return True

    def servers(self) -> list[ServerStat]:
        return []
