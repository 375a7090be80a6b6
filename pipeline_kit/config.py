"""Configuration: `pipeline-kit.toml` or `[tool.pipeline-kit]`, overridden by `PIPELINE_KIT_*`.

The file is searched from the working directory upward. Secrets never come from here. The
keys and their checks are in ``config_schema``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline_kit import config_freeze, config_services
from pipeline_kit.config_schema import (
    CONFIG,
    DEFAULT_DATABASE,
    TABLES,
    Loc,
    Problems,
    parse_duration,
    validate,
)
from pipeline_kit.config_types import (
    Host,
    Lb,
    Notify,
    Registry,
    Release,
    Runtime,
    ServiceDecl,
    Settings,
)
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.policy import Policy

__all__ = [
    "DEFAULT_DATABASE",
    "ENV_PREFIX",
    "FILE_NAME",
    "Host",
    "Lb",
    "Registry",
    "Release",
    "Runtime",
    "ServiceDecl",
    "Settings",
    "find_config",
    "line_of",
    "load",
    "parse_duration",
    "render_default",
]

FILE_NAME = "pipeline-kit.toml"
ENV_PREFIX = "PIPELINE_KIT_"


# -- finding and reading -----------------------------------------------------------------------


def find_config(start: Path) -> Path | None:
    """The nearest ``pipeline-kit.toml``, or ``pyproject.toml`` with ``[tool.pipeline-kit]``."""
    for folder in (start, *start.parents):
        candidate = folder / FILE_NAME
        if candidate.is_file():
            return candidate
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.pipeline-kit" in pyproject.read_text(errors="replace"):
            return pyproject
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None
    if path.name == "pyproject.toml":
        section = data.get("tool", {}).get("pipeline-kit", {})
        return section if isinstance(section, dict) else {}
    return data


# PIPELINE_KIT_LB__BIND… (tables that hold one set of options)
_TABLES_OF_ONE = (
    "registry__",
    "release__",
    "lb__",
    "notify__",
    "swarm__",
)  # PIPELINE_KIT_LB__BIND…


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """``PIPELINE_KIT_MIN_STACKS=2`` → min_stacks; ``PIPELINE_KIT_GATES__PROD__SOAK`` → gates;
    ``PIPELINE_KIT_SERVICES__MY_APP__STACKS`` → services.my-app.stacks (a service name has
    no '_', so '_' stands for '-')."""
    fields = set(CONFIG.keys) - set(TABLES)
    out: dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        name = key[len(ENV_PREFIX) :].lower()
        if name == "db":
            name = "database"
        if name in fields:
            out[name] = value.split(",") if name == "stages" else value
        elif name.startswith(("gates__", "services__")) and name.count("__") == 2:
            table, entry, option = name.split("__")
            entry = entry.replace("_", "-") if table == "services" else entry
            out.setdefault(table, {}).setdefault(entry, {})[option] = value
        elif name.startswith(_TABLES_OF_ONE) and name.count("__") == 1:
            table, option = name.split("__")
            out.setdefault(table, {})[option] = value
        elif name == "hosts":
            # PIPELINE_KIT_HOSTS="a=unix:///var/run/docker.sock,b=ssh://deploy@b.example"
            out["hosts"] = [
                dict(zip(("name", "url"), part.split("=", 1), strict=False))
                for part in value.split(",")
                if part.strip()
            ]
    return out


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def line_of(path: Path, loc: Loc) -> int | None:
    """The line that sets ``loc`` in a TOML file, if found: ``("gates", "prod", "soak")``,
    or ``("services", "webapp", "hooks", 1)`` for the second ``[[services.webapp.hooks]]``.
    A table only implied by its sub-tables is found at the first of them; a key the file
    does not set, at the table that lacks it."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    want = list(loc)
    prefix = ["tool", "pipeline-kit"] if path.name == "pyproject.toml" else []
    table: list[str | int] = [] if not prefix else ["(other)"]
    arrays: dict[tuple[str, ...], int] = {}
    implied: int | None = None
    within: tuple[int, int | None] = (
        0,
        None,
    )  # the deepest table that holds the key path: (depth, line)
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        header = re.fullmatch(r"(?:\[\[([^\[\]]+)\]\]|\[([^\[\]]+)\])\s*(?:#.*)?", text)
        if header:
            names = _key_parts(header.group(1) or header.group(2))
            table = [*names[len(prefix) :]] if names[: len(prefix)] == prefix else ["(other)"]
            if header.group(1):  # [[x]]: the next table of the array x
                arrays[tuple(names)] = arrays.get(tuple(names), -1) + 1
                table.append(arrays[tuple(names)])
            if table == want:
                return number
            if implied is None and want and table[: len(want)] == want:
                implied = number
            if within[0] < len(table) < len(want) and want[: len(table)] == table:
                within = (len(table), number)
            continue
        key = re.match(
            r"""((?:["']?[A-Za-z0-9_-]+["']?\s*\.\s*)*["']?[A-Za-z0-9_-]+["']?)\s*=""", text
        )
        if key and len(table) < len(want):
            full = [*table, *_key_parts(key.group(1))]
            if full[: len(want)] == want[: len(full)]:
                return number
    return implied or within[1]


