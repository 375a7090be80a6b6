"""A Docker Registry HTTP API v2 client: ping, tags and manifest digests; Basic and Bearer auth.

Nothing here logs or repeats a password or token; every failure is one line naming the registry.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import warnings
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

from pipeline_kit import __version__, http_retry
from pipeline_kit.config_types import Registry
from pipeline_kit.errors import ExternalFailure
from pipeline_kit.http_retry import SYSTEM_CLOCK, Clock
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.registry.auth import Challenge, parse_challenges, preferred, token_of
from pipeline_kit.registry.names import check_repository, check_tag
from pipeline_kit.registry.transport import (
    clear_text_ok,
    endpoint,
    error_codes,
    unanswered,
)

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
CONNECT_TIMEOUT = 5.0
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_ENV_HINT = "set PIPELINE_KIT_REGISTRY_USERNAME and PIPELINE_KIT_REGISTRY_PASSWORD"


class RegistryClient:
    """A client of one registry over one ``requests.Session`` (not for concurrent threads).

    Bearer tokens are cached per scope for the client's life; credentials come from the
    ``Registry`` config (itself filled from the environment) and are never shown. Requests
    are retried as ``pipeline_kit.http_retry.REGISTRY`` says, waiting with ``clock``.
    """

    def __init__(
        self,
        registry: Registry,
        timeout: float = 30.0,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if timeout <= 0:
            raise InvalidInput(f"registry timeout must be positive, not {timeout}")
        self._scheme, self._host, self._verify = endpoint(registry)
        self._base = f"{self._scheme}://{self._host}"
        self._timeout = (min(CONNECT_TIMEOUT, timeout), timeout)
        self._credentials: tuple[str, str] | None = None
        if registry.username and registry.password is not None:
            self._credentials = (registry.username, registry.password)
            if not clear_text_ok(self._base):
                raise InvalidInput(
                    f"registry.url {registry.url!r} is plain http:// and credentials are set: "
                    "they would cross the network in clear text; use https://"
                )
        self._clock = clock
        self._basic = False
        self._tokens: dict[str, str] = {}
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"pipeline-kit/{__version__}"

    # ------------------------------------------------------------------ public API

    @property
    def host(self) -> str:
        """The ``host[:port]`` of the registry, as used in image references."""
        return self._host

    @property
    def base_url(self) -> str:
        """``scheme://host[:port]``."""
        return self._base

    def ping(self) -> None:
        """Check that the registry answers the v2 API and accepts our credentials."""
        response = self._request("GET", "/v2/", scope="")
        if response.status_code == 404:
            raise ExternalFailure(
                f"registry {self._host} does not serve the Docker Registry v2 API at /v2/ "
                "(404): check registry.url"
            )
        self._check(response, "/v2/")

    def tags(self, repository: str, page_size: int = 100) -> list[str]:
        """All tags of ``repository``, sorted; ``[]`` when the registry does not know it."""
        check_repository(repository)
        if page_size < 1:
            raise InvalidInput(f"page size must be at least 1, not {page_size}")
        scope = f"repository:{repository}:pull"
        url: str = f"{self._base}/v2/{repository}/tags/list?n={page_size}"
        seen: set[str] = set()
        found: set[str] = set()
        while True:
            seen.add(url)
            response = self._request("GET", url, scope=scope)
            if response.status_code == 404 and "NAME_UNKNOWN" in error_codes(response):
                return []
            self._check(response, f"the tags of {repository}")
            found.update(self._page(response, repository))
            link = response.links.get("next", {}).get("url")
            if not link:
                return sorted(found)
            url = urljoin(self._base + "/", link)
            if not url.startswith(self._base + "/") or url in seen:
                raise ExternalFailure(
                    f"registry {self._host} sent a bad pagination link for the tags of "
                    f"{repository}: check the registry"
                )

    def digest(self, repository: str, tag: str) -> str | None:
        """The manifest digest of ``repository:tag``, or None when there is no such tag."""
        check_repository(repository)
        check_tag(tag)
        scope = f"repository:{repository}:pull"
        path = f"/v2/{repository}/manifests/{tag}"
        accept = {"Accept": ", ".join(MANIFEST_TYPES)}
        response = self._request("HEAD", path, scope=scope, headers=accept)
        if response.status_code == 404:
            return None
        what = f"the manifest of {repository}:{tag}"
        self._check(response, what)
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:
            response = self._request("GET", path, scope=scope, headers=accept)
            if response.status_code == 404:
                return None
            self._check(response, what)
            digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
        if not _DIGEST.fullmatch(digest):
            raise ExternalFailure(
                f"registry {self._host} sent an invalid digest for {repository}:{tag}: "
                "check the registry"
            )
        return digest

    def image_id(self, repository: str, tag: str) -> str | None:
        """The config digest (the image id) of a single-platform ``repository:tag``, if any."""
        check_repository(repository)
        check_tag(tag)
        path = f"/v2/{repository}/manifests/{tag}"
        accept = {"Accept": ", ".join(MANIFEST_TYPES)}
        response = self._request("GET", path, scope=f"repository:{repository}:pull", headers=accept)
        if response.status_code == 404:
            return None
        self._check(response, f"the manifest of {repository}:{tag}")
        try:
            config = response.json().get("config") or {}
        except ValueError:
            return None
        digest = config.get("digest") if isinstance(config, dict) else None
        return digest if isinstance(digest, str) and _DIGEST.fullmatch(digest) else None

    def labels(self, repository: str, tag: str) -> dict[str, str]:
        """The labels of a single-platform image's config (``{}`` when there is none)."""
        config = self.image_id(repository, tag)
        if config is None:
            return {}
        path = f"/v2/{repository}/blobs/{config}"
        response = self._request("GET", path, scope=f"repository:{repository}:pull")
        self._check(response, f"the image config of {repository}:{tag}")
        try:
            found = (response.json().get("config") or {}).get("Labels") or {}
        except (ValueError, AttributeError):
            return {}
        return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryClient({self._base!r})"

    # -------------------------------------------------------------------- requests

    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        scope: str,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send a request, answering Basic and Bearer challenges (a 401 never returns)."""
        url = path_or_url if "://" in path_or_url else self._base + path_or_url
        fresh: str | None = None
        for _ in range(3):
            sent: str | None = None
            request_headers = dict(headers or {})
            token = fresh or self._tokens.get(scope)
            if token is not None:
                request_headers["Authorization"] = f"Bearer {token}"
                sent = "fresh" if fresh else "cached"
            auth = self._credentials if token is None and self._basic else None
            if auth is not None:
                sent = "basic"
            response = self._send(method, url, headers=request_headers, auth=auth)
            if response.status_code != 401:
                return response
            response.close()
            challenge = preferred(parse_challenges(response.headers.get("WWW-Authenticate", "")))
            if challenge is None:
                raise ExternalFailure(
                    f"registry {self._host} asks for authentication (401) without a Basic or "
                    "Bearer challenge: pipeline-kit cannot log in to it"
                )
            if challenge.scheme == "basic":
                if sent == "basic" or self._credentials is None:
                    raise self._refused()
                self._basic = True
                continue
            if sent == "fresh":
                raise self._refused()
            self._tokens.pop(scope, None)
            fresh = self._fetch_token(challenge)
            self._tokens[scope] = fresh
        raise self._refused()

    def _fetch_token(self, challenge: Challenge) -> str:
        """A Bearer token from the challenge's realm, with Basic credentials when set."""
        realm = challenge.params.get("realm", "")
        if urlsplit(realm).scheme not in ("http", "https") or not urlsplit(realm).netloc:
            raise ExternalFailure(
                f"registry {self._host} sent a Bearer challenge without a usable realm: "
                "check the registry's auth.token.realm"
            )
        if self._credentials is not None and not clear_text_ok(realm):
            raise ExternalFailure(
                f"registry {self._host} sends logins to plain-HTTP realm {urlsplit(realm).netloc}"
                ": refusing to send credentials in clear text; fix its auth.token.realm"
            )
        params = [("service", challenge.params["service"])] if "service" in challenge.params else []
        params += [("scope", scope) for scope in challenge.scopes]
        response = self._send("GET", realm, params=params, auth=self._credentials)
        if response.status_code in (401, 403):
            raise self._refused()
        who = f"token server {urlsplit(realm).netloc} of registry {self._host}"
        self._check(response, "a token request", who=who)
        try:
            token = token_of(response.json())
        except ValueError:
            token = None
        if token is None:
            raise ExternalFailure(
                f"{who} answered without a token: check the registry's auth.token.realm"
            )
        return token

    def _send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: list[tuple[str, str]] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> requests.Response:
        """One request, resent as the shared retry policy says (``pipeline_kit.http_retry``)."""
        who = f"registry {self._host}"
        if not url.startswith(self._base + "/"):
            who = f"token server {urlsplit(url).netloc} of {who}"

        def request() -> requests.Response:
            with self._quiet():
                return self._session.request(
                    method,
                    url,
                    headers=headers,
                    params=params,
                    auth=auth,
                    timeout=self._timeout,
                    verify=self._verify,
                    allow_redirects=method != "HEAD",
                )

        outcome = http_retry.send(
            request,
            method=method,
            policy=http_retry.REGISTRY,
            clock=self._clock,
            what=f"{method} {who}",
        )
        if isinstance(outcome.result, requests.RequestException):
            message = unanswered(who, outcome.result, self._timeout[1])
            raise ExternalFailure(message) from outcome.result
        return outcome.result

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Silence urllib3's warning for unverified HTTPS (only with loopback ``insecure``)."""
        with warnings.catch_warnings():
            if self._verify is False:
                warnings.simplefilter("ignore", InsecureRequestWarning)
            yield

    # ------------------------------------------------------------------- answers

    def _check(self, response: requests.Response, what: str, who: str | None = None) -> None:
        """Raise ExternalFailure unless ``response`` is a success."""
        if response.ok:
            return
        who = who or f"registry {self._host}"
        status = f"{response.status_code} {response.reason or ''}".strip()
        codes = error_codes(response)
        detail = f" [{', '.join(codes)}]" if codes else ""
        if response.status_code == 403:
            raise ExternalFailure(
                f"{who} denied access to {what} ({status}){detail}: check the account's permissions"
            )
        if response.status_code == 429:
            raise ExternalFailure(
                f"{who} is rate limiting requests ({status}) for {what}: try again later"
            )
        if response.status_code >= 500:
            raise ExternalFailure(
                f"{who} failed on {what} ({status}){detail}: try again later or check its logs"
            )
        raise ExternalFailure(
            f"{who} answered {what} unexpectedly ({status}){detail}: check registry.url"
        )

    def _page(self, response: requests.Response, repository: str) -> list[str]:
        """The tags of one page of ``/tags/list``."""
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        tags = body.get("tags") if isinstance(body, dict) else "bad"
        if tags is None:
            return []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ExternalFailure(
                f"registry {self._host} sent an invalid tag list for {repository}: "
                "check registry.url"
            )
        return tags

    def _refused(self) -> ExternalFailure:
        if self._credentials is None:
            return ExternalFailure(f"registry {self._host} needs credentials: {_ENV_HINT}")
        return ExternalFailure(f"registry {self._host} refused the credentials: {_ENV_HINT}")
