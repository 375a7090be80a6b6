"""Start, health-check, list and remove the containers of stacks on a Docker host."""

from __future__ import annotations

import contextlib
import random
import re
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline_kit.config_types import Host, Runtime
from pipeline_kit.errors import ExternalFailure
from pipeline_kit.health import healthy
from pipeline_kit.runtime.engine import LABEL, SERVICE_LABEL, failures

_POLL = 0.1


@dataclass(frozen=True)
class Spec:
    """One container to start: where, which image, and its environment."""

    id: str
    service: str
    stack: int
    version: str
    image: str  # full reference, REGISTRY/NAME:TAG
    host: Host
    port: int
    upstreams: Mapping[str, str] = field(default_factory=dict)
    position: int = 0  # its stage position, for reports
    env: Mapping[str, str] = field(default_factory=dict)  # the stage's declared variables
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)  # values: never shown
    volumes: tuple[str, ...] = ()  # "NAME:/path" or "NAME:/path:ro", named volumes only
    command: tuple[str, ...] = ()  # empty: the image's CMD
    memory: str | None = None
    cpus: float | None = None
    config: str = ""  # the digest of its effective configuration (a label)
    health_path: str | None = None  # its service's, when it declares one

    @property
    def name(self) -> str:
        return container_name(self.service, self.stack, self.id)

    @property
    def address(self) -> str:
        return f"{self.host.address}:{self.port}"


@dataclass(frozen=True)
class Found:
    """A labelled container found on a host."""

    name: str
    host: str
    id: str
    service: str
    stack: int
    version: str
    port: int | None
    status: str  # docker's: running, exited, created…
    health: str | None  # docker HEALTHCHECK status when the image has one
    config: str = ""  # the digest of the configuration it was started with ("" unknown)


def container_name(service: str, stack: int, container_id: str) -> str:
    return f"pk-{service}-{stack}-{container_id}"


def upstream_variable(child: str) -> str:
    """``PIPELINE_KIT_UPSTREAM_<CHILD>``: the child's name upper-cased, ``-`` as ``_``."""
    return "PIPELINE_KIT_UPSTREAM_" + re.sub(r"[^A-Z0-9]", "_", child.upper())


def labels(spec: Spec) -> dict[str, str]:
    return {
        SERVICE_LABEL: spec.service,
        f"{LABEL}.stack": str(spec.stack),
        f"{LABEL}.version": spec.version,
        f"{LABEL}.id": spec.id,
        f"{LABEL}.port": str(spec.port),
        **({f"{LABEL}.config": spec.config} if spec.config else {}),
    }


def _volumes(spec: Spec) -> dict[str, dict[str, str]]:
    """docker-py's ``volumes`` of named volumes ``NAME:/path[:ro]``."""
    out = {}
    for item in spec.volumes:
        name, path, *mode = item.split(":")
        out[name] = {"bind": path, "mode": mode[0] if mode else "rw"}
    return out


def _resources(spec: Spec) -> dict[str, Any]:
    """The command and limits, when set."""
    options: dict[str, Any] = {}
    if spec.command:
        options["command"] = list(spec.command)
    if spec.memory:
        options["mem_limit"] = spec.memory
    if spec.cpus:
        options["nano_cpus"] = int(spec.cpus * 1_000_000_000)
    if spec.volumes:
        options["volumes"] = _volumes(spec)
    return options


def free_port(runtime: Runtime, host: Host, used: set[int]) -> int:
    """A port of the configured range that no known container uses and nothing listens on."""
    low, high = runtime.ports
    candidates = [p for p in range(low, high + 1) if p not in used]
    random.shuffle(candidates)
    local = host.url.startswith("unix://")
    for port in candidates[:200]:
        if not local or _bindable(port):
            return port
    raise ExternalFailure(
        f"no free port left on host {host.name} in the range {low}-{high}: widen 'ports'"
    )


