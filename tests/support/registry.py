"""Real Docker registries for the test suite, started from Debian's ``docker-registry``.

``registry_url`` (session) is a plain registry without auth on 127.0.0.1, as
``"127.0.0.1:PORT"`` (Docker treats loopback registries as insecure, so it pushes over
HTTP). ``registry_factory`` (session) starts registries with Basic auth (an htpasswd file
with a bcrypt hash), with Bearer token auth (a token server in a thread that checks Basic
credentials and issues RS256 JWTs) or with TLS (a self-signed certificate for 127.0.0.1);
``registry_factory(auth="basic")`` is started once per session and shared, pass
``fresh=True`` for a registry of one's own. Every registry stores its blobs in a temp
folder, allows deletes and is stopped when the session ends.

``upload_image`` pushes a tiny one-layer image through the HTTP API alone (no Docker
engine) and returns its manifest digest.

Usage from a conftest.py::

    from tests.support.registry import registry_factory, registry_url
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import datetime as dt
import gzip
import hashlib
import io
import ipaddress
import json
import platform
import secrets
import shutil
import socket
import subprocess
import tarfile
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import parse_qs, urljoin, urlsplit

import bcrypt
import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from pipeline_kit.config_types import Registry

__all__ = [
    "BINARY",
    "PaginatingProxy",
    "RegistryFactory",
    "RunningRegistry",
    "TokenServer",
    "registry_factory",
    "registry_url",
    "start_registry",
    "upload_image",
]

BINARY = "/usr/bin/docker-registry"
HOST = "127.0.0.1"
USERNAME = "pk-tester"
SERVICE = "pk-test-registry"
ISSUER = "pk-test-token-issuer"
_START_TIMEOUT = 20.0
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
Auth = Literal["none", "basic", "token"]
AnswerWith = Literal["token", "access_token", "both"]

# ------------------------------------------------------------------ keys and certs


@dataclass(frozen=True)
class KeyPair:
    """An RSA key and a self-signed certificate for it (also its own CA)."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der_b64(self) -> str:
        return base64.b64encode(self.cert.public_bytes(serialization.Encoding.DER)).decode()


