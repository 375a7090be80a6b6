"""A hook on Swarm: a one-off Swarm service of the new version that runs once (no restart),
with that stage's configuration; its exit code and last lines, then it is removed."""

from __future__ import annotations

import contextlib
import time
from typing import Any

from pipeline_kit.config_types import Hook, Settings
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.effective import configured
from pipeline_kit.pipeline.rollout.ports import HookRun
from pipeline_kit.runtime import containers as rt
from pipeline_kit.runtime import swarm
from pipeline_kit.runtime.engine import failures
from pipeline_kit.runtime.placement import image_of

_ENDED = frozenset({"complete", "failed", "rejected", "shutdown"})


def run_hook(
    settings: Settings, client: Any, plan: Plan, service: str, position: int, hook: Hook
) -> HookRun:
    from docker.types import RestartPolicy, ServiceMode

    from pipeline_kit.config_types import Host
    from pipeline_kit.pipeline.secrets import mask

    svc = plan.after.services[service]
    stack = svc.stacks[0]
    version = stack.containers[position].version
    manager = settings.runtime.swarm or Host("swarm", "unix:///var/run/docker.sock")
    spec = rt.Spec(
        id="hook",
        service=service,
        stack=stack.index,
        version=version,
        image=image_of(settings, svc.image, version),
        host=manager,
        port=0,
        position=position,
    )
    spec = configured(settings, plan.after, spec)
    env = {**spec.env, **spec.secrets}
    env.update(PIPELINE_KIT_SERVICE=service, PIPELINE_KIT_VERSION=version)
    name = swarm.service_name(service, "hook", f"{int(time.time() * 1000) % 10**10}")
    with failures(f"cannot start a hook of {service} {version} on the Swarm"):
        created = client.services.create(
            spec.image,
            command=list(hook.command),
            name=name,
            env=[f"{k}={v}" for k, v in env.items()],
            labels={rt.HOOK_LABEL: service},
            networks=["host"],
            mode=ServiceMode("replicated", replicas=1),
            restart_policy=RestartPolicy(condition="none"),
        )
    try:
        code = _wait(client, name, time.monotonic() + hook.timeout)
        output = _logs(created)
        return HookRun(code, mask(output, spec.secrets.values()))
    finally:
        with contextlib.suppress(Exception):
            swarm.remove(client, name)


def _wait(client: Any, name: str, deadline: float) -> int | None:
    """The exit code of the hook's task; None when it still runs at ``deadline``."""
    while time.monotonic() < deadline:
        with failures(f"cannot follow the hook {name}"):
            found = client.api.tasks(filters={"service": name})
        for task in found:
            status = task.get("Status") or {}
            if status.get("State") in _ENDED:
                exit_code = (status.get("ContainerStatus") or {}).get("ExitCode")
                return int(exit_code) if exit_code is not None else -1
        time.sleep(0.2)
    return None


def _logs(service: Any) -> str:
    with contextlib.suppress(Exception):
        raw = b"".join(service.logs(stdout=True, stderr=True, tail=5))
        return raw.decode(errors="replace").strip()
    return ""
