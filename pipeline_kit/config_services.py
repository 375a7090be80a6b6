"""``[services.NAME]`` of the configuration: the keys, their checks, and the declarations.

A service's table holds what its containers get (``env``, ``secrets``, ``volumes``,
``command``, ``memory``, ``cpus``), with per-stage overrides under ``stages.STAGE``, and the
hooks and smoke checks of its rollouts. ``check`` collects every problem with its key path
(as ``config_schema`` does for the other tables); ``declarations`` builds the resolved
``ServiceDecl`` values, each stage's overrides already merged:

- ``env``: the service's, updated by the stage's (the stage wins per name);
- ``secrets``: the service's, then the stage's (each once, in order); a stage may turn a
  variable of the service's ``env`` into a secret, which then leaves ``env``;
- ``volumes``, ``command``, ``memory``, ``cpus``: the stage's when given, else the service's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pipeline_kit.config_schema import (
    HEALTH_PATH,
    REQUIRED,
    Convert,
    Keys,
    Loc,
    Problems,
    Table,
    as_choice,
    as_duration,
    as_integer,
    as_number,
    as_text,
)
from pipeline_kit.config_types import Hook, ServiceDecl, SmokeCheck, StageConfig
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import check_image, check_name

_VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]*")
_VOLUME = re.compile(r"([^:]+):(/[^:\s]+)(:ro)?")
_VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


# -- converters: the value, or ValueError saying what was expected ---------------------------


def _variable(name: Any) -> str:
    """An environment variable name a service's containers get (``env`` or ``secrets``)."""
    if not isinstance(name, str) or not _VARIABLE.fullmatch(name):
        raise ValueError(f"invalid variable name {name!r}: use A-Z, 0-9 and '_', not a digit first")
    if name.startswith("PIPELINE_KIT_"):
        raise ValueError(f"{name} is reserved: pipeline-kit sets PIPELINE_KIT_* variables itself")
    return name


def _env(value: Any) -> dict[str, str]:
    """``{NAME = "text"}``; an integer or true/false is taken as its TOML text (``8080``,
    ``true``). A float is refused: its text could differ from the file's, so quote it."""
    if not isinstance(value, dict):
        raise ValueError(f"expected a table such as {{ LOG_LEVEL = 'info' }}, not {value!r}")
    out: dict[str, str] = {}
    for name, text in value.items():
        if isinstance(text, bool):
            text = "true" if text else "false"
        elif isinstance(text, int):
            text = str(text)
        elif not isinstance(text, str):
            raise ValueError(f"{name}: expected a string, an integer or true/false, not {text!r}")
        out[_variable(name)] = text
    return out


def _secrets(value: Any) -> list[str]:
    """Names only (each once, in order): the values come from the runner's environment."""
    if not isinstance(value, list):
        raise ValueError(f"expected a list of variable names such as ['API_TOKEN'], not {value!r}")
    return list(dict.fromkeys(_variable(name) for name in value))


def _volume(value: Any) -> str:
    """A named volume ``NAME:/path`` or ``NAME:/path:ro``; ``{stage}`` and ``{stack}`` may be
    in NAME. A host path is refused: containers move between hosts."""
    if isinstance(value, str) and value.startswith(("/", ".", "~")):
        raise ValueError(f"host path {value!r} refused: use a named volume, NAME:/path")
    match = _VOLUME.fullmatch(value) if isinstance(value, str) else None
    name = match.group(1).replace("{stage}", "s").replace("{stack}", "0") if match else ""
    if not _VOLUME_NAME.fullmatch(name):
        raise ValueError(
            f"expected NAME:/path or NAME:/path:ro, NAME of letters, digits, '_', '.', '-', "
            f"{{stage}} and {{stack}}, not {value!r}"
        )
    return str(value)


