"""The schema of ``pipeline-kit.toml``: every key with its default and its check.

Each TOML table is a mapping ``key → (default, converter)``. A converter returns the value
or raises ``ValueError`` saying what was expected; defaults are written as in the file and
converted too. Every problem is collected with its key path, so one run reports them all.
Values from the environment are strings: converters accept ``"2"`` for an integer and
``true``/``false``, ``yes``/``no``, ``on``/``off``, ``1``/``0`` for a flag. The keys of
``[services.NAME]`` are in ``config_services``, built on the converters and ``Table`` here.

Only the standard library: reading the configuration is part of every command's start-up.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline_kit import config_freeze as cf
from pipeline_kit.model.versions import VersionPolicy

DEFAULT_DATABASE = "sqlite:///.pipeline-kit/state.db"
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_STAGE = re.compile(r"[a-z][a-z0-9-]{0,31}")
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})

Loc = tuple[str | int, ...]
Convert = Callable[[Any], Any]
Problems = list[tuple[Loc, str]]
Keys = dict[str, tuple[Any, Convert]]


def parse_duration(value: str | int) -> timedelta:
    """``90`` (seconds), ``"90s"``, ``"30m"``, ``"1h30m"``, ``"2d"`` → timedelta."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    match = _DURATION.fullmatch(str(value).strip())
    if isinstance(value, str) and value.strip() and match:
        d, h, m, s = (int(g) if g else 0 for g in match.groups())
        return timedelta(days=d, hours=h, minutes=m, seconds=s)
    raise ValueError(f"expected a duration such as '30m', '1h30m' or '2d', not {value!r}")


# -- converters: the value, or ValueError saying what was expected ---------------------------


def _flag(value: Any) -> bool:
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise ValueError(f"expected true or false, not {value!r}")


def as_number(value: Any, integer: bool) -> float:
    """An int or float from TOML, or from a string of the environment."""
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value.strip().replace("_", ""))
    if number is None or not math.isfinite(number) or (integer and number % 1):
        raise ValueError(f"expected {'an integer' if integer else 'a number'}, not {value!r}")
    return int(number) if integer else number


def as_integer(low: int, high: int) -> Convert:
    def convert(value: Any) -> int:
        number = int(as_number(value, integer=True))
        if not low <= number <= high:
            raise ValueError(f"expected an integer from {low} to {high}, not {number}")
        return number

    return convert


def _seconds(value: Any) -> float:
    number = float(as_number(value, integer=False))
    if not 0 < number <= 3600:
        raise ValueError(f"expected seconds above 0 and at most 3600, not {number:g}")
    return number


def _share(value: Any) -> float:
    number = float(as_number(value, integer=False))
    if not 0 <= number <= 1:
        raise ValueError(f"expected a share from 0 to 1, not {number:g}")
    return number


def as_text(pattern: str = "", expected: str = "") -> Convert:
    """A string; with ``pattern``, one that matches it whole (``expected`` says what)."""

    def convert(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, not {value!r}")
        if pattern and not re.fullmatch(pattern, value):
            raise ValueError(f"expected {expected}, not {value!r}")
        return value

    return convert


def as_choice(*options: str) -> Convert:
    """One of ``options`` (strings, or the members of a StrEnum, which is then returned)."""

    def convert(value: Any) -> str:
        if value not in options:
            listed = ", ".join(repr(str(option)) for option in options)
            raise ValueError(f"expected one of {listed}, not {value!r}")
        return options[options.index(value)]

    return convert


def as_duration(value: Any) -> timedelta:
    return value if isinstance(value, timedelta) else parse_duration(value)


def _port_range(example: str) -> Convert:
    def convert(value: Any) -> tuple[int, int]:
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,5}-[0-9]{1,5}", value):
            low, high = (int(p) for p in value.split("-"))
            if 1024 <= low <= high <= 65535:
                return low, high
        raise ValueError(f"expected a range such as {example!r} within 1024-65535, not {value!r}")

    return convert


