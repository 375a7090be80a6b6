"""Where a registry is and how its failures read: endpoint parsing and one-line messages."""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import NameResolutionError

from pipeline_kit.config_types import Registry
from pipeline_kit.model.errors import InvalidInput

_URL = re.compile(r"(?:(https?)://)?([^/\s?#@]+)/?", re.IGNORECASE)
_SSL_REASON = re.compile(r"\[SSL: [A-Z0-9_]+\] ([^()'\"]+?)\s*(?:\(|'|\"|$)")


def is_loopback(hostname: str) -> bool:
    """Whether ``hostname`` is ``localhost``, in 127.0.0.0/8 or ``::1``."""
    if hostname.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname.strip("[]")).is_loopback
    except ValueError:
        return False


def endpoint(registry: Registry) -> tuple[str, str, bool | str]:
    """(scheme, host[:port], verify) of a registry config; InvalidInput when unusable."""
    match = _URL.fullmatch(registry.url.strip())
    parts = urlsplit(f"//{match.group(2)}") if match else None
    try:
        valid = parts is not None and bool(parts.hostname) and parts.port != 0
    except ValueError:
        valid = False
    if match is None or parts is None or not valid:
        raise InvalidInput(
            f"invalid registry.url {registry.url!r}: expected host[:port] such as "
            "registry.example.com or 127.0.0.1:5000, optionally with https:// or http://"
        )
    host = match.group(2)
    if registry.insecure and not is_loopback(parts.hostname or ""):
        raise InvalidInput(
            "registry.insecure is allowed only for loopback registries such as "
            f"127.0.0.1:5000, not {host}: use https and set registry.ca for a private CA"
        )
    scheme = (match.group(1) or ("http" if registry.insecure else "https")).lower()
    if registry.ca is not None and not os.path.isfile(registry.ca):
        raise InvalidInput(
            f"registry.ca {registry.ca!r} is not a file: give the path of a PEM CA bundle"
        )
    verify: bool | str = True
    if scheme == "https":
        verify = False if registry.insecure else (registry.ca or True)
    return scheme, host, verify


def error_codes(response: requests.Response) -> list[str]:
    """The ``errors[].code`` of a registry error body (empty when there is none)."""
    if not response.content:
        return []
    try:
        body: Any = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    codes = [e.get("code") for e in errors if isinstance(e, dict)]
    return [c for c in codes if isinstance(c, str) and re.fullmatch(r"[A-Z_]{1,40}", c)]


def connection_reason(exc: requests.exceptions.ConnectionError) -> str:
    """A short reason of a failed connection."""
    cause: Any = exc.args[0] if exc.args else None
    if isinstance(getattr(cause, "reason", None), NameResolutionError):
        return "name not resolved"
    text = str(exc)
    for needle, reason in (
        ("Name or service not known", "name not resolved"),
        ("nodename nor servname", "name not resolved"),
        ("Temporary failure in name resolution", "name not resolved"),
        ("Connection refused", "connection refused"),
        ("Connection reset", "connection reset"),
        ("RemoteDisconnected", "connection closed"),
        ("No route to host", "no route to host"),
        ("Network is unreachable", "network unreachable"),
    ):
        if needle in text:
            return reason
    return "connection failed"


def tls_message(who: str, exc: requests.exceptions.SSLError) -> str:
    """One line for a TLS failure."""
    text = str(exc)
    match = _SSL_REASON.search(text)
    reason = match.group(1).strip() if match else "TLS error"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return (
            f"{who} failed TLS verification ({reason}): set registry.ca to the "
            "CA bundle that signed its certificate"
        )
    return (
        f"TLS handshake with {who} failed ({reason}): check that it serves HTTPS "
        "there, or use http:// for a plain-HTTP registry"
    )


def unanswered(who: str, exc: requests.RequestException, timeout: float) -> str:
    """One line for a request that got no answer (after the retries the policy allows)."""
    if isinstance(exc, requests.exceptions.SSLError):
        return tls_message(who, exc)
    if isinstance(exc, requests.exceptions.Timeout):
        return (
            f"{who} is unreachable (timed out after {timeout:g}s): "
            "check registry.url and the network"
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        return (
            f"{who} is unreachable ({connection_reason(exc)}): check registry.url and "
            "that the registry is running"
        )
    return f"request to {who} failed ({type(exc).__name__}): check registry.url"


def clear_text_ok(url: str) -> bool:
    """Whether credentials may go to ``url``: HTTPS, or plain HTTP to a loopback host."""
    parts = urlsplit(url)
    return parts.scheme == "https" or is_loopback(parts.hostname or "")