def make_keypair(common_name: str, *, server: bool = False) -> KeyPair:
    """A 2048-bit RSA key and a self-signed cert; ``server``: SANs 127.0.0.1 and localhost."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
    return KeyPair(key, builder.sign(key, hashes.SHA256()))


# --------------------------------------------------------------------- token server


@dataclass(frozen=True)
class TokenRequest:
    """What the token server was asked: scopes, service and whether the login was good."""

    scopes: tuple[str, ...]
    service: str
    authorized: bool


class TokenServer:
    """A Docker token server on 127.0.0.1: Basic login, RS256 JWT with ``x5c`` and ``access``.

    ``answer_with`` is the answer's key for the token (``token``, ``access_token`` or
    ``both``). ``requests`` lists what was asked, for assertions.
    """

    def __init__(
        self, username: str, password: str, answer_with: AnswerWith = "both", lifetime: int = 300
    ) -> None:
        self.username = username
        self._expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.answer_with = answer_with
        self.lifetime = lifetime
        self.keys = make_keypair("pk-test token signer")
        self.requests: list[TokenRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((HOST, 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def realm(self) -> str:
        """The realm URL to put in the registry config."""
        return f"http://{HOST}:{self._server.server_address[1]}/token"

    def scopes_seen(self) -> list[str]:
        """Every scope asked for so far."""
        with self._lock:
            return [scope for request in self.requests for scope in request.scopes]

    def issue(self, scopes: list[str], service: str) -> str:
        """A signed token granting every action of ``scopes`` on ``service``."""
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": self.username,
            "aud": service,
            "iat": now,
            "nbf": now - 60,
            "exp": now + self.lifetime,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        headers = {"x5c": [self.keys.cert_der_b64]}
        return jwt.encode(claims, self.keys.key, algorithm="RS256", headers=headers)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != "/token":
                    self._answer(404, {"error": "not found"})
                    return
                query = parse_qs(url.query)
                scopes = query.get("scope", [])
                service = query.get("service", [""])[0]
                authorized = self.headers.get("Authorization") == owner._expected
                with owner._lock:
                    owner.requests.append(TokenRequest(tuple(scopes), service, authorized))
                if not authorized:
                    self._answer(401, {"error": "bad credentials"})
                    return
                token = owner.issue(scopes, service)
                body: dict[str, Any] = {"expires_in": owner.lifetime}
                if owner.answer_with in ("token", "both"):
                    body["token"] = token
                if owner.answer_with in ("access_token", "both"):
                    body["access_token"] = token
                self._answer(200, body)

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


# ----------------------------------------------------------------------- registries


def _free_port(bind: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((bind, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningRegistry:
    """A ``docker-registry`` process started by :func:`start_registry`."""

    folder: Path
    port: int
    auth: Auth
    tls: bool
    bind: str = HOST
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    username: str | None = None
    ca: str | None = None
    token_server: TokenServer | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT`` (or the address it was started on)."""
        return f"{self.bind}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http(s)://127.0.0.1:PORT``."""
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def log(self) -> Path:
        return self.folder / "registry.log"

    def config(self, **overrides: Any) -> Registry:
        """A ``Registry`` config for this registry, with its credentials and CA."""
        values: dict[str, Any] = {
            "url": self.host,
            "insecure": not self.tls,
            "ca": self.ca,
            "username": self.username,
            "password": self.password,
        }
        values.update(overrides)
        return Registry(**values)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of the registry's log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"

    def stop(self) -> None:
        """Stop the process and the token server; remove the folder. Idempotent."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        if self.token_server is not None:
            self.token_server.stop()
            self.token_server = None
        shutil.rmtree(self.folder, ignore_errors=True)


def _config(registry: RunningRegistry, keys: KeyPair | None) -> dict[str, Any]:
    folder = registry.folder
    http: dict[str, Any] = {
        "addr": registry.host,
        "secret": secrets.token_hex(16),
        "headers": {"X-Content-Type-Options": ["nosniff"]},
    }
    if keys is not None:
        (folder / "tls.crt").write_bytes(keys.cert_pem)
        (folder / "tls.key").write_bytes(keys.key_pem)
        http["tls"] = {"certificate": str(folder / "tls.crt"), "key": str(folder / "tls.key")}
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(folder / "data")},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
    }
    password = registry.password or ""
    if registry.auth == "basic":
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        (folder / "htpasswd").write_text(f"{registry.username}:{hashed}\n")
        config["auth"] = {"htpasswd": {"realm": "pk-test", "path": str(folder / "htpasswd")}}
    elif registry.auth == "token":
        assert registry.token_server is not None
        bundle = folder / "token-ca.crt"
        bundle.write_bytes(registry.token_server.keys.cert_pem)
        config["auth"] = {
            "token": {
                "realm": registry.token_server.realm,
                "service": SERVICE,
                "issuer": ISSUER,
                "rootcertbundle": str(bundle),
            }
        }
    return config


def direct() -> requests.Session:
    """A session that ignores proxy and CA-bundle environment variables (all is on 127.0.0.1)."""
    session = requests.Session()
    session.trust_env = False
    return session


def _answers(registry: RunningRegistry) -> bool:
    try:
        with direct() as session:
            response = session.get(f"{registry.base_url}/v2/", timeout=2, verify=registry.ca)
    except requests.RequestException:
        return False
    return response.status_code in (200, 401)


def _launch(registry: RunningRegistry, keys: KeyPair | None) -> bool:
    """Start the process; wait for ``/v2/``. False when its port was taken meanwhile."""
    config = registry.folder / "config.yml"
    config.write_text(json.dumps(_config(registry, keys), indent=2))  # JSON is YAML
    with registry.log.open("wb") as log:
        registry.process = subprocess.Popen(
            [BINARY, "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=registry.folder,
        )
    deadline = time.monotonic() + _START_TIMEOUT
    while not _answers(registry):
        if registry.process.poll() is not None:
            if "address already in use" in registry.log_tail():
                return False
            pytest.fail(
                f"docker-registry exited with {registry.process.returncode}:\n"
                + registry.log_tail()
            )
        if time.monotonic() > deadline:
            pytest.fail(
                f"docker-registry did not answer in {_START_TIMEOUT:g}s:\n" + registry.log_tail()
            )
        time.sleep(0.05)
    return True


def start_registry(
    auth: Auth = "none", *, tls: bool = False, answer_with: AnswerWith = "both", bind: str = HOST
) -> RunningRegistry:
    """Start a registry on a free port of ``bind`` (127.0.0.1); wait until ``/v2/`` answers."""
    if not Path(BINARY).is_file():
        pytest.fail(f"{BINARY} not found: apt-get install docker-registry (Debian's package)")
    folder = Path(tempfile.mkdtemp(prefix="pk-registry-", dir="/tmp"))
    registry = RunningRegistry(folder, _free_port(bind), auth, tls, bind)
    try:
        if auth != "none":
            registry.username = USERNAME
            registry.password = secrets.token_urlsafe(12)
        if auth == "token":
            assert registry.password is not None
            registry.token_server = TokenServer(USERNAME, registry.password, answer_with)
        keys = make_keypair(HOST, server=True) if tls else None
        if keys is not None:
            registry.ca = str(folder / "tls.crt")
        for attempt in range(3):  # another process may take the free port first
            if attempt:
                registry.port = _free_port(bind)
            if _launch(registry, keys):
                break
        else:
            pytest.fail("docker-registry found no free port on 127.0.0.1 in 3 attempts")
    except BaseException:
        registry.stop()
        raise
    atexit.register(registry.stop)
    return registry


# ----------------------------------------------------------------- pagination proxy

_HOP_BY_HOP = {
    "connection",
    "content-length",
    "keep-alive",
    "transfer-encoding",
    "content-encoding",
    "host",
}


class PaginatingProxy:
    """A proxy in front of a registry that pages ``/tags/list`` as the v2 spec describes.

    Distribution 2.8 ignores ``n`` on ``/tags/list``; this proxy answers ``?n=N&last=X``
    with at most N tags after X (sorted) and a ``Link: <…>; rel="next"`` header, and
    forwards every other request unchanged. ``pages`` lists the tag-list URLs asked for.
    """

    def __init__(self, upstream: RunningRegistry) -> None:
        self.upstream = upstream
        self.pages: list[str] = []
        self._server = ThreadingHTTPServer((HOST, 0), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def host(self) -> str:
        return f"{HOST}:{self._server.server_address[1]}"

    def config(self, **overrides: Any) -> Registry:
        """A ``Registry`` config pointing at the proxy (plain HTTP, loopback)."""
        return self.upstream.config(url=f"http://{self.host}", ca=None, **overrides)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                url = urlsplit(self.path)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                query = parse_qs(url.query)
                paged = url.path.endswith("/tags/list") and self.command == "GET"
                target = owner.upstream.base_url + (url.path if paged else self.path)
                with direct() as session:
                    answer = session.request(
                        self.command,
                        target,
                        headers=headers,
                        data=body,
                        allow_redirects=False,
                        verify=owner.upstream.ca or True,
                        timeout=10,
                    )
                content = answer.content
                extra: dict[str, str] = {}
                if paged and answer.status_code == 200 and "n" in query:
                    owner.pages.append(self.path)
                    tags = sorted(answer.json().get("tags") or [])
                    last = query.get("last", [""])[0]
                    rest = [t for t in tags if t > last]
                    size = int(query["n"][0])
                    page, more = rest[:size], rest[size:]
                    content = json.dumps({"name": answer.json()["name"], "tags": page}).encode()
                    if more:
                        extra["Link"] = f'<{url.path}?n={size}&last={page[-1]}>; rel="next"'
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                for key, value in extra.items():
                    self.send_header(key, value)
                if self.command == "HEAD":
                    self.send_header("Content-Length", answer.headers.get("Content-Length", "0"))
                    self.end_headers()
                    return
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


# ------------------------------------------------------------------------- uploads


def _arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(text: bytes) -> tuple[bytes, str]:
    """A gzipped tar with one file, and its diff ID (digest of the plain tar)."""
    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size, info.mtime, info.mode = len(text), 0, 0o644
        tar.addfile(info, io.BytesIO(text))
    raw = plain.getvalue()
    return gzip.compress(raw, mtime=0), _digest(raw)


def _session_for(target: str | RunningRegistry, repository: str) -> tuple[requests.Session, str]:
    """A session that may push to ``repository`` and the registry's base URL."""
    session = direct()  # else REQUESTS_CA_BUNDLE would override session.verify
    if isinstance(target, str):
        return session, target if "://" in target else f"http://{target}"
    if target.ca is not None:
        session.verify = target.ca
    if target.auth == "basic":
        assert target.username is not None and target.password is not None
        session.auth = (target.username, target.password)
    elif target.auth == "token":
        assert target.token_server is not None and target.password is not None
        answer = direct().get(
            target.token_server.realm,
            params={"service": SERVICE, "scope": f"repository:{repository}:pull,push"},
            auth=(USERNAME, target.password),
            timeout=10,
        )
        answer.raise_for_status()
        body = answer.json()
        session.headers["Authorization"] = f"Bearer {body.get('token') or body['access_token']}"
    return session, target.base_url