def _key_parts(key: str) -> list[str]:
    return [part.strip().strip("\"'") for part in key.split(".")]


def _describe(problems: Problems, path: Path | None) -> str:
    parts = []
    for loc, message in problems:
        key = ".".join(str(p) for p in loc) or "(top level)"
        where = ""
        if path is not None:
            line = line_of(path, loc)
            where = f"{path}:{line}: " if line else f"{path}: "
        parts.append(f"{where}{key}: {message}")
    return "invalid config: " + "; ".join(parts)


# -- the settings ------------------------------------------------------------------------------


def load(cwd: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Find, read, merge with the environment and validate the configuration."""
    env = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    explicit = env.get(ENV_PREFIX + "CONFIG")
    path = Path(explicit) if explicit else find_config(cwd)
    data = _read(path) if path is not None else {}
    overrides = _from_env(env)
    _check_overrides(data, overrides, path)
    merged = _merge(data, overrides)
    raw_services = merged.pop("services", {})
    values, problems = validate(merged, env)
    services = config_services.check(raw_services, values.get("stages"), problems)
    if problems:
        raise InvalidInput(_describe(problems, path))
    home = path.parent if path is not None else cwd
    registry = None
    if values["registry"] is not None:
        registry = Registry(
            **values["registry"],
            username=env.get(ENV_PREFIX + "REGISTRY_USERNAME") or None,
            password=env.get(ENV_PREFIX + "REGISTRY_PASSWORD") or None,
        )
    release, lb = values["release"], values["lb"]
    build_args = tuple(sorted(release.pop("build_args").items()))
    folder, drain = home / lb.pop("dir"), lb.pop("drain").total_seconds()
    declared = config_services.declarations(services, lambda loc: _line(path, loc))
    released = next((s for s in declared if s.name == release["service"]), None)
    if released is not None and release["image"] is None:
        release["image"] = released.image
    return Settings(
        policy=_policy(values),
        database=values["database"],
        runtime=_runtime(values),
        lock_timeout=values["lock_timeout"],
        source=path,
        home=home,
        registry=registry,
        release=Release(**release, build_args=build_args),
        lb=Lb(**lb, folder=folder, drain=drain),
        services=declared,
        notify=Notify(**values["notify"]) if values["notify"] is not None else None,
    )


def _line(path: Path | None, loc: Loc) -> int | None:
    return line_of(path, loc) if path is not None else None


def _check_overrides(data: dict[str, Any], overrides: dict[str, Any], path: Path | None) -> None:
    """``PIPELINE_KIT_SERVICES__NAME__KEY`` changes a declared service; it declares none."""
    declared = data.get("services")
    names = set(declared) if isinstance(declared, dict) else set()
    for name, keys in overrides.get("services", {}).items():
        if name not in names:
            option = next(iter(keys)).upper()
            variable = f"{ENV_PREFIX}SERVICES__{name.upper().replace('-', '_')}__{option}"
            where = path if path is not None else "no config file"
            raise InvalidInput(f"{variable}: service {name!r} is not declared in {where}")


def _policy(values: dict[str, Any]) -> Policy:
    return Policy(
        stages=values["stages"],
        versions=values["versions"],
        min_stacks=values["min_stacks"],
        min_height=values["min_height"] or 0,
        max_height=values["max_height"] or 0,
        distinct_hosts=values["distinct_hosts"],
        **config_freeze.policy_parts(values),
    )


def _runtime(values: dict[str, Any]) -> Runtime:
    return Runtime(
        kind=values["runtime"],
        hosts=tuple(Host(**host) for host in values["hosts"]),
        network=values["network"],
        ports=values["ports"],
        container_port=values["container_port"],
        health_path=values["health_path"],
        health_timeout=values["health_timeout"].total_seconds(),
        swarm=Host(**values["swarm"]) if values["swarm"] else None,
    )


def render_default() -> str:
    """The commented ``pipeline-kit.toml`` written by ``init``."""
    return """\
# pipeline-kit configuration. Every value can be overridden by PIPELINE_KIT_<KEY>
# (PIPELINE_KIT_DB for the database). Secrets never go here.

# Stages from the most trusted (position 0) to the least.
stages = ["prod", "qa", "dev"]
# Version order going up a stack: "non-decreasing", "increasing" or "any".
versions = "non-decreasing"
min_stacks = 1
# min_height defaults to the number of stages; max_height to min_height.
# max_height = 3
distinct_hosts = false
runtime = "none"
database = "sqlite:///.pipeline-kit/state.db"
# Seconds to wait for another change to the same service before giving up.
lock_timeout = 30

[gates.prod]
prereleases = false
# approval = true      # require 'pipeline-kit approve SERVICE VERSION --stage prod --by NAME'
# soak = "1h"          # minimum time in prod before a version may move down (n/a for prod)
# verify = "60s"       # watch a new version this long after the switch; roll back on a breach
# max_error_rate = 0.01  # share of failed answers that fails the watch
# standby = "15m"      # keep the previous containers for an instant rollback (default: verify)

# [gates.qa]
# soak = "30m"         # a version must run 30 minutes in qa before it is promoted to prod
"""
