"""A container's effective configuration: its service's declaration at its stage, and the
children its stage routes it to. Two containers with the same digest run alike; a version
that moves into a stage whose configuration differs gets new containers.

The digest covers secret *names* only: a value never reaches the state, a label or a log.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from pipeline_kit.config_types import ServiceDecl, Settings, StageConfig
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.runtime.containers import Spec


@dataclass(frozen=True)
class Effective:
    """What one container runs with (without secret values)."""

    env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()  # {stage} expanded; {stack} is per container (on_stack)
    command: tuple[str, ...] = ()
    memory: str | None = None
    cpus: float | None = None
    upstreams: tuple[tuple[str, int], ...] = ()  # (child, its position) per tree edge

    def on_stack(self, stack: int) -> tuple[str, ...]:
        """The volumes of one stack's container: ``{stack}`` expanded."""
        return tuple(v.replace("{stack}", str(stack)) for v in self.volumes)

    def digest(self) -> str:
        """12 hex digits of a canonical rendering of every field."""
        text = json.dumps(
            {
                "env": self.env,
                "secrets": self.secrets,
                "volumes": self.volumes,
                "command": self.command,
                "memory": self.memory,
                "cpus": self.cpus,
                "upstreams": self.upstreams,
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def shown(self) -> list[str]:
        """``KEY=value`` lines for a plan, secrets as ``NAME=(secret)``."""
        lines = [f"{k}={v}" for k, v in self.env]
        lines += [f"{name}=(secret)" for name in self.secrets]
        lines += [f"volume {v}" for v in self.volumes]
        if self.command:
            lines.append("command " + " ".join(self.command))
        lines += [f"memory {self.memory}"] if self.memory else []
        lines += [f"cpus {self.cpus:g}"] if self.cpus else []
        return lines


def upstreams_of(state: State, service: str, position: int) -> tuple[tuple[str, int], ...]:
    """The (child, position) of every edge from ``service`` in the service trees at
    ``position``: where its containers at that stage send their calls."""
    found = {
        (edge.child, edge.position)
        for tree in state.trees.values()
        if tree.position == position
        for edge in tree.edges
        if edge.parent == service
    }
    return tuple(sorted(found))


def _stage_config(decl: ServiceDecl | None, stage: str) -> StageConfig:
    return decl.at(stage) if decl is not None else StageConfig()


def effective(settings: Settings, state: State, service: str, position: int) -> Effective:
    """The configuration of ``service``'s containers at ``position`` (the same on every
    stack, but for the ``{stack}`` of volume names: see ``Effective.on_stack``)."""
    stage = settings.policy.stage_name(position)
    config = _stage_config(settings.declared(service), stage)
    volumes = tuple(v.replace("{stage}", stage) for v in config.volumes)
    return Effective(
        env=config.env,
        secrets=config.secrets,
        volumes=volumes,
        command=config.command,
        memory=config.memory,
        cpus=config.cpus,
        upstreams=upstreams_of(state, service, position),
    )


def digests(settings: Settings) -> Callable[[str, int, State], str]:
    """For the model's plans: the digest of a service's configuration at a position."""

    def digest(service: str, position: int, state: State) -> str:
        return effective(settings, state, service, position).digest()

    return digest


def configured(
    settings: Settings, state: State, spec: Spec, environ: Mapping[str, str] | None = None
) -> Spec:
    """``spec`` with its effective configuration: the stage's variables, the secrets' values
    from the runner's environment (an unset one is bad input, before anything starts), the
    volumes, command and limits, and the digest label."""
    env = os.environ if environ is None else environ
    found = effective(settings, state, spec.service, spec.position)
    decl = settings.declared(spec.service)
    values: dict[str, str] = {}
    if decl is not None and found.secrets:
        from pipeline_kit.pipeline.secrets import resolve

        values = resolve(settings, decl, settings.policy.stage_name(spec.position), env)
    return replace(
        spec,
        env=dict(found.env),
        secrets=values,
        volumes=found.on_stack(spec.stack),
        command=found.command,
        memory=found.memory,
        cpus=found.cpus,
        config=found.digest(),
        health_path=decl.health_path if decl is not None else None,
    )


def describe(settings: Settings, plan: Plan) -> tuple[str, ...]:
    """For a plan: the configuration of every stage where it starts containers, one line
    each (secrets as ``NAME=(secret)``); nothing for a stage with nothing to configure."""
    places = sorted({(op.service, op.position) for op in plan.operations if op.kind == "start"})
    out = []
    for service, position in places:
        shown = effective(settings, plan.after, service, position).shown()
        if shown:
            stage = settings.policy.stage_name(position)
            out.append(f"{service} in {stage}: {', '.join(shown)}")
    return tuple(out)
