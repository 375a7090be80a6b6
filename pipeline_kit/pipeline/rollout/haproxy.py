"""HAProxy as a rollout's router (``ports.Router``), and no router at all."""

from __future__ import annotations

from pipeline_kit.config_types import Settings
from pipeline_kit.lb.haproxy import HAProxy
from pipeline_kit.lb.render import Canary, edge_ports
from pipeline_kit.lb.stats import ServerStat
from pipeline_kit.model.items import State
from pipeline_kit.pipeline import routing
from pipeline_kit.pipeline.rollout.ports import Routes


class HAProxyRouter:
    """The HAProxy of this environment, found or started once per command."""

    enabled = True

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.drain_seconds = settings.lb.drain
        self._proxy: HAProxy | None = None

    @property
    def proxy(self) -> HAProxy:
        if self._proxy is None:
            self._proxy = routing.haproxy(self.settings)
        return self._proxy

    def routes(self, edges: list[tuple[str, int]], taken: list[int]) -> Routes | None:
        lb = self.settings.lb
        return lb.bind, edge_ports(edges, lb.edge_ports, taken)

    def render(self, whole: State, canaries: list[Canary]) -> str:
        return routing.config_of(self.settings, whole, canaries)

    def prepare(self, whole: State, canaries: list[Canary]) -> str:
        text = self.render(whole, canaries)
        self.proxy.validate(text)
        return text

    def switch(self, config: str) -> bool:
        return self.proxy.apply(config, validated=True)

    def drain(self) -> bool:
        return self.proxy.drain(self.drain_seconds)

    def servers(self) -> list[ServerStat]:
        return self.proxy.stats()
