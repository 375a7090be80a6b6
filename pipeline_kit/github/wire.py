"""The wire details of the GitHub client: its error, limits and small parsers."""

from __future__ import annotations

from typing import Any

import requests

from pipeline_kit.errors import ExternalFailure
from pipeline_kit.model.errors import InvalidInput


class GitHubError(ExternalFailure):
    """GitHub refused or failed a request; ``status`` is the HTTP status when there was one."""

    def __init__(
        self, message: str, *, status: int | None = None, permission: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.permission = permission


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip_bytes(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` bytes of UTF-8, an ellipsis marking the cut."""
    encoded = text.encode()
    return text if len(encoded) <= limit else encoded[: limit - 3].decode(errors="ignore") + "…"


def one_line(text: str, limit: int = 300) -> str:
    return clip(" ".join(text.split()), limit)


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidInput(f"{what} {value!r}: expected one of {', '.join(choices)}")


def permissions(header: str) -> str | None:
    """``a=write; b=read,c=write`` (alternative sets) as ``a: write or b: read and c: write``."""
    sets = [
        " and ".join(part.strip().replace("=", ": ") for part in group.split(",") if part.strip())
        for group in header.split(";")
    ]
    return " or ".join(found for found in sets if found) or None


def json_of(response: requests.Response, what: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise GitHubError(f"GitHub answered {what} with no JSON") from None


def id_of(data: Any) -> int:
    value = data.get("id") if isinstance(data, dict) else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise GitHubError("GitHub answered without an id")
    return value
