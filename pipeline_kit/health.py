"""The one rule for a healthy answer to a health check.

A container's start check, ``verify``'s probe and HAProxy's checks of the servers behind an
endpoint all judge ``GET <health_path>`` by it, so that what passes the start is never then
marked DOWN by HAProxy: any 2xx answer is healthy (``/health`` may well answer 204).
"""

from __future__ import annotations

HEALTHY = range(200, 300)  # the status codes of a healthy answer: 2xx


def healthy(status: int) -> bool:
    """Whether a health check's answer with this HTTP status is healthy."""
    return status in HEALTHY


def haproxy_expect() -> str:
    """The same rule as HAProxy's ``http-check expect`` line (a status range)."""
    return f"http-check expect status {HEALTHY.start}-{HEALTHY.stop - 1}"
