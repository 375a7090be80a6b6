"""Connections to the configured Docker hosts, one client per host, opened on first use."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline_kit.config_types import Host, Runtime
from pipeline_kit.errors import ExternalFailure
from pipeline_kit.model.errors import PipelineKitError

LABEL = "io.pipeline-kit"
SERVICE_LABEL = f"{LABEL}.service"


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, without the noise docker-py adds."""
    import docker.errors  # docker-py and requests on first use, here and below

    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        text = str(exc.explanation)
    else:
        text = str(exc) or type(exc).__name__
    return text.strip().splitlines()[0][:300] if text.strip() else type(exc).__name__


@contextmanager
def failures(what: str) -> Iterator[None]:
    """Turn Docker and connection errors into one ExternalFailure line naming ``what``."""
    import docker.errors
    import requests

    try:
        yield
    except PipelineKitError:
        raise
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise ExternalFailure(f"{what}: {one_line(exc)}") from None
    except Exception as exc:
        if type(exc).__module__.split(".")[0] != "paramiko":  # ssh:// hosts
            raise
        hint = ""
        if type(exc).__name__ == "ChannelException":
            hint = " (the host's sshd refused one more session: raise its MaxSessions)"
        raise ExternalFailure(f"{what}: ssh: {one_line(exc)}{hint}") from None


class Engines:
    """The Docker engines of the configured hosts."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def host(self, name: str) -> Host:
        return self.runtime.host(name)

    def client(self, name: str) -> Any:
        """A connected ``docker.DockerClient`` for host ``name`` (exit 3 when unreachable)."""
        with self._lock:
            client = self._clients.get(name)
            if client is not None:
                return client
            host = self.runtime.host(name)
            socket_path = host.url.removeprefix("unix://")
            if host.url.startswith("unix://") and not Path(socket_path).exists():
                raise ExternalFailure(
                    f"docker host {host.name} ({host.url}) is unreachable: no such socket; "
                    "is the Docker engine running?"
                )
            with failures(f"docker host {host.name} ({host.url}) is unreachable"):
                client = _connect(host)
                client.ping()
            self._clients[name] = client
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def __enter__(self) -> Engines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(host: Host) -> Any:
    """A client of ``host``. ssh:// goes through paramiko (``docker[ssh]``): it reads
    ``~/.ssh/config`` and refuses a host key that ``~/.ssh/known_hosts`` does not list.

    With a CA of its own (``tls_ca``) the client must not let requests swap it for
    ``REQUESTS_CA_BUNDLE``: the API version is read with the environment ignored, then the
    client is made with that version."""
    import docker

    if not host.tls_ca:
        return docker.DockerClient(base_url=host.url, tls=_tls(host), timeout=60, max_pool_size=32)
    probe = docker.DockerClient(base_url=host.url, tls=_tls(host), timeout=60, version="1.24")
    try:
        probe.api.trust_env = False
        version = probe.version()["ApiVersion"]
    finally:
        probe.close()
    client = docker.DockerClient(
        base_url=host.url, tls=_tls(host), timeout=60, max_pool_size=32, version=version
    )
    client.api.trust_env = False
    return client


def _tls(host: Host) -> Any:
    if not host.tls:
        return False
    from docker.tls import TLSConfig

    cert = (host.tls_cert, host.tls_key) if host.tls_cert and host.tls_key else None
    return TLSConfig(client_cert=cert, ca_cert=host.tls_ca, verify=host.tls_ca or True)
