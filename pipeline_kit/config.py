"""Configuration: `pipeline-kit.toml` or `[tool.pipeline-kit]`, overridden by `PIPELINE_KIT_*`.

The file is searched from the working directory upward. Secrets never come from here.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline_kit.config_types import Host, Lb, Registry, Release, Runtime, Settings
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.policy import Gate, Policy
from pipeline_kit.model.versions import VersionPolicy

__all__ = [
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
    "render_default",
]

FILE_NAME = "pipeline-kit.toml"
ENV_PREFIX = "PIPELINE_KIT_"
DEFAULT_DATABASE = "sqlite:///.pipeline-kit/state.db"
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_STAGE = re.compile(r"[a-z][a-z0-9-]{0,31}")


def parse_duration(value: str | int) -> timedelta:
    """``90`` (seconds), ``"90s"``, ``"30m"``, ``"1h30m"``, ``"2d"`` → timedelta."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    match = _DURATION.fullmatch(str(value).strip())
    if isinstance(value, str) and value.strip() and match:
        d, h, m, s = (int(g) if g else 0 for g in match.groups())
        return timedelta(days=d, hours=h, minutes=m, seconds=s)
    raise ValueError(f"expected a duration such as '30m', '1h30m' or '2d', not {value!r}")


class _GateModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prereleases: bool = True
    approval: bool = False
    soak: timedelta = timedelta(0)

    @field_validator("soak", mode="before")
    @classmethod
    def _soak(cls, value: Any) -> timedelta:
        return value if isinstance(value, timedelta) else parse_duration(value)


class _HostModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    url: str = Field(pattern=r"^(unix|tcp|ssh)://\S+$")
    # Where this host's containers are reached (health checks, upstream URLs).
    address: str = "127.0.0.1"
    tls: bool = False
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None


