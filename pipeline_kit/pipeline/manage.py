"""State management: every write goes load → plan → check → apply, under the service's lock."""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline_kit.config import Settings, render_default
from pipeline_kit.model.actions import Context
from pipeline_kit.model.constraints import Violation, check_state
from pipeline_kit.model.errors import ConstraintFailed, InvalidInput
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.store.database import Scope, Store, resolve_url

Build = Callable[[State, Context], Plan]
Observe = Callable[[Any, float, "BaseException | None"], None]


def actor(environ: Mapping[str, str] | None = None) -> str:
    """Who acts: ``$GITHUB_ACTOR``, ``$BUILD_USER_ID`` (Jenkins), ``$USER``, else the login."""
    env = os.environ if environ is None else environ
    for key in ("GITHUB_ACTOR", "BUILD_USER_ID", "USER"):
        if env.get(key):
            return env[key][:200]
    try:
        return getpass.getuser()[:200]
    except (OSError, KeyError):
        return "unknown"


def open_store(settings: Settings) -> Store:
    return Store(resolve_url(settings.database, settings.home), settings.lock_timeout)


def context(settings: Settings) -> Context:
    return Context(settings.policy, datetime.now(UTC), actor())


@dataclass(frozen=True)
class Outcome:
    """A plan and whether it was applied."""

    plan: Plan
    applied: bool
    notes: tuple[str, ...] = ()


def execute(
    settings: Settings,
    scope: Scope,
    build: Build,
    dry_run: bool = False,
    observe: Observe | None = None,
    canary: int | None = None,
) -> Outcome:
    """Plan under the lock, refuse on any violation, else apply in the same transaction.

    With the Docker runtime, ``observe`` hears of each container's health check.
    """
    if canary is not None and not (settings.lb.enabled and settings.runtime.kind == "docker"):
        raise InvalidInput(
            '--canary needs containers behind HAProxy: runtime = "docker" and [lb] enabled = true'
        )
    store = open_store(settings)
    try:
        if settings.runtime.kind == "docker" and not dry_run:
            from pipeline_kit.pipeline.apply import apply_with_runtime

            notes: list[str] = []
            applied = apply_with_runtime(
                settings,
                store,
                scope,
                build,
                lambda: context(settings),
                notes.append,
                observe,
                canary,
            )
            return Outcome(applied, applied=canary is None, notes=tuple(notes))
        if dry_run:
            with store.read() as session:
                plan = build(session.load(scope), context(settings))
            return Outcome(plan, applied=False)
        with store.write(
            scope, what=f"change to {', '.join(sorted(scope.services)) or 'state'}"
        ) as session:
            ctx = context(settings)
            plan = build(session.load(scope), ctx)
            if plan.violations:
                raise ConstraintFailed(plan.violations)
            session.apply(plan, settings.policy, ctx.actor, ctx.now)
        return Outcome(plan, applied=True)
    finally:
        store.dispose()


def init(settings: Settings, cwd: Path) -> list[str]:
    """Write a default config when there is none and create the state database."""
    done = []
    if settings.source is None:
        path = cwd / "pipeline-kit.toml"
        path.write_text(render_default())
        done.append(f"wrote {path}")
    else:
        done.append(f"using {settings.source}")
    store = open_store(settings)
    try:
        store.ensure_schema()
    finally:
        store.dispose()
    done.append(f"state database ready: {store.safe_url}")
    return done


def load_state(settings: Settings, services: list[str] | None = None) -> State:
    """The whole state, or the part around some services, as a read-only snapshot."""
    store = open_store(settings)
    try:
        with store.read() as session:
            if services is None:
                return session.load_all()
            return session.load(Scope(services=frozenset(services)))
    finally:
        store.dispose()


def canaries(settings: Settings) -> dict[tuple[str, int], tuple[str, int]]:
    """(service, position) → (incoming version, percent) of every running canary."""
    from pipeline_kit.pipeline.canary import describe

    store = open_store(settings)
    try:
        with store.read("canaries") as session:
            return describe(session)
    finally:
        store.dispose()


def check(settings: Settings) -> tuple[State, list[Violation]]:
    """The whole state against the configured constraints."""
    state = load_state(settings)
    return state, check_state(state, settings.policy)


def history(settings: Settings, service: str | None, limit: int) -> list[dict[str, object]]:
    store = open_store(settings)
    try:
        with store.read() as session:
            return session.history(service, limit)
    finally:
        store.dispose()


def export_state(settings: Settings, path: Path) -> int:
    """Write the whole state to ``path``; the number of services."""
    from pipeline_kit.store.transfer import export_document

    store = open_store(settings)
    try:
        with store.read("export") as session:
            text = export_document(session)
            count = len(session.service_names())
    finally:
        store.dispose()
    try:
        path.write_text(text)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror}") from None
    return count


def import_state(settings: Settings, path: Path) -> int:
    """Reproduce an exported environment in an empty database; the number of services."""
    from pipeline_kit.store.transfer import import_document, parse_document

    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}") from None
    state, entries = parse_document(text, str(path))
    violations = check_state(state, settings.policy)
    if violations:
        raise ConstraintFailed(violations, what=f"{path} breaks the configured constraints")
    store = open_store(settings)
    try:
        with store.write(Scope(), "import") as session:
            if not session.is_empty():
                raise InvalidInput(
                    f"state database {store.safe_url} is not empty: import into a new one "
                    "(set PIPELINE_KIT_DB)"
                )
            import_document(session, state, entries)
    finally:
        store.dispose()
    return len(state.services)
