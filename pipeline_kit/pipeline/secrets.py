"""A service's secrets at deploy time: values from the runner's environment, never stored.

Each secret name ``NAME`` of a stage's configuration is read from ``$NAME``, else from the
file named by ``$NAME_FILE`` (one trailing newline stripped), as Docker and most CI systems
provide them. An empty value counts as unset: a CI system gives an empty string for a secret
it does not pass on (e.g. to a fork's pull request). No message ever holds a value; ``mask``
hides the values in text shown to the user (hook output, errors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from pipeline_kit.config import line_of
from pipeline_kit.config_types import ServiceDecl, Settings
from pipeline_kit.model.errors import InvalidInput

MASK = "***"
MIN_MASKED = 4  # shorter values are left alone: masking them would hide ordinary text


def resolve(
    settings: Settings, decl: ServiceDecl, stage: str, environ: Mapping[str, str]
) -> dict[str, str]:
    """The values of the secrets of ``decl`` at ``stage``, by name; an unset or unreadable
    one is bad input, named with where the config declares it."""
    return {name: _value(settings, decl, stage, name, environ) for name in decl.at(stage).secrets}


def _value(
    settings: Settings, decl: ServiceDecl, stage: str, name: str, environ: Mapping[str, str]
) -> str:
    value = environ.get(name)
    if value:
        return value
    what = f"secret {name} of service {decl.name} ({_where(settings, decl, stage, name)})"
    file = environ.get(name + "_FILE")
    if not file:
        raise InvalidInput(
            f"{what} is not set: set {name} (or {name}_FILE) in the runner's environment"
        )
    try:
        text = Path(file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise InvalidInput(f"{what}: cannot read {name}_FILE={file}: {reason}") from None
    newline = "\r\n" if text.endswith("\r\n") else "\n" if text.endswith("\n") else ""
    value = text[: len(text) - len(newline)]
    if not value:
        raise InvalidInput(f"{what} is empty: {name}_FILE={file} names an empty file")
    return value


def _where(settings: Settings, decl: ServiceDecl, stage: str, name: str) -> str:
    """``file:line`` of the ``secrets`` list that names ``name`` (the service's own, else the
    stage's), else of ``[services.NAME]``."""
    path = settings.source
    if path is None:
        return "no config file"
    at_stage = ("services", decl.name, "stages", stage, "secrets")
    own = ("services", decl.name, "secrets")
    line = line_of(path, own if name in decl.base.secrets else at_stage) or decl.line
    return f"{_shown(path)}:{line}" if line else _shown(path)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (OSError, ValueError):
        return str(path)


def mask(text: str, values: Iterable[str]) -> str:
    """``text`` with every secret value (and every line of a multi-line one) replaced by
    ``***``; the longest first, so that no part of a longer value is left."""
    parts: set[str] = set()
    for value in values:
        parts.add(value)
        parts.update(line.strip() for line in value.splitlines())
    for part in sorted((p for p in parts if len(p) >= MIN_MASKED), key=len, reverse=True):
        text = text.replace(part, MASK)
    return text