class _RegistryModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^(https?://)?[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")
    insecure: bool = False
    ca: str | None = None


class _ReleaseModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    service: str | None = None
    image: str | None = None
    tag_pattern: str = "v{semver}"
    dockerfile: str = "Dockerfile"
    context: str = "."
    build_args: dict[str, str] = Field(default_factory=dict)

    @field_validator("tag_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        if value.count("{semver}") != 1:
            raise ValueError("must contain {semver} once, e.g. 'v{semver}'")
        return value


class _LbModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    bind: str = Field(default="127.0.0.1", pattern=r"^[0-9A-Za-z.:-]{1,64}$")
    dir: str = ".pipeline-kit/haproxy"
    binary: str = Field(default="haproxy", pattern=r"^[A-Za-z0-9_./-]{1,255}$")
    edge_ports: str = Field(default="31000-31999", pattern=r"^[0-9]{1,5}-[0-9]{1,5}$")
    drain: timedelta = timedelta(seconds=30)

    @field_validator("drain", mode="before")
    @classmethod
    def _drain(cls, value: Any) -> timedelta:
        return value if isinstance(value, timedelta) else parse_duration(value)


class _ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stages: list[str] = Field(default_factory=lambda: ["prod", "qa", "dev"])
    versions: VersionPolicy = VersionPolicy.NON_DECREASING
    min_stacks: int = Field(default=1, ge=1, le=64)
    min_height: int | None = Field(default=None, ge=1, le=64)
    max_height: int | None = Field(default=None, ge=1, le=64)
    distinct_hosts: bool = False
    runtime: Literal["none", "docker"] | None = None
    hosts: list[_HostModel] = Field(default_factory=list)
    network: Literal["host", "bridge"] = "host"
    ports: str = Field(default="20000-29999", pattern=r"^[0-9]{1,5}-[0-9]{1,5}$")
    container_port: int = Field(default=8080, ge=1, le=65535)
    health_path: str = Field(default="/health", pattern=r"^(/[A-Za-z0-9._~/?=&%-]*)?$")
    health_timeout: timedelta = timedelta(seconds=60)
    registry: _RegistryModel | None = None
    release: _ReleaseModel = Field(default_factory=_ReleaseModel)
    lb: _LbModel = Field(default_factory=_LbModel)
    database: str = DEFAULT_DATABASE
    lock_timeout: float = Field(default=30.0, gt=0, le=3600)
    gates: dict[str, _GateModel] = Field(default_factory=dict)

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one stage, e.g. stages = ['prod', 'qa', 'dev']")
        for stage in value:
            if not _STAGE.fullmatch(stage):
                raise ValueError(f"invalid stage name {stage!r}: lowercase letters, digits, '-'")
        if len(set(value)) != len(value):
            raise ValueError("stage names must be distinct")
        return value

    @field_validator("health_timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> timedelta:
        return value if isinstance(value, timedelta) else parse_duration(value)

    @field_validator("ports")
    @classmethod
    def _ports(cls, value: str) -> str:
        low, high = (int(p) for p in value.split("-"))
        if not 1024 <= low <= high <= 65535:
            raise ValueError(
                f"expected a range such as '20000-29999' within 1024-65535, not {value!r}"
            )
        return value

    @field_validator("hosts")
    @classmethod
    def _host_names(cls, value: list[_HostModel]) -> list[_HostModel]:
        names = [h.name for h in value]
        if len(set(names)) != len(names):
            raise ValueError("host names must be distinct")
        return value

    @model_validator(mode="after")
    def _runtime(self) -> _ConfigModel:
        if self.runtime is None:
            self.runtime = "docker" if self.hosts else "none"
        if self.runtime == "docker" and not self.hosts:
            self.hosts = [_HostModel(name="local", url="unix:///var/run/docker.sock")]
        return self

    @model_validator(mode="after")
    def _heights(self) -> _ConfigModel:
        stages = len(self.stages)
        if self.min_height is not None and self.min_height < stages:
            raise ValueError(
                f"min_height = {self.min_height} is below the number of stages ({stages})"
            )
        low = self.min_height or stages
        if self.max_height is not None and self.max_height < low:
            raise ValueError(f"max_height = {self.max_height} is below min_height ({low})")
        unknown = sorted(set(self.gates) - set(self.stages))
        if unknown:
            raise ValueError(f"gates for unknown stage(s): {', '.join(unknown)}")
        return self


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
    fields = set(_ConfigModel.model_fields) - {"gates", "hosts", "registry", "release", "lb"}
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


def _describe(error: ValidationError, path: Path | None) -> str:
    parts = []
    for item in error.errors():
        loc = tuple(item["loc"])
        key = ".".join(str(p) for p in loc) or "(top level)"
        message = str(item["msg"]).removeprefix("Value error, ")
        where = ""
        if path is not None:
            line = line_of(path, loc)
            where = f"{path}:{line}: " if line else f"{path}: "
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(f"{where}{key}: {message}")
    return "invalid config: " + "; ".join(parts)


def load(cwd: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Find, read, merge with the environment and validate the configuration."""
    env = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    explicit = env.get(ENV_PREFIX + "CONFIG")
    path = Path(explicit) if explicit else find_config(cwd)
    data = _read(path) if path is not None else {}
    try:
        model = _ConfigModel.model_validate(_merge(data, _from_env(env)))
    except ValidationError as exc:
        raise InvalidInput(_describe(exc, path)) from None
    home = path.parent if path is not None else cwd
    gates = {stage: Gate(g.prereleases, g.approval, g.soak) for stage, g in model.gates.items()}
    policy = Policy(
        stages=tuple(model.stages),
        versions=model.versions,
        min_stacks=model.min_stacks,
        min_height=model.min_height or 0,
        max_height=model.max_height or 0,
        distinct_hosts=model.distinct_hosts,
        gates=gates,
    )
    runtime = Runtime(
        kind=model.runtime or "none",
        hosts=tuple(Host(**h.model_dump()) for h in model.hosts),
        network=model.network,
        ports=(int(model.ports.split("-")[0]), int(model.ports.split("-")[1])),
        container_port=model.container_port,
        health_path=model.health_path,
        health_timeout=model.health_timeout.total_seconds(),
    )
    registry = None
    if model.registry is not None:
        registry = Registry(
            model.registry.url,
            model.registry.insecure,
            model.registry.ca,
            env.get(ENV_PREFIX + "REGISTRY_USERNAME") or None,
            env.get(ENV_PREFIX + "REGISTRY_PASSWORD") or None,
        )
    rel = model.release
    release = Release(
        **rel.model_dump(exclude={"build_args"}), build_args=tuple(sorted(rel.build_args.items()))
    )
    low, high = (int(p) for p in model.lb.edge_ports.split("-"))
    if not 1024 <= low <= high <= 65535:
        raise InvalidInput(f"invalid config: lb.edge_ports: {model.lb.edge_ports!r} is not a range")
    lb = Lb(
        model.lb.enabled,
        model.lb.bind,
        home / model.lb.dir,
        model.lb.binary,
        (low, high),
        model.lb.drain.total_seconds(),
    )
    return Settings(
        policy, model.database, runtime, model.lock_timeout, path, home, registry, release, lb
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
