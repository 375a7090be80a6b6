"""``WWW-Authenticate`` challenges and token answers of the Docker Registry v2 auth flows."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9_-]*)(?=\s|$|,)")
_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    """One challenge: ``scheme`` in lowercase (``basic``, ``bearer``) and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def scopes(self) -> list[str]:
        """The requested scopes (space-separated in the ``scope`` parameter)."""
        return self.params.get("scope", "").split()


def parse_challenges(header: str) -> list[Challenge]:
    """The challenges of a ``WWW-Authenticate`` header, in order.

    ``Bearer realm="https://auth/token",service="registry",scope="repository:a:pull"`` →
    ``[Challenge("bearer", {"realm": …, "service": …, "scope": …})]``.
    """
    challenges: list[Challenge] = []
    position = 0
    while position < len(header):
        scheme = _SCHEME.match(header, position)
        if scheme is None:
            break
        params: dict[str, str] = {}
        position = scheme.end()
        while True:
            param = _PARAM.match(header, position)
            if param is None:
                break
            name, quoted, bare = param.groups()
            value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
            params[name.lower()] = value
            position = param.end()
        challenges.append(Challenge(scheme.group(1).lower(), params))
        while position < len(header) and header[position] in " ,":
            position += 1
    return challenges


def token_of(answer: Any) -> str | None:
    """The token of a token server's JSON answer (``token``, else ``access_token``)."""
    if not isinstance(answer, dict):
        return None
    for key in ("token", "access_token"):
        value = answer.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def preferred(challenges: list[Challenge]) -> Challenge | None:
    """The Bearer challenge if any, else the Basic one."""
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return None