def _push_blob(session: requests.Session, base: str, repository: str, data: bytes) -> str:
    digest = _digest(data)
    if session.head(f"{base}/v2/{repository}/blobs/{digest}", timeout=10).status_code == 200:
        return digest
    started = session.post(f"{base}/v2/{repository}/blobs/uploads/", timeout=10)
    assert started.status_code == 202, (started.status_code, started.text)
    location = urljoin(base + "/", started.headers["Location"])
    done = session.put(
        location,
        params={"digest": digest},
        data=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert done.status_code == 201, (done.status_code, done.text)
    return digest


def upload_image(
    target: str | RunningRegistry,
    repository: str,
    tag: str,
    content: bytes | None = None,
    labels: dict[str, str] | None = None,
) -> str:
    """Push a tiny one-layer image ``repository:tag`` over the HTTP API; its manifest digest.

    ``target`` is ``registry_url`` (``"127.0.0.1:PORT"``, plain HTTP) or a RunningRegistry.
    ``content`` (the one file's bytes) defaults to one that differs per repository and tag;
    ``labels`` go into the image's config (as ``docker build --label`` puts them).
    """
    session, base = _session_for(target, repository)
    with session:
        layer, diff_id = _layer(
            content if content is not None else f"{repository}:{tag}\n".encode()
        )
        config = json.dumps(
            {
                "architecture": _arch(),
                "os": "linux",
                "config": {"Cmd": ["/hello.txt"], **({"Labels": labels} if labels else {})},
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            },
            separators=(",", ":"),
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": MANIFEST_V2,
                "config": {
                    "mediaType": "application/vnd.docker.container.image.v1+json",
                    "size": len(config),
                    "digest": _push_blob(session, base, repository, config),
                },
                "layers": [
                    {
                        "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                        "size": len(layer),
                        "digest": _push_blob(session, base, repository, layer),
                    }
                ],
            },
            indent=3,
        ).encode()
        answer = session.put(
            f"{base}/v2/{repository}/manifests/{tag}",
            data=manifest,
            headers={"Content-Type": MANIFEST_V2},
            timeout=10,
        )
        assert answer.status_code == 201, (answer.status_code, answer.text)
        digest = _digest(manifest)
        assert answer.headers.get("Docker-Content-Digest") == digest
        return digest


