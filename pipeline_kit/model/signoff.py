"""Stop the line: an immediate freeze of a stage, for one service or for all, and its end."""

from __future__ import annotations

from dataclasses import replace

from pipeline_kit.model.actions import Context, _finish, _service, _stage
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import Hold, State
from pipeline_kit.model.plan import Plan


def _held(state: State, service: str | None, position: int) -> Hold | None:
    return next((h for h in state.holds if (h.service, h.position) == (service, position)), None)


def freeze(
    state: State, ctx: Context, service: str | None, stage: str, reason: str, by: str
) -> Plan:
    """Freeze ``stage`` now, for ``service`` or (None) for every service, until unfrozen."""
    if service is not None:
        _service(state, service)
    position = _stage(ctx, stage)
    if not reason.strip() or len(reason) > 500:
        raise InvalidInput("--reason must say why (1-500 characters)")
    found = _held(state, service, position)
    if found is not None:
        raise InvalidInput(
            f"{stage} is frozen {_for(service)} already (by {found.by}: {found.reason}); "
            "unfreeze it first"
        )
    hold = Hold(service, position, reason, by, ctx.now)
    after = replace(state, holds=(*state.holds, hold))
    args = {"service": service or "*", "stage": stage, "reason": reason, "by": by}
    return _finish("freeze", args, ctx, state, after, scope=[service] if service else [])


def unfreeze(state: State, ctx: Context, service: str | None, stage: str, by: str) -> Plan:
    """End the immediate freeze of ``stage`` (configured windows stay as configured)."""
    if service is not None:
        _service(state, service)
    position = _stage(ctx, stage)
    found = _held(state, service, position)
    if found is None:
        where = f"{stage} is not frozen {_for(service)}"
        raise InvalidInput(f"{where}: see 'pipeline-kit show freezes'")
    after = replace(state, holds=tuple(h for h in state.holds if h != found))
    args = {"service": service or "*", "stage": stage, "reason": found.reason, "by": by}
    return _finish("unfreeze", args, ctx, state, after, scope=[service] if service else [])


def _for(service: str | None) -> str:
    return f"for {service}" if service else "for every service"
