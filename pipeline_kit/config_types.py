"""The resolved configuration: plain values, read by every part of pipeline-kit."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.policy import Policy


@dataclass(frozen=True)
class Host:
    """A Docker engine that runs stacks."""

    name: str
    url: str
    address: str = "127.0.0.1"
    tls: bool = False
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None


@dataclass(frozen=True)
class Registry:
    """The image registry; credentials come only from the environment."""

    url: str
    insecure: bool = False
    ca: str | None = None
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def auth(self) -> dict[str, str] | None:
        """docker-py's ``auth_config``, when both credentials are set."""
        if not self.username or not self.password:
            return None
        return {"username": self.username, "password": self.password}


@dataclass(frozen=True)
class Release:
    """How a tag becomes an image."""

    service: str | None = None
    image: str | None = None  # the image repository, until the service is in the state
    tag_pattern: str = "v{semver}"
    dockerfile: str = "Dockerfile"
    context: str = "."
    build_args: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Runtime:
    """Where and how containers run."""

    kind: str = "none"  # "none", "docker" or "swarm"
    hosts: tuple[Host, ...] = ()
    network: str = "host"
    ports: tuple[int, int] = (20000, 29999)
    container_port: int = 8080
    health_path: str = "/health"
    health_timeout: float = 60.0
    swarm: Host | None = None  # the Swarm manager, with runtime "swarm"

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts) or "none"
        raise InvalidInput(f"unknown host {name!r}: configured hosts are {known}")


@dataclass(frozen=True)
class Lb:
    """The HAProxy in front of the endpoints (``[lb]``)."""

    enabled: bool = False
    bind: str = "127.0.0.1"  # the address frontends listen on
    folder: Path = Path(".pipeline-kit/haproxy")  # config, sockets and pidfile
    binary: str = "haproxy"
    edge_ports: tuple[int, int] = (31000, 31999)  # frontends of service-tree edges
    drain: float = 30.0  # seconds old connections may take to finish after a switch


@dataclass(frozen=True)
class Notify:
    """Webhook notifications of promotions (``[notify]``); the URL is read from the
    environment variable ``webhook_env`` when a notification is sent, never stored."""

    webhook_env: str = "PIPELINE_KIT_WEBHOOK_URL"


@dataclass(frozen=True)
class Hook:
    """A one-off container of the new version, with the stage's configuration."""

    when: str  # "before_switch" (before the commit; a failure undoes) or "after_switch"
    command: tuple[str, ...]
    timeout: float = 120.0
    line: int | None = None  # where it is declared


@dataclass(frozen=True)
class SmokeCheck:
    """A request to every new container before the switch: it must answer as expected."""

    path: str = "/"
    status: int = 200
    contains: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class StageConfig:
    """What a service's containers get at one stage: the declaration with the stage's
    overrides applied (``{stage}`` and ``{stack}`` in volume names not yet expanded)."""

    env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()  # names only; the values come from the environment
    volumes: tuple[str, ...] = ()  # "NAME:/path" or "NAME:/path:ro"
    command: tuple[str, ...] = ()  # empty: the image's CMD
    memory: str | None = None  # "256m", "1g"
    cpus: float | None = None


@dataclass(frozen=True)
class ServiceDecl:
    """A service declared in the config (``[services.NAME]``)."""

    name: str
    image: str | None = None  # the repository; default: the service's name
    stacks: int = 1
    base: StageConfig = field(default_factory=StageConfig)
    stages: tuple[tuple[str, StageConfig], ...] = ()  # per stage: the overrides, merged
    hooks: tuple[Hook, ...] = ()
    checks: tuple[SmokeCheck, ...] = ()
    health_path: str | None = None  # default: [runtime] health_path
    line: int | None = None  # where ``[services.NAME]`` is declared

    def at(self, stage: str) -> StageConfig:
        """The effective configuration at ``stage``."""
        return dict(self.stages).get(stage, self.base)


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one run."""

    policy: Policy
    database: str
    runtime: Runtime
    lock_timeout: float
    source: Path | None  # the file the values came from, if any
    home: Path  # the folder that holds .pipeline-kit/
    registry: Registry | None = None
    release: Release = field(default_factory=Release)
    lb: Lb = field(default_factory=Lb)
    services: tuple[ServiceDecl, ...] = ()
    notify: Notify | None = None  # None: no [notify] table, nothing is sent

    def declared(self, name: str) -> ServiceDecl | None:
        """The service's declaration in the config, if it has one."""
        return next((s for s in self.services if s.name == name), None)