def _volumes(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise ValueError(f"expected a list such as ['data-{{stage}}:/data'], not {value!r}")
    return [_volume(item) for item in value]


def _command(empty: bool) -> Convert:
    """A list of strings; ``empty``: the empty list is allowed (the image's CMD)."""

    def convert(value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(part, str) for part in value):
            raise ValueError(f"expected a list of strings such as ['/app/run.sh'], not {value!r}")
        if not value and not empty:
            raise ValueError("expected a command: a non-empty list of strings")
        return tuple(value)

    return convert


def _memory(value: Any) -> str:
    size = as_text(r"[1-9][0-9]*[bkmgBKMG]", "a size such as '256m' or '1g' (b, k, m or g)")
    return str(size(value)).lower()


def _cpus(value: Any) -> float:
    number = float(as_number(value, integer=False))
    if not 0 < number <= 64:
        raise ValueError(f"expected a number of CPUs above 0 and at most 64, not {number:g}")
    return number


def _timeout(value: Any) -> float:
    seconds = as_duration(value).total_seconds()
    if not 0 < seconds <= 86400:
        raise ValueError(f"expected a duration above 0 and at most 1 day, not {value!r}")
    return seconds


def _image(value: Any) -> str:
    try:
        return check_image(as_text()(value))
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


# -- tables ----------------------------------------------------------------------------------

_OVERRIDE: Keys = {  # [services.NAME.stages.STAGE]: None where it keeps the service's
    "env": (None, _env),
    "secrets": (None, _secrets),
    "volumes": (None, _volumes),
    "command": (None, _command(empty=True)),
    "memory": (None, _memory),
    "cpus": (None, _cpus),
}
_HOOK: Keys = {
    "when": (REQUIRED, as_choice("before_switch", "after_switch")),
    "command": (REQUIRED, _command(empty=False)),
    "timeout": ("120s", _timeout),
}
_CHECK: Keys = {
    "path": ("/", as_text(r"/\S*", "a path starting with /")),
    "status": (200, as_integer(100, 599)),
    "contains": (None, as_text()),
}
_SERVICE: dict[str, tuple[Any, Convert | Table]] = {
    "image": (None, _image),
    "stacks": (1, as_integer(1, 64)),
    "env": ({}, _env),
    "secrets": ([], _secrets),
    "volumes": ([], _volumes),
    "command": ([], _command(empty=True)),
    "memory": (None, _memory),
    "cpus": (None, _cpus),
    "health_path": (None, HEALTH_PATH),
    "stages": ({}, Table(_OVERRIDE, many="names")),
    "hooks": ([], Table(_HOOK, many="list")),
    "checks": ([], Table(_CHECK, many="list")),
}
SERVICES = Table(_SERVICE, many="names")


def check(raw: Any, stages: tuple[str, ...] | None, problems: Problems) -> dict[str, Any]:
    """The checked ``[services]`` table; its problems are added to ``problems``. The rules
    across keys (names, stages, env and secrets) apply once every key is well-formed."""
    found = len(problems)
    services: dict[str, Any] = SERVICES.check(raw, ("services",), problems)
    if len(problems) == found:
        for name, service in services.items():
            _rules(name, service, stages, problems)
    return services


def _rules(
    name: str, service: dict[str, Any], stages: tuple[str, ...] | None, problems: Problems
) -> None:
    loc: Loc = ("services", name)
    try:
        check_name("service", name)
    except InvalidInput as exc:
        problems.append((loc, str(exc)))
    secrets = set(service["secrets"])
    both = sorted(set(service["env"]) & secrets)
    if both:
        problems.append(((*loc, "env"), _both(both)))
    for stage, over in service["stages"].items():
        where: Loc = (*loc, "stages", stage)
        if stages is not None and stage not in stages:
            known = ", ".join(stages)
            problems.append((where, f"unknown stage {stage!r}: the stages are {known}"))
        both = sorted(set(over["env"] or ()) & (secrets | set(over["secrets"] or ())))
        if both:
            problems.append(((*where, "env"), _both(both)))


def _both(names: list[str]) -> str:
    return f"{', '.join(names)} in env and in secrets: a variable is a value or a secret"


# -- the declarations ------------------------------------------------------------------------


def declarations(
    services: dict[str, Any], line: Callable[[Loc], int | None]
) -> tuple[ServiceDecl, ...]:
    """The checked ``[services]`` as declarations, in file order; ``line`` finds where a key
    path is declared."""
    return tuple(_declaration(name, raw, line) for name, raw in services.items())


def _declaration(name: str, raw: dict[str, Any], line: Callable[[Loc], int | None]) -> ServiceDecl:
    loc: Loc = ("services", name)
    base = StageConfig(
        env=tuple(raw["env"].items()),
        secrets=tuple(raw["secrets"]),
        volumes=tuple(raw["volumes"]),
        command=tuple(raw["command"]),
        memory=raw["memory"],
        cpus=raw["cpus"],
    )
    hooks = tuple(
        Hook(**hook, line=line((*loc, "hooks", i))) for i, hook in enumerate(raw["hooks"])
    )
    checks = tuple(
        SmokeCheck(**item, line=line((*loc, "checks", i))) for i, item in enumerate(raw["checks"])
    )
    return ServiceDecl(
        name=name,
        image=raw["image"] or name,
        stacks=raw["stacks"],
        base=base,
        stages=tuple((stage, _merged(base, over)) for stage, over in raw["stages"].items()),
        hooks=hooks,
        checks=checks,
        health_path=raw["health_path"],
        line=line(loc),
    )


def _merged(base: StageConfig, over: dict[str, Any]) -> StageConfig:
    """``base`` with one stage's overrides (``None``: not given) applied."""
    secrets = tuple(dict.fromkeys((*base.secrets, *(over["secrets"] or ()))))
    env = {name: value for name, value in base.env if name not in secrets}
    env.update(over["env"] or {})
    return StageConfig(
        env=tuple(env.items()),
        secrets=secrets,
        volumes=base.volumes if over["volumes"] is None else tuple(over["volumes"]),
        command=base.command if over["command"] is None else over["command"],
        memory=base.memory if over["memory"] is None else over["memory"],
        cpus=base.cpus if over["cpus"] is None else over["cpus"],
    )
