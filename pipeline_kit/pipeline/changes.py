"""Every write of the state model as one function: the scope it locks, the action it plans.

Each plans under the locks of its scope and applies through the rollout (``--dry-run``:
plan only); the model actions are imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from importlib import import_module
from typing import Any

from pipeline_kit.config_types import Settings
from pipeline_kit.model.actions import Context
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.manage import execute
from pipeline_kit.pipeline.rollout import Outcome
from pipeline_kit.store.database import Scope


def _apply(
    settings: Settings,
    action: str,  # MODULE.NAME of pipeline_kit.model: "actions.push", "routes.switch"
    args: tuple[Any, ...],
    dry_run: bool,
    services: tuple[str, ...] = (),
    endpoints: tuple[str, ...] = (),
    ports: tuple[int, ...] = (),
) -> Outcome:
    module, name = action.split(".")
    act: Callable[..., Plan] = getattr(import_module(f"pipeline_kit.model.{module}"), name)

    def build(state: State, ctx: Context) -> Plan:
        return act(state, ctx, *args)

    scope = Scope(frozenset(services), frozenset(endpoints), frozenset(ports))
    return execute(settings, scope, build, dry_run)


def add_service(
    settings: Settings,
    name: str,
    image: str,
    stacks: int,
    versions: list[str],
    hosts: list[str],
    dry_run: bool,
) -> Outcome:
    hosts = hosts or [h.name for h in settings.runtime.hosts]
    args = (name, image, stacks, versions, hosts)
    return _apply(settings, "actions.add_service", args, dry_run, (name,))


def add_stack(settings: Settings, service: str, host: str | None, dry_run: bool) -> Outcome:
    hosts = [h.name for h in settings.runtime.hosts]
    return _apply(settings, "actions.add_stack", (service, host, hosts), dry_run, (service,))


def remove_stack(settings: Settings, service: str, stack: int | None, dry_run: bool) -> Outcome:
    return _apply(settings, "actions.remove_stack", (service, stack), dry_run, (service,))


def add_endpoint(
    settings: Settings, name: str, service: str, port: int, stage: str, dry_run: bool
) -> Outcome:
    if settings.lb.enabled:
        from pipeline_kit.pipeline.routing import refuse_taken

        refuse_taken(settings, [port])
    args = (name, service, port, stage)
    return _apply(settings, "routes.add_endpoint", args, dry_run, (service,), (name,), (port,))


def connect(
    settings: Settings, parent: str, child: str, endpoint: str, stage: str | None, dry_run: bool
) -> Outcome:
    args = (parent, child, endpoint, stage)
    return _apply(settings, "routes.connect", args, dry_run, (parent, child), (endpoint,))


def push(settings: Settings, service: str, version: str, dry_run: bool) -> Outcome:
    return _apply(settings, "actions.push", (service, version), dry_run, (service,))


def pop(settings: Settings, service: str, stage: str, dry_run: bool) -> Outcome:
    return _apply(settings, "actions.pop", (service, stage), dry_run, (service,))


def replace_stage(
    settings: Settings, service: str, stage: str, with_: str, dry_run: bool
) -> Outcome:
    return _apply(settings, "actions.replace_stage", (service, stage, with_), dry_run, (service,))


def rollback(
    settings: Settings, service: str, stage: str | None, to: str | None, dry_run: bool
) -> Outcome:
    from pipeline_kit.pipeline import notify

    if not dry_run:
        notify.notifier(settings)  # a malformed webhook URL is refused before anything changes
    outcome = _apply(settings, "actions.rollback", (service, stage, to), dry_run, (service,))
    done = notify.rollback_of(outcome.plan, settings) if outcome.applied else None
    if done is None:
        return outcome
    warnings = notify.rolled_back(settings, *done)
    return replace(outcome, notes=(*outcome.notes, *(f"warning: {w}" for w in warnings)))


def switch(settings: Settings, endpoint: str, stage: str, dry_run: bool) -> Outcome:
    return _apply(settings, "routes.switch", (endpoint, stage), dry_run, (), (endpoint,))


def reject(settings: Settings, service: str, version: str, reason: str, dry_run: bool) -> Outcome:
    return _apply(settings, "actions.reject", (service, version, reason), dry_run, (service,))
