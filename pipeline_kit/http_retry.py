"""The one HTTP retry policy of pipeline-kit's clients (the registry's and GitHub's), and a clock.

A request is resent, within ``attempts`` and while the total of the waits stays within
``max_wait`` (a wait that would not fit ends the retries at once, rather than being cut):

* on 500, 502, 503 and 504, after ``Retry-After`` when the server sends it, else after an
  exponential backoff (``backoff``, twice that, four times that…);
* on rate limits: 429, and a 403 that says it is one (``Retry-After``,
  ``x-ratelimit-remaining: 0``, or a body that speaks of a rate limit). The wait is
  ``Retry-After`` (seconds or an HTTP date), else until ``x-ratelimit-reset`` (plus a second),
  else ``limit_wait`` (GitHub asks for at least a minute on its secondary limits), else backoff;
* when the connection failed: always when the request was never sent (no connection was made,
  or making it timed out); when it may have reached the server (a read timeout, a dropped
  connection) only for methods safe to repeat, so a POST is never repeated blindly. A TLS
  failure or a host name that does not resolve is never retried: waiting does not heal it.

urllib3's own ``Retry`` decides from the status and the mere presence of ``Retry-After`` (it
sees neither GitHub's rate-limit headers nor the body), sleeps with ``time.sleep``, makes no
first wait and has no bound on the total; so the loop is here, and urllib3 lends its list of
idempotent methods. The waits go through a ``Clock`` that tests replace.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import mktime_tz, parsedate_tz

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError
from urllib3.util.retry import Retry

from pipeline_kit.model.errors import InvalidInput

__all__ = [
    "GITHUB",
    "NOTIFY",
    "REGISTRY",
    "RETRY_STATUSES",
    "SAFE_METHODS",
    "SYSTEM_CLOCK",
    "Clock",
    "Outcome",
    "RetryPolicy",
    "rate_limit_reset",
    "resendable",
    "retry_after",
    "send",
]

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({500, 502, 503, 504})  # a server's passing failures
# Methods resent even after the request may have reached the server: urllib3's idempotent
# ones, and PATCH, which pipeline-kit only uses on GitHub, as it always has.
SAFE_METHODS = Retry.DEFAULT_ALLOWED_METHODS | {"PATCH"}
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_EPOCH = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class Clock:
    """What the retries wait with: ``sleep(seconds)`` and ``now()`` (seconds since the epoch)."""

    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.time


SYSTEM_CLOCK = Clock()


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; see the module's description for when."""

    attempts: int  # requests sent at most, the first included
    backoff: float  # seconds before the second attempt; each later wait doubles it
    max_wait: float  # the most the waits of one request may add up to, in seconds
    limit_wait: float | None = None  # a rate limit that names no time; None: the backoff

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 0 or self.max_wait < 0:
            raise InvalidInput(
                f"retry policy: attempts >= 1, backoff >= 0 and max_wait >= 0, not {self}"
            )

    def backoff_wait(self, attempt: int) -> float:
        """The backoff after the ``attempt``-th request (1-based)."""
        return self.backoff * 2.0 ** (attempt - 1)

    def wait_for(self, response: requests.Response, attempt: int, now: float) -> float | None:
        """Seconds to wait before resending after ``response``; None when it is final."""
        headers = response.headers
        if response.status_code in RETRY_STATUSES:
            asked = retry_after(headers, now)
            return self.backoff_wait(attempt) if asked is None else asked
        if not _is_rate_limit(response):
            return None
        for asked in (retry_after(headers, now), rate_limit_reset(headers, now)):
            if asked is not None:
                return asked
        return self.backoff_wait(attempt) if self.limit_wait is None else self.limit_wait


# The registry: a few short waits; a registry that asks for more is reported at once.
REGISTRY = RetryPolicy(attempts=3, backoff=0.25, max_wait=3.0)
# Webhook notifications: a few short waits; a notification is never worth holding a release.
NOTIFY = RetryPolicy(attempts=3, backoff=0.25, max_wait=2.0)
# GitHub: its secondary rate limits ask for at least a minute without Retry-After.
GITHUB = RetryPolicy(attempts=4, backoff=1.0, max_wait=30.0, limit_wait=60.0)


@dataclass(frozen=True)
class Outcome:
    """How a request ended: its last answer or exception, and what the retries did."""

    result: requests.Response | requests.RequestException
    attempts: int  # requests sent
    waited: float  # seconds waited in all
    retryable: bool  # the policy would have resent it, had attempts or time been left
    declined: float | None = None  # the wait that did not fit within max_wait, if any


def send(
    request: Callable[[], requests.Response],
    *,
    method: str,
    policy: RetryPolicy,
    clock: Clock,
    what: str,
) -> Outcome:
    """Send with ``request()`` and resend as ``policy`` says; ``what`` names it in the log.

    Only ``requests`` exceptions are caught; the last one is the outcome's ``result``.
    """
    waited = 0.0
    attempt = 0
    while True:
        attempt += 1
        wait: float | None = None
        result: requests.Response | requests.RequestException
        try:
            result = request()
        except requests.RequestException as exc:
            result = exc
            wait = policy.backoff_wait(attempt) if resendable(method, exc) else None
        else:
            wait = policy.wait_for(result, attempt, clock.now())
        if wait is None or attempt >= policy.attempts:
            return Outcome(result, attempt, waited, retryable=wait is not None)
        if wait > policy.max_wait - waited:
            return Outcome(result, attempt, waited, retryable=True, declined=wait)
        if isinstance(result, requests.Response):
            log.info("%s answered %s; retrying in %.2fs", what, result.status_code, wait)
            result.close()
        else:
            log.info("%s failed (%s); retrying in %.2fs", what, type(result).__name__, wait)
        clock.sleep(wait)
        waited += wait


def resendable(method: str, exc: requests.RequestException) -> bool:
    """Whether a request that failed with ``exc`` may be sent again (see the module)."""
    if isinstance(exc, requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.ConnectTimeout):
        return True  # the connection was never made: nothing was sent
    if not isinstance(exc, requests.ConnectionError | requests.Timeout):
        return False
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    if isinstance(reason, NameResolutionError):
        return False
    if isinstance(reason, NewConnectionError):
        return True  # refused or unreachable: nothing was sent
    return method.upper() in SAFE_METHODS


def retry_after(headers: Mapping[str, str], now: float) -> float | None:
    """The wait ``Retry-After`` asks for (seconds or an HTTP date); None without a usable one."""
    value = headers.get("Retry-After", "").strip()
    if _SECONDS.fullmatch(value):
        return float(value)
    parsed = parsedate_tz(value) if value else None
    if parsed is None:
        return None
    return max(mktime_tz(parsed) - now, 0.0)


def rate_limit_reset(headers: Mapping[str, str], now: float) -> float | None:
    """With ``x-ratelimit-remaining: 0``, the wait until a second past ``x-ratelimit-reset``."""
    reset = headers.get("x-ratelimit-reset", "").strip()
    if headers.get("x-ratelimit-remaining", "").strip() != "0" or not _EPOCH.fullmatch(reset):
        return None
    return max(int(reset) - now, 0.0) + 1.0


def _is_rate_limit(response: requests.Response) -> bool:
    if response.status_code == 429:
        return True
    if response.status_code != 403:
        return False
    headers = response.headers
    if headers.get("Retry-After", "").strip():
        return True
    if headers.get("x-ratelimit-remaining", "").strip() == "0":
        return True
    return "rate limit" in response.text.lower()
