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

from pipeline_kit.config_schema import (
    CONFIG,
    DEFAULT_DATABASE,
    TABLES,
    Problems,
    parse_duration,
    validate,
)
from pipeline_kit.config_types import Host, Lb, Registry, Release, Runtime, Settings
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.policy import Gate, Policy

__all__ = [
    "DEFAULT_DATABASE",
    "ENV_PREFIX",
    "FILE_NAME",
    "Host",
    "Lb",
    "Registry",
    "Release",
    "Runtime",
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


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """``PIPELINE_KIT_MIN_STACKS=2`` → min_stacks; ``PIPELINE_KIT_GATES__PROD__SOAK`` → gates."""
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
        elif name.startswith("gates__") and name.count("__") == 2:
            _, stage, option = name.split("__")
            out.setdefault("gates", {}).setdefault(stage, {})[option] = value
        elif name.startswith(("registry__", "release__", "lb__")) and name.count("__") == 1:
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


def line_of(path: Path, loc: tuple[str | int, ...]) -> int | None:
    """The line that sets ``loc`` (``("gates", "prod", "soak")``) in a TOML file, if found."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    keys = [str(part) for part in loc if not isinstance(part, int)]
    table: list[str] = []
    prefix = ["tool", "pipeline-kit"] if path.name == "pyproject.toml" else []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        header = re.fullmatch(r"\[([^\[\]]+)\]", text)
        if header:
            table = [p.strip().strip('"') for p in header.group(1).split(".")][len(prefix) :]
            if keys and table == keys:
                return number
            continue
        key = re.match(r"""["']?([A-Za-z0-9_-]+)["']?\s*=""", text)
        if key and [*table, key.group(1)] == keys[: len(table) + 1] and len(table) < len(keys):
            return number
    return None


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
    values, problems = validate(_merge(data, _from_env(env)))
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
    )


def _policy(values: dict[str, Any]) -> Policy:
    return Policy(
        stages=values["stages"],
        versions=values["versions"],
        min_stacks=values["min_stacks"],
        min_height=values["min_height"] or 0,
        max_height=values["max_height"] or 0,
        distinct_hosts=values["distinct_hosts"],
        gates={stage: Gate(**gate) for stage, gate in values["gates"].items()},
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

# [gates.qa]
# soak = "30m"         # a version must run 30 minutes in qa before it is promoted to prod
"""
