"""The history: one row per applied plan, with who, when, what and the versions per stage
before → after of every service it touched."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.policy import Policy
from pipeline_kit.store import codec
from pipeline_kit.store import tables as t


def record(conn: Connection, plan: Plan, policy: Policy, actor: str, now: datetime) -> None:
    """Add the history row of an applied ``plan``."""
    touched = set(plan.services_changed())
    for key in ("service", "name", "parent", "child"):
        value = plan.args.get(key)
        if isinstance(value, str) and value in plan.after.services:
            touched.add(value)
    endpoint = plan.args.get("endpoint")  # connect, switch: the endpoint's main service
    if isinstance(endpoint, str) and endpoint in plan.after.endpoints:
        touched.add(plan.after.endpoints[endpoint].service)
    changes = {
        name: {
            "before": stage_versions(plan.before, name, policy),
            "after": stage_versions(plan.after, name, policy),
        }
        for name in sorted(touched)
    }
    conn.execute(
        insert(t.history).values(
            at=codec.time_text(now),
            actor=actor,
            action=plan.action,
            services="," + ",".join(sorted(touched)) + ",",
            args=json.dumps(plan.args, sort_keys=True, default=str),
            changes=json.dumps(changes, sort_keys=True),
        )
    )


def entries(conn: Connection, service: str | None, limit: int | None) -> list[dict[str, Any]]:
    """History entries (of ``service`` when given), oldest first: the last ``limit``."""
    query = select(t.history).order_by(t.history.c.id.desc())
    if service is not None:
        query = query.where(t.history.c.services.like(f"%,{_like(service)},%", escape="\\"))
    if limit is not None:
        query = query.limit(limit)
    rows = list(conn.execute(query).mappings())
    return [
        {
            "id": r["id"],
            "at": r["at"],
            "actor": r["actor"],
            "action": r["action"],
            "args": json.loads(r["args"]),
            "changes": json.loads(r["changes"]),
        }
        for r in reversed(rows)
    ]


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def stage_versions(state: State, name: str, policy: Policy) -> dict[str, list[str]]:
    """``{"prod": ["v1", "v1"], ...}``: per stage, the version on each stack."""
    service = state.services.get(name)
    if service is None:
        return {}
    out: dict[str, list[str]] = {}
    for stack in service.stacks:
        for pos, c in enumerate(stack.containers):
            out.setdefault(policy.stage_name(pos), []).append(c.version)
    return out
