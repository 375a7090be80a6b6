"""The configured Docker hosts: which answer and what runs there (``host list``), and moving
every stack off one of them (``host drain``), one service at a time, each through a normal
blue-green rollout."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline_kit.config_types import Settings
from pipeline_kit.errors import ExternalFailure
from pipeline_kit.model.actions import Context
from pipeline_kit.model.errors import InvalidInput, PipelineKitError
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.manage import execute, load_state
from pipeline_kit.pipeline.rollout import Outcome
from pipeline_kit.store.database import Scope


@dataclass(frozen=True)
class HostView:
    """One host as ``host list`` shows it."""

    name: str
    url: str
    address: str
    stacks: int  # stacks the state places on it
    containers: int  # containers the state places on it
    running: int | None  # labelled containers its engine runs; None when it does not answer
    error: str | None = None  # why it does not answer


@dataclass
class Drained:
    """What ``host drain`` did: one outcome per service moved."""

    host: str
    outcomes: list[Outcome] = field(default_factory=list)


def _require_docker(settings: Settings) -> None:
    if settings.runtime.kind != "docker":
        raise InvalidInput(
            'runtime is none: set runtime = "docker" and [[hosts]] in pipeline-kit.toml'
        )


def listing(settings: Settings) -> list[HostView]:
    """Every configured host with its stacks and containers, asked in parallel."""
    from pipeline_kit.pipeline.rollout.docker import run_parallel
    from pipeline_kit.pipeline.unit import Unit
    from pipeline_kit.runtime import containers as rt

    _require_docker(settings)
    state = load_state(settings)
    hosts = settings.runtime.hosts
    with Unit(settings) as unit:

        def ask(name: str) -> Callable[[], list[rt.Found]]:
            return lambda: rt.found(unit.engines.client(name), name)

        answers = run_parallel([ask(h.name) for h in hosts])
    out = []
    for host, answer in zip(hosts, answers, strict=True):
        stacks = [s for svc in state.services.values() for s in svc.stacks if s.host == host.name]
        if isinstance(answer, BaseException) and not isinstance(answer, PipelineKitError):
            raise answer
        failed = isinstance(answer, PipelineKitError)
        out.append(
            HostView(
                name=host.name,
                url=host.url,
                address=host.address,
                stacks=len(stacks),
                containers=sum(len(s.containers) for s in stacks),
                running=None if failed else len(answer),
                error=str(answer) if failed else None,
            )
        )
    return out


def drain(settings: Settings, host: str, dry_run: bool = False) -> Drained:
    """Move every stack off ``host``: one rollout per service, in name order. A failure stops
    there (exit 3); what was moved stays moved and running it again moves the rest."""
    from pipeline_kit.model.drain import move_off, stacks_on

    _require_docker(settings)
    names = [h.name for h in settings.runtime.hosts]
    if host not in names:
        raise InvalidInput(f"unknown host {host!r}: the configured hosts are {', '.join(names)}")
    done = Drained(host)
    for service in stacks_on(load_state(settings), host):

        def build(state: State, ctx: Context, service: str = service) -> Plan:
            return move_off(state, ctx, service, host, names)

        done.outcomes.append(execute(settings, Scope(frozenset({service})), build, dry_run))
    return done


def unreachable(views: list[HostView]) -> ExternalFailure | None:
    """The error ``host list`` ends with (exit 3) when a host does not answer."""
    down = [v.name for v in views if v.running is None]
    if not down:
        return None
    return ExternalFailure(f"{len(down)} host(s) do not answer: {', '.join(down)}")
