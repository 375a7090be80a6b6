"""The keys of approval policies and freezes: ``[gates.STAGE]`` approvers, ``[groups]`` and
``[[freeze]]``, and the rules across them (known groups, ``from`` before ``until``).

A name in ``approvers`` or in a group is a group when ``[groups]`` defines it, else a
person; ``@name`` always means a group, and must name one.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.freeze import Window, parse_moment, weekday, zone
from pipeline_kit.model.policy import Gate

_PERSON = re.compile(r"@?[A-Za-z0-9][A-Za-z0-9_.@+-]{0,199}")
Problems = list[tuple[tuple[str | int, ...], str]]


def as_names(value: Any) -> tuple[str, ...]:
    """A list of people or groups: ``["alice", "release-managers"]`` (from the environment:
    ``alice,release-managers``)."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of names, not {value!r}")
    for name in value:
        if not _PERSON.fullmatch(name):
            raise ValueError(f"invalid name {name!r}: a login or a group name, no spaces")
    return tuple(value)


def as_groups(value: Any) -> dict[str, tuple[str, ...]]:
    """``[groups]``: group name → its members (people or other groups)."""
    if not isinstance(value, dict):
        raise ValueError(f"expected a table of name lists, not {value!r}")
    out = {}
    for name, listed in value.items():
        if not _PERSON.fullmatch(name) or name.startswith("@"):
            raise ValueError(f"invalid group name {name!r}")
        try:
            out[name] = as_names(listed)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return out


def as_moment(value: Any) -> str:
    """An ISO 8601 date-time with a zone (checked here, kept as text)."""
    try:
        parse_moment(value if isinstance(value, str) else repr(value))
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None
    return str(value)


def as_weekdays(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of weekdays such as ['sat', 'sun'], not {value!r}")
    try:
        return tuple(sorted({weekday(v) for v in value}))
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


def as_zone(value: Any) -> str:
    try:
        zone(str(value))
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None
    return str(value)


def as_reason(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 500:
        raise ValueError("expected a reason (1-500 characters)")
    return value


def as_stage_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a list of stage names, not {value!r}")
    return tuple(value)


def check(values: dict[str, Any]) -> Problems:
    """The rules across keys: groups that exist, stages that exist, windows that make sense."""
    problems: Problems = []
    groups: dict[str, tuple[str, ...]] = values["groups"]
    for name, listed in groups.items():
        problems += [(("groups", name), m) for m in _unknown(listed, groups)]
    for stage, gate in values["gates"].items():
        found = _unknown(gate["approvers"], groups)
        problems += [(("gates", stage, "approvers"), m) for m in found]
    for index, window in enumerate(values["freeze"]):
        loc: tuple[str | int, ...] = ("freeze", index)
        unknown = sorted(set(window["stages"]) - set(values["stages"]))
        if unknown:
            problems.append(((*loc, "stages"), f"unknown stage(s): {', '.join(unknown)}"))
        absolute = window["from"] is not None or window["until"] is not None
        if absolute == bool(window["weekly"]):
            problems.append((loc, "give either from and until, or weekly"))
        elif absolute and (window["from"] is None or window["until"] is None):
            problems.append((loc, "give both from and until"))
        elif absolute and parse_moment(window["from"]) >= parse_moment(window["until"]):
            problems.append(((*loc, "until"), f"until {window['until']} is not after from"))
    return problems


def _unknown(names: tuple[str, ...], groups: dict[str, tuple[str, ...]]) -> list[str]:
    return [f"unknown group {n!r}" for n in names if n.startswith("@") and n[1:] not in groups]


def policy_parts(values: dict[str, Any]) -> dict[str, Any]:
    """The Policy's ``gates``, ``groups`` and ``freezes`` (``@`` dropped from names)."""
    gates = {
        stage: Gate(**{**gate, "approvers": tuple(a.lstrip("@") for a in gate["approvers"])})
        for stage, gate in values["gates"].items()
    }
    listed = values["groups"].items()
    groups = {name: tuple(m.lstrip("@") for m in names) for name, names in listed}
    windows = tuple(
        Window(
            stages=w["stages"],
            reason=w["reason"],
            start=parse_moment(w["from"]) if w["from"] else None,
            end=parse_moment(w["until"]) if w["until"] else None,
            weekly=w["weekly"] or (),
            timezone=w["timezone"],
        )
        for w in values["freeze"]
    )
    return {"gates": gates, "groups": groups, "freezes": windows}
