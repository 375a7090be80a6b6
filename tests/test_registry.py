"""The registry client against real ``docker-registry`` processes (plain, Basic, token, TLS)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import traceback
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_kit.config_types import Registry
from pipeline_kit.errors import ExternalFailure
from pipeline_kit.http_retry import Clock
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.registry import (
    RegistryClient,
    docker_tag,
    image_reference,
    is_loopback,
    split_image,
    version_of_tag,
)
from tests.support.registry import (
    PaginatingProxy,
    RegistryFactory,
    RunningRegistry,
    TokenServer,
    upload_image,
)

ENV_HINT = "set PIPELINE_KIT_REGISTRY_USERNAME and PIPELINE_KIT_REGISTRY_PASSWORD"


def unique(prefix: str = "team") -> str:
    """A repository name no other test uses."""
    return f"{prefix}/app-{uuid.uuid4().hex[:10]}"


def everything(exc: BaseException) -> str:
    """The whole formatted traceback, chained causes included."""
    return "".join(traceback.format_exception(exc))


def tokens(registry: RunningRegistry) -> TokenServer:
    """The token server of a registry started with ``auth="token"``."""
    assert registry.token_server is not None
    return registry.token_server


@pytest.fixture
def plain(registry_url: str) -> Iterator[RegistryClient]:
    with RegistryClient(Registry(url=registry_url, insecure=True)) as client:
        yield client


# ----------------------------------------------------------------- plain registry


def test_registry_url_fixture_is_host_and_port(registry_url: str) -> None:
    assert re.fullmatch(r"127\.0\.0\.1:\d{2,5}", registry_url)


def test_ping_and_host(plain: RegistryClient, registry_url: str) -> None:
    plain.ping()
    assert plain.host == registry_url
    assert plain.base_url == f"http://{registry_url}"
    assert repr(plain) == f"RegistryClient('http://{registry_url}')"


def test_tags_are_sorted(plain: RegistryClient, registry_url: str) -> None:
    repository = unique()
    for tag in ("latest", "1.2.0_build.1", "1.10.0", "1.2.0"):
        upload_image(registry_url, repository, tag)
    assert plain.tags(repository) == ["1.10.0", "1.2.0", "1.2.0_build.1", "latest"]


def test_tags_follow_link_pagination(registry_factory: RegistryFactory) -> None:
    registry = registry_factory()
    repository = unique()
    tags = [f"1.0.{n}" for n in range(5)]
    for tag in reversed(tags):
        upload_image(registry, repository, tag)
    proxy = PaginatingProxy(registry)
    try:
        with RegistryClient(proxy.config()) as client:
            assert client.tags(repository, page_size=2) == tags
    finally:
        proxy.stop()
    assert proxy.pages == [
        f"/v2/{repository}/tags/list?n=2",
        f"/v2/{repository}/tags/list?n=2&last=1.0.1",
        f"/v2/{repository}/tags/list?n=2&last=1.0.3",
    ]


def test_unknown_repository_has_no_tags(plain: RegistryClient) -> None:
    assert plain.tags(unique("nobody")) == []


def test_digest_matches_the_uploaded_manifest(plain: RegistryClient, registry_url: str) -> None:
    repository = unique()
    first = upload_image(registry_url, repository, "1.0.0")
    second = upload_image(registry_url, repository, docker_tag("1.0.1+build.7"))
    assert first != second
    assert plain.digest(repository, "1.0.0") == first
    assert plain.digest(repository, docker_tag("1.0.1+build.7")) == second
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", first)


def test_digest_of_an_absent_tag_is_none(plain: RegistryClient, registry_url: str) -> None:
    repository = unique()
    upload_image(registry_url, repository, "1.0.0")
    assert plain.digest(repository, "2.0.0") is None
    assert plain.digest(unique("nobody"), "1.0.0") is None


@pytest.mark.parametrize(
    "repository", ["Team/App", "team//app", "-team/app", "team/app/", "../etc", "a b", "", "a:b"]
)
def test_bad_repository_names_are_refused(plain: RegistryClient, repository: str) -> None:
    with pytest.raises(InvalidInput, match="invalid repository name"):
        plain.tags(repository)
    with pytest.raises(InvalidInput, match="invalid repository name"):
        plain.digest(repository, "1.0.0")


@pytest.mark.parametrize("tag", ["", ".hidden", "-x", "a/b", "a:b", "1.0.0+b", "x" * 129, "a b"])
def test_bad_tags_are_refused(plain: RegistryClient, tag: str) -> None:
    with pytest.raises(InvalidInput, match="invalid tag"):
        plain.digest("team/app", tag)


def test_a_registry_that_is_down_fails_fast() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    waits: list[float] = []
    config = Registry(url=f"127.0.0.1:{port}", insecure=True)
    with (
        RegistryClient(config, clock=Clock(sleep=waits.append)) as client,
        pytest.raises(ExternalFailure) as caught,
    ):
        client.tags("team/app")
    assert waits == [0.25, 0.5]  # three attempts, 0.75 s of waiting in all
    message = str(caught.value)
    assert message == (
        f"registry 127.0.0.1:{port} is unreachable (connection refused): check registry.url "
        "and that the registry is running"
    )


# ---------------------------------------------------------------------- Basic auth


def test_basic_auth(registry_factory: RegistryFactory) -> None:
    registry = registry_factory("basic")
    repository = unique()
    digest = upload_image(registry, repository, "2.0.0")
    with RegistryClient(registry.config()) as client:
        client.ping()
        assert client.tags(repository) == ["2.0.0"]
        assert client.digest(repository, "2.0.0") == digest


def test_basic_auth_wrong_password(registry_factory: RegistryFactory) -> None:
    registry = registry_factory("basic")
    wrong = "wrong-" + uuid.uuid4().hex
    with RegistryClient(registry.config(password=wrong)) as client:
        with pytest.raises(ExternalFailure) as caught:
            client.tags("team/app")
        assert str(caught.value) == f"registry {registry.host} refused the credentials: {ENV_HINT}"
        assert wrong not in everything(caught.value)
        assert registry.password
        assert registry.password not in everything(caught.value)
        assert wrong not in repr(client)


def test_basic_auth_without_credentials(registry_factory: RegistryFactory) -> None:
    registry = registry_factory("basic")
    with (
        RegistryClient(registry.config(username=None, password=None)) as client,
        pytest.raises(ExternalFailure, match=f"^registry {registry.host} needs credentials: "),
    ):
        client.ping()


# ---------------------------------------------------------------------- token auth


def test_token_auth(registry_factory: RegistryFactory) -> None:
    registry = registry_factory("token")
    repository = unique()
    digest = upload_image(registry, repository, "3.0.0")
    with RegistryClient(registry.config()) as client:
        client.ping()
        assert client.tags(repository) == ["3.0.0"]
        assert client.digest(repository, "3.0.0") == digest
        assert client.digest(repository, "3.0.1") is None
    seen = tokens(registry).scopes_seen()
    # One token for the scope serves both calls: the token is cached.
    assert seen.count(f"repository:{repository}:pull") == 1
    assert all(request.authorized for request in tokens(registry).requests)


def test_token_auth_with_access_token_field(registry_factory: RegistryFactory) -> None:
    registry = registry_factory("token", answer_with="access_token")
    repository = unique()
    upload_image(registry, repository, "1.0.0")
    with RegistryClient(registry.config()) as client:
        assert client.tags(repository) == ["1.0.0"]
    assert f"repository:{repository}:pull" in tokens(registry).scopes_seen()


def test_token_auth_wrong_password(registry_factory: RegistryFactory) -> None:
    registry = registry_factory("token")
    wrong = "wrong-" + uuid.uuid4().hex
    repository = unique()
    with (
        RegistryClient(registry.config(password=wrong)) as client,
        pytest.raises(ExternalFailure) as caught,
    ):
        client.tags(repository)
    assert str(caught.value) == f"registry {registry.host} refused the credentials: {ENV_HINT}"
    assert wrong not in everything(caught.value)
    asked = [r for r in tokens(registry).requests if r.scopes == (f"repository:{repository}:pull",)]
    assert [r.authorized for r in asked] == [False]


def test_token_auth_without_credentials(registry_factory: RegistryFactory) -> None:
    registry = registry_factory("token")
    with (
        RegistryClient(registry.config(username=None, password=None)) as client,
        pytest.raises(ExternalFailure, match=f"^registry {registry.host} needs credentials: "),
    ):
        client.tags(unique())


# ----------------------------------------------------------------------------- TLS


def test_tls_with_ca(registry_factory: RegistryFactory) -> None:
    registry = registry_factory(tls=True)
    repository = unique()
    digest = upload_image(registry, repository, "1.0.0")
    with RegistryClient(registry.config()) as client:
        assert client.base_url == f"https://{registry.host}"
        client.ping()
        assert client.digest(repository, "1.0.0") == digest


def test_tls_without_ca_fails_verification(registry_factory: RegistryFactory) -> None:
    registry = registry_factory(tls=True)
    with (
        RegistryClient(registry.config(ca=None)) as client,
        pytest.raises(ExternalFailure) as caught,
    ):
        client.ping()
    message = str(caught.value)
    assert message.startswith(f"registry {registry.host} failed TLS verification (")
    assert message.endswith("set registry.ca to the CA bundle that signed its certificate")


def test_insecure_https_on_loopback_skips_verification(registry_factory: RegistryFactory) -> None:
    registry = registry_factory(tls=True)
    config = registry.config(url=f"https://{registry.host}", ca=None, insecure=True)
    with RegistryClient(config) as client:  # and no InsecureRequestWarning (warnings are errors)
        client.ping()


def test_plain_http_client_against_tls_registry(registry_factory: RegistryFactory) -> None:
    registry = registry_factory(tls=True)
    with (
        RegistryClient(registry.config(url=f"http://{registry.host}")) as client,
        pytest.raises(ExternalFailure, match=f"registry {registry.host} answered /v2/ unexp"),
    ):
        client.ping()


# ------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("url", "insecure", "base", "host"),
    [
        ("127.0.0.1:5000", True, "http://127.0.0.1:5000", "127.0.0.1:5000"),
        ("127.0.0.1:5000", False, "https://127.0.0.1:5000", "127.0.0.1:5000"),
        ("http://127.0.0.1:5000", False, "http://127.0.0.1:5000", "127.0.0.1:5000"),
        ("https://localhost:5000/", True, "https://localhost:5000", "localhost:5000"),
        ("registry.example.com", False, "https://registry.example.com", "registry.example.com"),
        ("HTTPS://registry.example.com:443", False, "https://registry.example.com:443", None),
    ],
)
def test_scheme_and_host(url: str, insecure: bool, base: str, host: str | None) -> None:
    with RegistryClient(Registry(url=url, insecure=insecure)) as client:
        assert client.base_url == base
        assert client.host == (host or base.split("://")[1])


@pytest.mark.parametrize(
    "url", ["registry.example.com", "https://10.0.0.5:5000", "http://localhost.example.com"]
)
def test_insecure_is_only_for_loopback(url: str) -> None:
    with pytest.raises(InvalidInput, match=r"^registry\.insecure is allowed only for loopback"):
        RegistryClient(Registry(url=url, insecure=True))


@pytest.mark.parametrize(
    ("name", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("128.0.0.1", False),
    ],
)
def test_is_loopback(name: str, loopback: bool) -> None:
    assert is_loopback(name) is loopback


@pytest.mark.parametrize(
    "url", ["ftp://registry.example.com", "user:pw@registry.example.com", "a b", "host:99999", ""]
)
def test_bad_registry_url(url: str) -> None:
    with pytest.raises(InvalidInput, match=r"^invalid registry\.url"):
        RegistryClient(Registry(url=url))


def test_missing_ca_file(tmp_path: Any) -> None:
    with pytest.raises(InvalidInput, match=r"^registry\.ca .* is not a file"):
        RegistryClient(Registry(url="registry.example.com", ca=str(tmp_path / "none.pem")))


def test_credentials_never_go_to_a_remote_plain_http_registry() -> None:
    secret = uuid.uuid4().hex
    config = Registry(url="http://registry.example.com", username="someone", password=secret)
    with pytest.raises(InvalidInput, match=r"in clear text; use https://$") as caught:
        RegistryClient(config)
    assert secret not in everything(caught.value)


def test_secrets_stay_out_of_reprs() -> None:
    secret = uuid.uuid4().hex
    config = Registry(url="registry.example.com", username="someone", password=secret)
    with RegistryClient(config) as client:
        assert secret not in repr(client) + repr(config)


# ------------------------------------------------- scripted answers (retries, links)


class Scripted:
    """An HTTP server on 127.0.0.1 answering from a script; the last answer repeats."""

    def __init__(self, *answers: tuple[int, dict[str, str], bytes]) -> None:
        self.answers = list(answers)
        self.paths: list[str] = []
        self.waits: list[float] = []  # what the clients asked to wait, in seconds
        self.now = 1_700_000_000.0  # the clients' clock
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.paths.append(self.path)
                status, headers, body = owner.answers[min(len(owner.paths), len(answers)) - 1]
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.host = f"127.0.0.1:{self.server.server_address[1]}"

    def client(self) -> RegistryClient:
        clock = Clock(sleep=self.waits.append, now=lambda: self.now)
        return RegistryClient(Registry(url=self.host, insecure=True), clock=clock)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[type[Scripted]]:
    servers: list[Scripted] = []

    class Tracked(Scripted):
        def __init__(self, *answers: tuple[int, dict[str, str], bytes]) -> None:
            super().__init__(*answers)
            servers.append(self)

    yield Tracked
    for server in servers:
        server.stop()


OK = (200, {"Content-Type": "application/json"}, b"{}")


def test_transient_failures_are_retried(scripted: type[Scripted]) -> None:
    server = scripted((503, {}, b""), (502, {}, b""), OK)
    with server.client() as client:
        client.ping()
    assert len(server.paths) == 3
    assert server.waits == [0.25, 0.5]


def test_retry_after_is_honoured(scripted: type[Scripted]) -> None:
    server = scripted((429, {"Retry-After": "1"}, b""), OK)
    with server.client() as client:
        client.ping()
    assert server.waits == [1.0]
    assert len(server.paths) == 2


def test_retry_after_as_a_date_is_honoured(scripted: type[Scripted]) -> None:
    date = "Tue, 14 Nov 2023 22:13:22 GMT"  # two seconds after the clients' clock
    server = scripted((503, {"Retry-After": date}, b""), OK)
    with server.client() as client:
        client.ping()
    assert server.waits == [2.0]
    assert len(server.paths) == 2


def test_a_long_retry_after_is_not_waited_for(scripted: type[Scripted]) -> None:
    server = scripted((429, {"Retry-After": "600"}, b""))
    with server.client() as client, pytest.raises(ExternalFailure, match="rate limiting"):
        client.ping()
    assert server.waits == []
    assert len(server.paths) == 1


def test_server_errors_are_bounded(scripted: type[Scripted]) -> None:
    body = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "down"}]}).encode()
    server = scripted((503, {"Content-Type": "application/json"}, body))
    with server.client() as client, pytest.raises(ExternalFailure) as caught:
        client.tags("team/app")
    assert server.waits == [0.25, 0.5]
    assert len(server.paths) == 3
    assert str(caught.value) == (
        f"registry {server.host} failed on the tags of team/app (503 Service Unavailable) "
        "[UNAVAILABLE]: try again later or check its logs"
    )


def test_a_pagination_link_to_another_host_is_refused(scripted: type[Scripted]) -> None:
    link = '<http://attacker.example/v2/team/app/tags/list?n=1&last=a>; rel="next"'
    page = json.dumps({"name": "team/app", "tags": ["a"]}).encode()
    server = scripted((200, {"Link": link, "Content-Type": "application/json"}, page))
    with server.client() as client, pytest.raises(ExternalFailure, match="bad pagination link"):
        client.tags("team/app")
    assert len(server.paths) == 1


def test_a_401_without_a_challenge(scripted: type[Scripted]) -> None:
    server = scripted((401, {}, b""))
    with server.client() as client, pytest.raises(ExternalFailure, match="without a Basic or"):
        client.ping()


def test_credentials_never_go_to_a_remote_plain_http_realm(scripted: type[Scripted]) -> None:
    challenge = 'Bearer realm="http://auth.example.invalid/token",service="r"'
    server = scripted((401, {"WWW-Authenticate": challenge}, b""))
    config = Registry(url=server.host, insecure=True, username="u", password=uuid.uuid4().hex)
    with (
        RegistryClient(config) as client,
        pytest.raises(ExternalFailure, match="refusing to send credentials in clear text"),
    ):
        client.ping()


def test_digest_without_header_is_computed_from_the_manifest(scripted: type[Scripted]) -> None:
    manifest = b'{"schemaVersion": 2}'
    server = scripted((200, {"Content-Type": "application/json"}, manifest))
    with server.client() as client:
        digest = client.digest("team/app", "1.0.0")
    assert digest == "sha256:" + hashlib.sha256(manifest).hexdigest()
    assert server.paths == ["/v2/team/app/manifests/1.0.0"] * 2


# -------------------------------------------------------------------- naming helpers


@pytest.mark.parametrize(
    ("version", "tag"),
    [
        ("1.2.3", "1.2.3"),
        ("1.2.3+build.5", "1.2.3_build.5"),
        ("v1.2.3-rc.1+sha.abc123", "v1.2.3-rc.1_sha.abc123"),
        ("latest", "latest"),
        ("nightly_2024", "nightly_2024"),
    ],
)
def test_docker_tag_round_trip(version: str, tag: str) -> None:
    assert docker_tag(version) == tag
    assert version_of_tag(tag) == version


@pytest.mark.parametrize("version", ["1.2.3_x", "1.2.3+a+b", "", "-1", "1.2.3 4", "x" * 129])
def test_versions_that_cannot_be_tags(version: str) -> None:
    with pytest.raises(InvalidInput, match="cannot be a Docker tag"):
        docker_tag(version)


_IDENT = st.from_regex(r"[0-9A-Za-z-]{1,8}", fullmatch=True)
_NUMBER = st.integers(min_value=0, max_value=10**6).map(str)


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from(["", "v"]),
    core=st.tuples(_NUMBER, _NUMBER, _NUMBER).map(".".join),
    pre=st.lists(
        st.one_of(_NUMBER, st.from_regex(r"[A-Za-z-][0-9A-Za-z-]{0,6}", fullmatch=True)), max_size=3
    ),
    build=st.lists(_IDENT, max_size=3),
)
def test_semver_round_trip(prefix: str, core: str, pre: list[str], build: list[str]) -> None:
    version = (
        prefix
        + core
        + ("-" + ".".join(pre) if pre else "")
        + ("+" + ".".join(build) if build else "")
    )
    tag = docker_tag(version)
    assert "+" not in tag
    assert version_of_tag(tag) == version


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("team/app", (None, "team/app")),
        ("app", (None, "app")),
        ("registry.example.com/team/app", ("registry.example.com", "team/app")),
        ("127.0.0.1:5000/app", ("127.0.0.1:5000", "app")),
        ("localhost/app", ("localhost", "app")),
        ("Registry/app", ("Registry", "app")),
    ],
)
def test_split_image(image: str, expected: tuple[str | None, str]) -> None:
    assert split_image(image) == expected


@pytest.mark.parametrize(
    ("host", "image", "version", "reference"),
    [
        ("127.0.0.1:5000", "team/app", "1.2.3", "127.0.0.1:5000/team/app:1.2.3"),
        ("127.0.0.1:5000", "team/app", "1.2.3+build.5", "127.0.0.1:5000/team/app:1.2.3_build.5"),
        (None, "team/app", "1.2.3", "team/app:1.2.3"),
        ("", "team/app", "1.2.3", "team/app:1.2.3"),
        (
            "127.0.0.1:5000",
            "other.example.com/team/app",
            "2.0.0",
            "other.example.com/team/app:2.0.0",
        ),
        ("127.0.0.1:5000", "localhost:5001/app", "v1.0.0", "localhost:5001/app:v1.0.0"),
        ("127.0.0.1:5000", "localhost/app", "1.0.0", "localhost/app:1.0.0"),
    ],
)
def test_image_reference(host: str | None, image: str, version: str, reference: str) -> None:
    assert image_reference(host, image, version) == reference


@pytest.mark.parametrize(
    ("image", "version"), [("Team/App", "1.0.0"), ("team/app:1.0", "1.0.0"), ("team/app", "a+b+c")]
)
def test_image_reference_refuses_bad_input(image: str, version: str) -> None:
    with pytest.raises(InvalidInput):
        image_reference("127.0.0.1:5000", image, version)