# ------------------------------------------------------------------------ fixtures


class RegistryFactory(Protocol):
    """``registry_factory(auth="basic", tls=False, fresh=False, answer_with="both")``."""

    def __call__(
        self,
        auth: Auth = "none",
        *,
        tls: bool = False,
        fresh: bool = False,
        answer_with: AnswerWith = ...,
    ) -> RunningRegistry: ...


@pytest.fixture(scope="session")
def registry_url() -> Iterator[str]:
    """A plain registry without auth for the whole session: ``"127.0.0.1:PORT"``."""
    registry = start_registry()
    try:
        yield registry.host
    finally:
        registry.stop()


@pytest.fixture(scope="session")
def registry_factory() -> Iterator[RegistryFactory]:
    """Start registries by kind; shared per kind unless ``fresh=True``; all stopped at the end."""
    shared: dict[tuple[str, bool, str], RunningRegistry] = {}
    started: list[RunningRegistry] = []

    def make(
        auth: Auth = "none",
        *,
        tls: bool = False,
        fresh: bool = False,
        answer_with: AnswerWith = "both",
    ) -> RunningRegistry:
        key = (auth, tls, answer_with)
        if not fresh and key in shared:
            return shared[key]
        registry = start_registry(auth, tls=tls, answer_with=answer_with)
        started.append(registry)
        if not fresh:
            shared[key] = registry
        return registry

    try:
        yield make
    finally:
        for registry in started:
            registry.stop()
