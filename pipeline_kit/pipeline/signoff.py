"""Who signs off, and the commands that stop the line: the approver's identity (the CI's
when under CI), ``approve``, ``freeze``/``unfreeze``, ``show freezes``, and the release's
author recorded with its plan."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pipeline_kit.config_types import Settings
from pipeline_kit.model.actions import Context
from pipeline_kit.model.approvals import author_of
from pipeline_kit.model.errors import InvalidInput, Refused
from pipeline_kit.model.freeze import frozen
from pipeline_kit.model.items import Authored, State
from pipeline_kit.model.plan import Plan

if TYPE_CHECKING:
    from pipeline_kit.pipeline.rollout import Build, Outcome

APPROVER = "PIPELINE_KIT_APPROVER"  # set by the Jenkins library to the input's submitter


def ci_identity(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """Under CI, who runs the job and where that comes from; None outside CI."""
    if environ.get("GITHUB_ACTIONS") == "true":
        if not environ.get("GITHUB_ACTOR"):
            raise InvalidInput("GITHUB_ACTIONS is set but GITHUB_ACTOR is empty: who approves?")
        return environ["GITHUB_ACTOR"], "GITHUB_ACTOR"
    if environ.get("JENKINS_URL") or environ.get("JENKINS_HOME"):
        for key in (APPROVER, "BUILD_USER_ID"):
            if environ.get(key):
                return environ[key], key
        raise InvalidInput(
            "under Jenkins the approver is the input step's submitter: approve through "
            "pipelineKitApprove, or set BUILD_USER_ID (build-user-vars plugin)"
        )
    return None


def identity(by: str | None, environ: Mapping[str, str] | None = None, need: bool = True) -> str:
    """Who signs: the CI identity under CI (a different ``--by`` is refused), else ``--by``
    (else, unless ``need``, the user running the command)."""
    env = os.environ if environ is None else environ
    found = ci_identity(env)
    if found is not None:
        who, source = found
        if by is not None and by != who:
            raise Refused(f"--by {by} is not who runs this job ({who}, from {source}): refused")
        return who[:200]
    if by is None:
        if need:
            raise InvalidInput("give --by NAME: who approves")
        from pipeline_kit.pipeline.unit import actor

        return actor(env)
    if not by.strip() or len(by) > 200:
        raise InvalidInput("--by must name who approves (1-200 characters)")
    return by


def approve(
    settings: Settings, service: str, version: str, stage: str, by: str | None, dry_run: bool
) -> Outcome:
    """``approve SERVICE VERSION --stage STAGE [--by NAME]``; without a recorded author,
    one from the image's labels where the stage forbids self-approval (see ``authors``)."""
    from pipeline_kit.model import actions
    from pipeline_kit.pipeline.authors import from_image, with_label_author
    from pipeline_kit.pipeline.manage import execute
    from pipeline_kit.store.database import Scope

    who = identity(by)
    found = from_image(settings, service, version, stage)

    def approving(state: State, ctx: Context) -> Plan:
        return actions.approve(state, ctx, service, version, stage, who)

    build: Build = approving
    if found.author is not None:
        build = with_label_author(approving, service, version, found.author)
    outcome = execute(settings, Scope(frozenset({service})), build, dry_run)
    return replace(outcome, notes=(*outcome.notes, found.note)) if found.note else outcome


def freeze(
    settings: Settings,
    service: str | None,
    stage: str,
    reason: str | None,
    by: str | None,
    dry_run: bool,
    end: bool = False,
) -> Outcome:
    """``freeze [SERVICE] --stage S --reason TEXT`` (``end``: ``unfreeze``)."""
    from pipeline_kit.model import signoff
    from pipeline_kit.pipeline.manage import execute
    from pipeline_kit.store.database import Scope

    if not end and (reason is None or not reason.strip()):
        raise InvalidInput("give --reason TEXT: why the stage is frozen")
    who = identity(by, need=False)

    def build(state: State, ctx: Context) -> Plan:
        if end:
            return signoff.unfreeze(state, ctx, service, stage, who)
        return signoff.freeze(state, ctx, service, stage, reason or "", who)

    scope = Scope(frozenset({service}) if service else frozenset())
    return execute(settings, scope, build, dry_run)


def freezes(settings: Settings, now: datetime | None = None) -> list[dict[str, Any]]:
    """What is frozen now (immediate freezes and windows), then the windows to come."""
    from pipeline_kit.pipeline.unit import Unit
    from pipeline_kit.store import freezes as held

    moment = now or datetime.now(UTC)
    policy = settings.policy
    with Unit(settings) as unit, unit.store.read("show freezes") as session:
        state = State() if session.empty else held.attach(session.conn, State())
    rows: list[dict[str, Any]] = []
    for position in range(len(policy.stages)):
        for item in frozen(state, policy, None, position, moment):
            rows.append(
                {
                    "stage": item.stage,
                    "service": item.service or "*",
                    "active": True,
                    "kind": "immediate" if item.by is not None else "window",
                    "reason": item.reason,
                    "by": item.by,
                    "from": None,
                    "until": item.until.astimezone(UTC).isoformat() if item.until else None,
                }
            )
    for window in policy.freezes:
        coming = window.upcoming(moment)
        if coming is None:
            continue
        for stage in window.stages:
            rows.append(
                {
                    "stage": stage,
                    "service": "*",
                    "active": False,
                    "kind": "window",
                    "reason": window.reason,
                    "by": None,
                    "from": coming[0].astimezone(UTC).isoformat(),
                    "until": coming[1].astimezone(UTC).isoformat(),
                }
            )
    return rows


def with_author(build: Build, service: str, version: str, author: str | None) -> Build:
    """``build`` that also records who released ``version`` (once), with it in the history."""
    if not author:
        return build

    def wrapped(state: State, ctx: Context) -> Plan:
        plan = build(state, ctx)
        if author_of(plan.after, service, version) is not None:
            return plan
        record = Authored(service, version, author[:300], ctx.now)
        after = replace(plan.after, authors=(*plan.after.authors, record))
        return replace(plan, after=after, args={**plan.args, "author": author[:300]})

    return wrapped


def overriding(build: Build, reason: str | None) -> Build:
    """``build`` for ``promote --override-freeze --reason TEXT``: a freeze lets it pass when
    the stage's approval policy is satisfied; the reason is in the history."""
    if reason is None:
        return build
    if not reason.strip() or len(reason) > 500:
        raise InvalidInput("--override-freeze needs --reason TEXT (1-500 characters)")

    def wrapped(state: State, ctx: Context) -> Plan:
        plan = build(state, replace(ctx, policy=replace(ctx.policy, override=reason)))
        return replace(plan, args={**plan.args, "override_freeze": reason})

    return wrapped


def notes(settings: Settings) -> list[str]:
    """One line per freeze in force now, as ``show services`` prints them under its table."""
    lines = []
    for row in freezes(settings):
        if row["active"]:
            until = f" until {row['until']}" if row["until"] else " until unfrozen"
            who = f" by {row['by']}" if row["by"] else ""
            lines.append(f"frozen: {row['stage']} ({row['service']}){who}: {row['reason']}{until}")
    return lines