def _stages(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
        raise ValueError(f"expected a list of stage names, not {value!r}")
    if not value:
        raise ValueError("needs at least one stage, e.g. stages = ['prod', 'qa', 'dev']")
    for stage in value:
        if not _STAGE.fullmatch(stage):
            raise ValueError(f"invalid stage name {stage!r}: lowercase letters, digits, '-'")
    if len(set(value)) != len(value):
        raise ValueError("stage names must be distinct")
    return tuple(value)


def _tag_pattern(value: Any) -> str:
    if as_text()(value).count("{semver}") != 1:
        raise ValueError("must contain {semver} once, e.g. 'v{semver}'")
    return str(value)


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a table of strings, not {value!r}")
    for key, text in value.items():
        if not isinstance(text, str):
            raise ValueError(f"expected a string for {key}, not {text!r}")
    return dict(value)


# -- tables ------------------------------------------------------------------------------------

REQUIRED: Any = object()


@dataclass(frozen=True)
class Table:
    """Keys of one TOML table: ``key → (default, converter)``, the default written as in
    the file (it is converted too). ``many`` for ``[[x]]`` and ``[x.NAME]``: a list
    (``"list"``) or a table (``"names"``) of such tables."""

    keys: Mapping[str, tuple[Any, Convert | Table]]
    many: str = ""

    def check(self, raw: Any, loc: Loc, problems: Problems) -> Any:
        if self.many == "list" and isinstance(raw, list):
            return [self._one(item, (*loc, i), problems) for i, item in enumerate(raw)]
        if self.many == "names" and isinstance(raw, dict):
            return {name: self._one(item, (*loc, name), problems) for name, item in raw.items()}
        if not self.many:
            return self._one(raw, loc, problems)
        kind = "list of tables ([[...]])" if self.many == "list" else "table of tables"
        problems.append((loc, f"expected a {kind}, not {raw!r}"))
        return [] if self.many == "list" else {}

    def _one(self, raw: Any, loc: Loc, problems: Problems) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if not isinstance(raw, dict):
            problems.append((loc, f"expected a table, not {raw!r}"))
            return out
        for key, (default, convert) in self.keys.items():
            value = raw.get(key, default)
            if value is REQUIRED:
                problems.append(((*loc, key), "required"))
            elif value is None:
                out[key] = None
            elif isinstance(convert, Table):
                out[key] = convert.check(value, (*loc, key), problems)
            else:
                try:
                    out[key] = convert(value)
                except ValueError as exc:
                    problems.append(((*loc, key), str(exc)))
        problems.extend(((*loc, key), "unknown key") for key in raw if key not in self.keys)
        return out


_HOST_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}"
_GATE: Keys = {"prereleases": (True, _flag), "approval": (False, _flag), "soak": (0, as_duration)}
_GATE |= {"approvals": (1, as_integer(1, 20)), "approvers": ([], cf.as_names)}
_GATE |= {"self_approval": (True, _flag)}
_FREEZE: Keys = {"stages": (REQUIRED, cf.as_stage_list), "reason": (REQUIRED, cf.as_reason)}
_FREEZE |= {"from": (None, cf.as_moment), "until": (None, cf.as_moment)}
_FREEZE |= {"weekly": (None, cf.as_weekdays), "timezone": ("UTC", cf.as_zone)}
_GATE |= {"verify": (0, as_duration), "max_error_rate": (0.01, _share)}
_GATE |= {"standby": (None, as_duration)}  # None: the verify window
_HOST: Keys = {
    "name": (REQUIRED, as_text(_HOST_NAME, "a host name")),
    "url": (REQUIRED, as_text(r"(unix|tcp|ssh)://\S+", "a unix://, tcp:// or ssh:// URL")),
    "address": ("127.0.0.1", as_text()),  # where its containers are reached (health, upstreams)
    "tls": (False, _flag),
    "tls_ca": (None, as_text()),
    "tls_cert": (None, as_text()),
    "tls_key": (None, as_text()),
}
_MANAGER = r"unix:///\S+|(tcp|ssh)://([A-Za-z0-9._-]+@)?[A-Za-z0-9._-]+(:[0-9]{1,5})?/?"
_SWARM: Keys = {  # the manager of a Swarm (runtime = "swarm"); default: the local engine
    "manager": (
        None,
        as_text(_MANAGER, "a URL such as tcp://HOST:2376, ssh://USER@HOST or unix://PATH"),
    ),
    "tls": (False, _flag),
    "tls_ca": (None, as_text()),
    "tls_cert": (None, as_text()),
    "tls_key": (None, as_text()),
}
_REGISTRY: Keys = {
    "url": (REQUIRED, as_text(r"(https?://)?[A-Za-z0-9.-]+(:[0-9]{1,5})?/?", "a HOST[:PORT]")),
    "insecure": (False, _flag),
    "ca": (None, as_text()),
}
_RELEASE: Keys = {
    "service": (None, as_text()),
    "image": (None, as_text()),
    "tag_pattern": ("v{semver}", _tag_pattern),
    "dockerfile": ("Dockerfile", as_text()),
    "context": (".", as_text()),
    "build_args": ({}, _strings),
}
_LB: Keys = {
    "enabled": (False, _flag),
    "bind": ("127.0.0.1", as_text(r"[0-9A-Za-z.:-]{1,64}", "an address to listen on")),
    "dir": (".pipeline-kit/haproxy", as_text()),
    "binary": ("haproxy", as_text(r"[A-Za-z0-9_./-]{1,255}", "a program name or path")),
    "edge_ports": ("31000-31999", _port_range("31000-31999")),
    "drain": ("30s", as_duration),
}
_NOTIFY: Keys = {
    # The name of the variable that holds the webhook URL (a secret: never in the file).
    "webhook_env": (
        "PIPELINE_KIT_WEBHOOK_URL",
        as_text(r"[A-Za-z_][A-Za-z0-9_]{0,127}", "an environment variable name"),
    ),
}
HEALTH_PATH = as_text(r"(/[A-Za-z0-9._~/?=&%-]*)?", "a path such as /health, or ''")
TABLES: dict[str, tuple[Any, Table]] = {
    "hosts": ([], Table(_HOST, many="list")),
    "registry": (None, Table(_REGISTRY)),
    "release": ({}, Table(_RELEASE)),
    "lb": ({}, Table(_LB)),
    "notify": (None, Table(_NOTIFY)),
    "gates": ({}, Table(_GATE, many="names")),
    "freeze": ([], Table(_FREEZE, many="list")),
    "swarm": (None, Table(_SWARM)),
}
CONFIG = Table(
    {
        "stages": (["prod", "qa", "dev"], _stages),
        "versions": ("non-decreasing", as_choice(*VersionPolicy)),
        "min_stacks": (1, as_integer(1, 64)),
        "min_height": (None, as_integer(1, 64)),
        "max_height": (None, as_integer(1, 64)),
        "distinct_hosts": (False, _flag),
        "runtime": (None, as_choice("none", "docker", "swarm")),
        "network": ("host", as_choice("host", "bridge")),
        "ports": ("20000-29999", _port_range("20000-29999")),
        "container_port": (8080, as_integer(1, 65535)),
        "health_path": ("/health", HEALTH_PATH),
        "health_timeout": ("60s", as_duration),
        "database": (DEFAULT_DATABASE, as_text()),
        "lock_timeout": (30, _seconds),
        "groups": ({}, cf.as_groups),
        **TABLES,
    }
)


