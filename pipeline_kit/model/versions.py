"""Versions: SemVer 2.0 precedence with an optional ``v`` prefix, and the ordering policies."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING

from pipeline_kit.model.errors import InvalidInput

if TYPE_CHECKING:
    import semver

# What a container tag may hold (Docker's tag grammar, with '+' for SemVer build metadata).
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")


class VersionPolicy(StrEnum):
    """How versions must be ordered going up a stack."""

    NON_DECREASING = "non-decreasing"
    INCREASING = "increasing"
    ANY = "any"


@lru_cache(maxsize=65536)
def parse(text: str) -> semver.Version | None:
    """The SemVer value of ``text`` (``v`` prefix allowed), or None when it is not a version."""
    if not _SAFE.fullmatch(text):
        return None
    body = text[1:] if text[:1] in ("v", "V") else text
    import semver  # on first use: the model imports no third-party package

    try:
        return semver.Version.parse(body)
    except ValueError:
        return None


def validate(text: str, policy: VersionPolicy) -> str:
    """Return ``text`` if it is a valid version under ``policy``, else raise InvalidInput."""
    if policy is VersionPolicy.ANY:
        if not _SAFE.fullmatch(text):
            raise InvalidInput(
                f"invalid version {text!r}: use letters, digits, '.', '_', '-' or '+' "
                "(at most 128, starting with a letter or digit)"
            )
        return text
    if parse(text) is None:
        raise InvalidInput(
            f"invalid version {text!r}: expected SemVer 2.0 such as v1.2.3 or 1.2.3-rc.1"
        )
    return text


def is_prerelease(text: str) -> bool:
    """True when ``text`` is a SemVer pre-release (``1.0.0-rc.1``)."""
    value = parse(text)
    return value is not None and value.prerelease is not None


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 by SemVer precedence (build metadata ignored); both must be versions."""
    va, vb = parse(a), parse(b)
    if va is None or vb is None:
        raise InvalidInput(f"cannot compare {a!r} and {b!r}: not both versions")
    return va.compare(vb)


@lru_cache(maxsize=65536)
def in_order(lower: str, upper: str, policy: VersionPolicy) -> bool:
    """Whether ``upper`` may sit above ``lower`` on a stack under ``policy``."""
    if policy is VersionPolicy.ANY:
        return True
    va, vb = parse(lower), parse(upper)
    if va is None or vb is None:
        return False
    order = va.compare(vb)
    return order < 0 if policy is VersionPolicy.INCREASING else order <= 0


def sort_key(text: str) -> tuple[int, semver.Version | str]:
    """A key that sorts versions by precedence and non-versions after them, by text."""
    value = parse(text)
    return (0, value) if value is not None else (1, text)
