"""Docker Swarm through its manager: a stage position of a service as one Swarm service with
one task per stack, its tasks, the nodes they run on, and their removal.

A Swarm service runs on the nodes' host network: every task listens on the service's port of
its node (``PORT``), so HAProxy reaches a task at its node's address and that port. Swarm
restarts a task that stops. The tasks of a Swarm service share its port, so it runs at most
one per node (``max_replicas_per_node = 1``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline_kit.errors import ExternalFailure
from pipeline_kit.health import healthy
from pipeline_kit.runtime import containers as rt
from pipeline_kit.runtime.engine import LABEL, SERVICE_LABEL, failures, one_line

IDS_LABEL = f"{LABEL}.ids"  # the containers of the state a Swarm service runs, slot order
STACKS_LABEL = f"{LABEL}.stacks"
POSITION_LABEL = f"{LABEL}.position"
_POLL = 0.2
_FAILED = frozenset({"failed", "rejected"})
_NAME_MAX = 63  # Swarm's limit on a service name


def service_name(service: str, stage: str, first: str) -> str:
    """``pk-SERVICE-STAGE-ID``: the stage it was started for, the id of its first task's
    container (cut to Swarm's 63 characters, never in the id)."""
    tail = f"-{first}"
    return f"pk-{service}-{stage}"[: _NAME_MAX - len(tail)] + tail


@dataclass(frozen=True)
class Group:
    """One Swarm service: the containers of one stage position, one per stack."""

    name: str
    spec: rt.Spec  # the first container's, configured (image, port, environment, limits)
    ids: tuple[str, ...]  # slot 1, 2, … runs ids[0], ids[1], …
    stacks: tuple[int, ...]


@dataclass(frozen=True)
class Listed:
    """A labelled Swarm service found on the manager."""

    name: str
    service: str
    version: str
    position: int
    port: int | None
    ids: tuple[str, ...]
    stacks: tuple[int, ...]
    config: str
    replicas: int


@dataclass(frozen=True)
class Task:
    """One task of a Swarm service, as the manager reports it."""

    service: str  # the Swarm service's name
    slot: int
    state: str  # Swarm's: new, pending, running, failed, rejected, shutdown…
    desired: str
    node: str  # node id ("" before it is scheduled)
    error: str


@dataclass(frozen=True)
class Node:
    id: str
    hostname: str
    address: str
    state: str  # ready, down, unknown, disconnected
    availability: str  # active, pause, drain


def _labels(group: Group) -> dict[str, str]:
    return {
        **rt.labels(group.spec),
        IDS_LABEL: ",".join(group.ids),
        STACKS_LABEL: ",".join(str(s) for s in group.stacks),
        POSITION_LABEL: str(group.spec.position),
    }


def _options(spec: rt.Spec) -> dict[str, Any]:
    """The command, limits and volumes of a Swarm service, when set."""
    from docker.types import Resources
    from docker.utils import parse_bytes

    options: dict[str, Any] = {}
    if spec.command:
        options["command"] = list(spec.command)
    if spec.memory or spec.cpus:
        options["resources"] = Resources(
            cpu_limit=int(spec.cpus * 1_000_000_000) if spec.cpus else None,
            mem_limit=parse_bytes(spec.memory) if spec.memory else None,
        )
    if spec.volumes:
        options["mounts"] = list(spec.volumes)
    return options


def create(client: Any, group: Group) -> None:
    """Create the Swarm service of ``group``: host network, restarted whenever it stops."""
    from docker.types import RestartPolicy, ServiceMode

    spec = group.spec
    env = {
        **spec.env,
        **spec.secrets,
        "PIPELINE_KIT_SERVICE": spec.service,
        "PIPELINE_KIT_VERSION": spec.version,
        **{rt.upstream_variable(child): url for child, url in sorted(spec.upstreams.items())},
        "PORT": str(spec.port),
    }
    labels = _labels(group)
    with failures(f"cannot create the Swarm service {group.name}"):
        client.services.create(
            spec.image,
            name=group.name,
            env=[f"{key}={value}" for key, value in env.items()],
            labels=labels,
            container_labels=labels,
            networks=["host"],
            mode=ServiceMode("replicated", replicas=len(group.ids)),
            restart_policy=RestartPolicy(condition="any", delay=1_000_000_000),
            maxreplicas=1,  # its tasks share its port: one per node
            **_options(spec),
        )


def tasks(client: Any, name: str) -> list[Task]:
    """Every task of Swarm service ``name`` the manager still knows (old ones included)."""
    with failures(f"cannot list the tasks of {name}"):
        found = client.api.tasks(filters={"service": name})
    out = []
    for item in found:
        status = item.get("Status") or {}
        out.append(
            Task(
                name,
                int(item.get("Slot") or 0),
                str(status.get("State", "")),
                str(item.get("DesiredState", "")),
                str(item.get("NodeID") or ""),
                str(status.get("Err") or ""),
            )
        )
    return out


def nodes(client: Any) -> dict[str, Node]:
    """The Swarm's nodes by id, each with the address its tasks are reached at."""
    with failures("cannot list the Swarm's nodes"):
        listed = client.nodes.list()
    out = {}
    for node in listed:
        attrs = node.attrs
        status = attrs.get("Status") or {}
        address = str(status.get("Addr") or "")
        if address in ("", "0.0.0.0"):  # noqa: S104 - a manager's unset address
            address = str((attrs.get("ManagerStatus") or {}).get("Addr", "")).rsplit(":", 1)[0]
        out[node.id] = Node(
            node.id,
            str((attrs.get("Description") or {}).get("Hostname", node.id)),
            address,
            str(status.get("State", "unknown")),
            str((attrs.get("Spec") or {}).get("Availability", "active")),
        )
    return out


def _split(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


def listed(client: Any, services: frozenset[str] | None = None) -> list[Listed]:
    """The labelled Swarm services, of ``services`` when given."""
    with failures("cannot list the Swarm's services"):
        found = client.api.services(filters={"label": SERVICE_LABEL})
    out = []
    for item in found:
        spec = item.get("Spec") or {}
        lab: Mapping[str, str] = spec.get("Labels") or {}
        service = lab.get(SERVICE_LABEL, "")
        if services is not None and service not in services:
            continue
        port, position = lab.get(f"{LABEL}.port", ""), lab.get(POSITION_LABEL, "")
        stacks = _split(lab.get(STACKS_LABEL, ""))
        out.append(
            Listed(
                name=str(spec.get("Name", "")),
                service=service,
                version=lab.get(f"{LABEL}.version", ""),
                position=int(position) if position.isdigit() else -1,
                port=int(port) if port.isdigit() else None,
                ids=_split(lab.get(IDS_LABEL, "")),
                stacks=tuple(int(s) for s in stacks if s.isdigit()),
                config=lab.get(f"{LABEL}.config", ""),
                replicas=int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas", 0)),
            )
        )
    return out


def remove(client: Any, name: str) -> None:
    """Remove a Swarm service (its tasks stop); one already gone is fine."""
    import docker.errors
    import requests

    try:
        client.api.remove_service(name)
    except docker.errors.NotFound:
        return
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise ExternalFailure(f"cannot remove the Swarm service {name}: {one_line(exc)}") from None


UP = frozenset({"starting", "running"})  # the task's container runs


def running(client: Any, group: Group) -> dict[int, Task]:
    """Per slot, its task whose container runs now; raise when Swarm could not start one.
    A task whose image has a ``HEALTHCHECK`` stays ``starting`` until Docker's first check
    passes (its interval later); the rollout's own health check decides instead."""
    found = tasks(client, group.name)
    failed = [t for t in found if t.state in _FAILED and t.error]
    if failed:
        raise ExternalFailure(
            f"{group.name} ({group.spec.image}): a task {failed[0].state} at start: "
            f"{failed[0].error}"
        )
    return {t.slot: t for t in found if t.state in UP and t.desired == "running"}


def wait_running(client: Any, group: Group, deadline: float, timeout: float) -> dict[int, str]:
    """Wait until every task of ``group`` runs and answers its health check; the address of
    each slot's task (its node's address and the service's port)."""
    spec = group.spec
    last = "no task running yet"
    import requests

    session = requests.Session()
    try:
        while True:
            slots = running(client, group)
            where = nodes(client) if slots else {}
            addresses = {
                slot: f"{where[t.node].address}:{spec.port}"
                for slot, t in slots.items()
                if t.node in where
            }
            missing = [s for s in range(1, len(group.ids) + 1) if s not in addresses]
            if missing:
                last = f"{len(missing)} of {len(group.ids)} task(s) not running yet"
            else:
                last = _unhealthy(session, spec, addresses) or ""
                if not last:
                    return addresses
            if time.monotonic() >= deadline:
                raise ExternalFailure(
                    f"{group.name} ({spec.image}) was not healthy within {timeout:g} s "
                    f"({last}); raise health_timeout or fix the image"
                )
            time.sleep(_POLL)
    finally:
        session.close()


def _unhealthy(session: Any, spec: rt.Spec, addresses: dict[int, str]) -> str | None:
    """What the first task that fails its health check answered; None when all answer."""
    import requests

    path = spec.health_path
    if not path:
        return None
    for address in addresses.values():
        try:
            answer = session.get(f"http://{address}{path}", timeout=1.0, allow_redirects=False)
        except requests.RequestException as exc:
            return f"GET {path} at {address}: {type(exc).__name__}"
        if not healthy(answer.status_code):
            return f"GET {path} at {address} answered {answer.status_code}"
    return None


def states(client: Any, ids: list[str]) -> dict[str, str]:
    """Per container id, the state of the task that runs it: Swarm's (``running``,
    ``failed``, …), ``restarted`` when it runs after an earlier task of its slot ended, or
    ``missing`` when no Swarm service holds it or no task of its slot is meant to run."""
    wanted = set(ids)
    out = dict.fromkeys(ids, "missing")
    for found in listed(client) if wanted else []:
        mine = wanted & set(found.ids)
        if not mine:
            continue
        known = tasks(client, found.name)
        for cid in mine:
            slot = found.ids.index(cid) + 1
            of_slot = [t for t in known if t.slot == slot]
            current = [t for t in of_slot if t.desired == "running"]
            if current:
                state = current[0].state
                restarted = state == "running" and len(of_slot) > 1
                out[cid] = "restarted" if restarted else state
    return out