def docker_host(environ: Mapping[str, str]) -> dict[str, Any]:
    """The host of Docker's own conventions: ``DOCKER_HOST`` (default: the local socket),
    with TLS for a tcp:// URL when ``DOCKER_TLS_VERIFY`` or ``DOCKER_CERT_PATH`` is set (the
    certificates ca.pem, cert.pem and key.pem in ``DOCKER_CERT_PATH``, default ~/.docker)."""
    url = environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    host: dict[str, Any] = {"name": "local", "url": url}
    if not url.startswith("unix://"):
        with contextlib.suppress(ValueError):
            host["address"] = urlsplit(url).hostname or "127.0.0.1"
    if url.startswith("tcp://") and (
        environ.get("DOCKER_TLS_VERIFY") or environ.get("DOCKER_CERT_PATH")
    ):
        home = environ.get("HOME") or "~"
        certs = Path(environ.get("DOCKER_CERT_PATH") or Path(home, ".docker")).expanduser()
        host["tls"] = True
        for name in ("ca", "cert", "key"):
            host[f"tls_{name}"] = str(certs / f"{name}.pem")
    return host


def validate(
    data: dict[str, Any], environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], Problems]:
    """The checked values and every problem found: keys first, then the rules across keys.
    ``environ`` gives Docker's variables (``docker_host``) when ``runtime = "docker"`` names
    no hosts."""
    problems: Problems = []
    values: dict[str, Any] = CONFIG.check(data, (), problems)
    if problems:
        return values, problems
    names = [host["name"] for host in values["hosts"]]
    if len(set(names)) != len(names):
        problems.append((("hosts",), "host names must be distinct"))
    if values["runtime"] is None:
        values["runtime"] = "docker" if values["hosts"] else "none"
    if values["runtime"] == "docker" and not values["hosts"]:
        local = docker_host(environ or {})
        values["hosts"] = [Table(_HOST).check(local, ("DOCKER_HOST",), problems)]
    _swarm(values, environ or {}, problems)
    stages, low, high = len(values["stages"]), values["min_height"], values["max_height"]
    if low is not None and low < stages:
        problems.append(((), f"min_height = {low} is below the number of stages ({stages})"))
    elif high is not None and high < (low or stages):
        problems.append(((), f"max_height = {high} is below min_height ({low or stages})"))
    unknown = sorted(set(values["gates"]) - set(values["stages"]))
    if unknown:
        problems.append(((), f"gates for unknown stage(s): {', '.join(unknown)}"))
    problems += cf.check(values)
    return values, problems


def _swarm(values: dict[str, Any], environ: Mapping[str, str], problems: Problems) -> None:
    """``[swarm]`` only with ``runtime = "swarm"``; its manager defaults to Docker's own
    conventions (``DOCKER_HOST``, else the local socket), as a host named ``swarm``."""
    given = values["swarm"]
    if values["runtime"] != "swarm":
        if given is not None:
            problems.append((("swarm",), 'needs runtime = "swarm"'))
        return
    given = given or {}
    if given.get("manager") is None:
        host = docker_host(environ)
    else:
        host = {key: value for key, value in given.items() if value is not None}
        host["url"] = host.pop("manager")
    host["name"] = "swarm"
    values["swarm"] = Table(_HOST).check(host, ("swarm",), problems)
