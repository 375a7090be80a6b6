"""Repository names, tags and image references as Docker spells them."""

from __future__ import annotations

import re

from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.items import check_image
from pipeline_kit.model.versions import parse

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_MAX_REPOSITORY = 255


def check_repository(repository: str) -> str:
    """Return ``repository`` (a path such as ``team/webapp``) if valid, else raise InvalidInput."""
    if len(repository) > _MAX_REPOSITORY or not _REPOSITORY.fullmatch(repository):
        raise InvalidInput(
            f"invalid repository name {repository!r}: use lowercase path components such as "
            "team/webapp (letters, digits and single '.', '_' or '-' between them)"
        )
    return repository


def check_tag(tag: str) -> str:
    """Return ``tag`` if it is a valid Docker tag, else raise InvalidInput."""
    if not _TAG.fullmatch(tag):
        raise InvalidInput(
            f"invalid tag {tag!r}: use letters, digits, '_', '.' or '-' "
            "(at most 128, not starting with '.' or '-')"
        )
    return tag


def version_of_tag(tag: str) -> str:
    """The version a tag stands for: ``1.2.3_build.5`` → ``1.2.3+build.5``; others unchanged."""
    if "_" in tag:
        candidate = tag.replace("_", "+", 1)
        if parse(candidate) is not None:
            return candidate
    return tag


def docker_tag(version: str) -> str:
    """A version as a Docker tag: SemVer build metadata ``+`` becomes ``_``.

    Raises InvalidInput when the result is no valid tag or would not read back as ``version``.
    """
    tag = version.replace("+", "_")
    if not _TAG.fullmatch(tag) or version_of_tag(tag) != version:
        raise InvalidInput(
            f"version {version!r} cannot be a Docker tag: use letters, digits, '.', '-' and "
            "at most one '+' for SemVer build metadata (such as 1.2.3+build.5)"
        )
    return tag


def split_image(image: str) -> tuple[str | None, str]:
    """(registry host or None, repository path) of an image name without tag.

    The first path component is a registry host when it contains ``.`` or ``:``, is
    ``localhost`` or has an uppercase letter (Docker's rule).
    """
    first, slash, rest = image.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        return first, rest
    return None, image


def image_reference(registry_host: str | None, image: str, version: str) -> str:
    """``HOST/IMAGE:TAG``, or ``IMAGE:TAG`` when ``image`` names its registry or none is set."""
    host, repository = split_image(image)
    check_repository(repository)
    if host is not None:
        check_image(image)
    tag = docker_tag(version)
    if host is not None or not registry_host:
        return f"{image}:{tag}"
    return f"{registry_host}/{image}:{tag}"