def _bindable(port: int) -> bool:
    """Whether nothing listens on ``port``. As servers do, the probe reuses the address: the
    closed connections of a removed container (TIME_WAIT) do not keep its port taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))  # noqa: S104 - a probe, closed at once
        except OSError:
            return False
    return True


def ensure_image(client: Any, image: str, auth: Mapping[str, str] | None) -> None:
    """Pull ``image`` unless the host has it already."""
    import docker.errors  # docker-py and requests on first use, here and below

    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    repository, _, tag = image.rpartition(":")
    with failures(f"cannot pull {image}"):
        client.images.pull(repository, tag=tag, auth_config=dict(auth) if auth else None)


def start(client: Any, spec: Spec, runtime: Runtime) -> Any:
    """Create and start the container; the docker-py Container."""
    env = {
        **spec.env,
        **spec.secrets,
        "PIPELINE_KIT_SERVICE": spec.service,
        "PIPELINE_KIT_VERSION": spec.version,
        **{upstream_variable(child): url for child, url in sorted(spec.upstreams.items())},
    }
    options: dict[str, Any] = _resources(spec)
    if runtime.network == "host":
        env["PORT"] = str(spec.port)
        options["network_mode"] = "host"
    else:
        env["PORT"] = str(runtime.container_port)
        options["ports"] = {f"{runtime.container_port}/tcp": spec.port}
    with failures(f"cannot start {spec.name} on host {spec.host.name}"):
        return client.containers.run(
            spec.image,
            name=spec.name,
            detach=True,
            labels=labels(spec),
            environment=env,
            restart_policy={"Name": "unless-stopped"},
            **options,
        )


def wait_healthy(container: Any, spec: Spec, runtime: Runtime, deadline: float) -> None:
    """Wait until the container answers its health check; raise if it exits or times out."""
    path = runtime.health_path if spec.health_path is None else spec.health_path
    url = f"http://{spec.address}{path}" if path else None
    last = "no answer yet"
    import requests

    session = requests.Session()
    try:
        while True:
            with failures(f"cannot inspect {spec.name} on host {spec.host.name}"):
                container.reload()
            state = container.attrs.get("State", {})
            if state.get("Status") in ("exited", "dead") or state.get("Restarting"):
                raise ExternalFailure(
                    f"{spec.name} ({spec.image}) exited with code {state.get('ExitCode')} "
                    f"at start: {_last_log(container)}"
                )
            if url is None:
                health = (state.get("Health") or {}).get("Status")
                if health in (None, "healthy") and state.get("Running"):
                    return
                last = f"docker health status {health}"
            else:
                try:
                    answer = session.get(url, timeout=1.0, allow_redirects=False)
                    if healthy(answer.status_code):
                        return
                    last = f"GET {path} answered {answer.status_code}"
                except requests.RequestException as exc:
                    last = f"GET {path}: {type(exc).__name__}"
            if time.monotonic() >= deadline:
                raise ExternalFailure(
                    f"{spec.name} ({spec.image}) on host {spec.host.name} was not healthy within "
                    f"{runtime.health_timeout:g} s ({last}); raise health_timeout or fix the image"
                )
            time.sleep(_POLL)
    finally:
        session.close()


def _last_log(container: Any) -> str:
    import docker.errors

    try:
        raw = container.logs(tail=3)
    except docker.errors.DockerException:
        return "no log"
    text = raw.decode(errors="replace").strip() if isinstance(raw, bytes) else str(raw)
    return text.splitlines()[-1][:200] if text else "no output"


def check_once(spec_address: str, runtime: Runtime, path: str | None = None) -> str | None:
    """One health probe for ``verify`` (on ``path``, else the runtime's): None when healthy,
    else what failed."""
    path = runtime.health_path if path is None else path
    if not path:
        return None
    import requests

    try:
        answer = requests.get(f"http://{spec_address}{path}", timeout=2.0, allow_redirects=False)
    except requests.RequestException as exc:
        return f"GET {path}: {type(exc).__name__}"
    if healthy(answer.status_code):
        return None
    return f"GET {path} answered {answer.status_code}"


def remove(client: Any, name: str) -> None:
    """Stop and remove a container; a container already gone is fine."""
    import docker.errors

    with failures(f"cannot remove {name}"):
        try:
            container = client.containers.get(name)
        except docker.errors.NotFound:
            return
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            return


def state(client: Any, name: str) -> str:
    """A container's state in one word: docker's status (``exited``, ``restarting``, …),
    ``unhealthy``, ``restarted`` (it runs, but stopped since it started), or ``missing``."""
    import docker.errors

    with failures(f"cannot inspect {name}"):
        try:
            attrs = client.api.inspect_container(name)
        except docker.errors.NotFound:
            return "missing"
    status = str(attrs.get("State", {}).get("Status", "?"))
    if status != "running":
        return status
    if (attrs.get("State", {}).get("Health") or {}).get("Status") == "unhealthy":
        return "unhealthy"
    return "restarted" if int(attrs.get("RestartCount") or 0) else "running"


def found(client: Any, host: str, services: frozenset[str] | None = None) -> list[Found]:
    """The labelled containers on a host, of ``services`` when given."""
    with failures(f"cannot list containers on host {host}"):
        listed = client.api.containers(all=True, filters={"label": SERVICE_LABEL})
    out = []
    for item in listed:
        lab = item.get("Labels") or {}
        service = lab.get(SERVICE_LABEL, "")
        if services is not None and service not in services:
            continue
        status = str(item.get("State", ""))
        text = str(item.get("Status", ""))
        health = None
        for word in ("healthy", "unhealthy", "starting"):
            if f"({word})" in text or f"(health: {word})" in text:
                health = word
        port = lab.get(f"{LABEL}.port", "")
        stack = lab.get(f"{LABEL}.stack", "")
        out.append(
            Found(
                name=str((item.get("Names") or ["?"])[0]).lstrip("/"),
                host=host,
                id=lab.get(f"{LABEL}.id", ""),
                service=service,
                stack=int(stack) if stack.isdigit() else -1,
                version=lab.get(f"{LABEL}.version", ""),
                port=int(port) if port.isdigit() else None,
                status=status,
                health=health,
                config=lab.get(f"{LABEL}.config", ""),
            )
        )
    return out


@dataclass(frozen=True)
class Ran:
    """How a one-off container ended: its exit code (None: killed at the timeout), its output."""

    code: int | None
    output: str  # the last lines it printed


HOOK_LABEL = f"{LABEL}.hook"


def run_once(client: Any, spec: Spec, command: tuple[str, ...], timeout: float) -> Ran:
    """Run ``command`` in a one-off container of ``spec``'s image and configuration, wait at
    most ``timeout`` seconds, remove it. Hook containers carry no service label: no drift."""
    import requests

    env = {**spec.env, **spec.secrets}
    env.update(PIPELINE_KIT_SERVICE=spec.service, PIPELINE_KIT_VERSION=spec.version)
    options = _resources(spec)
    options["command"] = list(command)
    with failures(f"cannot start a hook of {spec.service} {spec.version} on {spec.host.name}"):
        container = client.containers.run(
            spec.image,
            detach=True,
            labels={HOOK_LABEL: spec.service, f"{LABEL}.version": spec.version},
            environment=env,
            network_mode="host",
            **options,
        )
    try:
        try:
            code: int | None = int(container.wait(timeout=timeout).get("StatusCode", -1))
        except (requests.exceptions.Timeout, requests.exceptions.ConnectionError):
            code = None  # still running at the timeout: removed below
        raw = container.logs(tail=5)
        output = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        return Ran(code, output.strip())
    finally:
        with contextlib.suppress(Exception):
            container.remove(force=True)
