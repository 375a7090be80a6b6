"""The wire details of the GitHub client: its error, retry waits, limits and small parsers."""

from __future__ import annotations

import time
from typing import Any

import requests
from urllib3.exceptions import NewConnectionError

from pipeline_kit.model.errors import ExternalFailure, InvalidInput

SECONDARY_LIMIT_WAIT = 60.0  # GitHub: without retry-after, wait at least one minute


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


def may_resend(method: str, exc: requests.RequestException) -> bool:
    """A GET or PATCH is safe to resend; a POST only when its connection was never made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError | requests.Timeout):
        return False
    if method in ("GET", "PATCH"):
        return True
    return isinstance(
        getattr(exc.args[0] if exc.args else None, "reason", None), NewConnectionError
    )


def retry_wait(response: requests.Response, attempt: int) -> float | None:
    """Seconds to wait before resending, or None when it must not be resent."""
    status, headers = response.status_code, response.headers
    if status >= 500:
        return float(2 ** (attempt - 1))  # short exponential backoff
    if status not in (403, 429):
        return None
    retry_after = headers.get("Retry-After", "").strip()
    if retry_after:  # a secondary rate limit; GitHub sends seconds
        return float(retry_after) if retry_after.isdigit() else SECONDARY_LIMIT_WAIT
    reset = headers.get("x-ratelimit-reset", "")
    if headers.get("x-ratelimit-remaining") == "0" and reset.isdigit():
        return max(int(reset) - time.time(), 0.0) + 1.0  # the primary limit: past its reset
    if status == 429 or "rate limit" in response.text.lower():
        return SECONDARY_LIMIT_WAIT
    return None
