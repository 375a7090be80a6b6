"""Docker engines as a rollout's runtime (``ports.Runtime``), and the runtime ``none``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pipeline_kit.config_types import Hook, Settings, SmokeCheck
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.effective import configured
from pipeline_kit.pipeline.rollout.ports import Booked, HookRun, Launch, Observe, Routes
from pipeline_kit.runtime import containers as rt
from pipeline_kit.runtime.engine import Engines
from pipeline_kit.runtime.placement import image_of, specs_for
from pipeline_kit.store.journal import Placed


def run_parallel(jobs: list[Callable[[], Any]]) -> list[BaseException | Any]:
    """Run ``jobs`` on threads; each result, or the exception it raised."""
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(16, len(jobs))) as pool:
        futures = [pool.submit(job) for job in jobs]
        out: list[BaseException | Any] = []
        for future in futures:
            try:
                out.append(future.result())
            except BaseException as exc:  # collected; the caller re-raises
                out.append(exc)
        return out


def first_error(results: list[BaseException | Any]) -> None:
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]


def probe_address(address: str, check: SmokeCheck) -> str | None:
    """Ask ``check``'s request at ``address``: None when it answers as expected, else what
    it answered."""
    import requests

    url = f"http://{address}{check.path}"
    try:
        answer = requests.get(url, timeout=5.0, allow_redirects=False)
    except requests.RequestException as exc:
        return f"no answer ({type(exc).__name__})"
    if answer.status_code != check.status:
        return f"answered {answer.status_code}, expected {check.status}"
    if check.contains is not None and check.contains not in answer.text:
        return f"answered {answer.status_code} without {check.contains!r}"
    return None


def launch_of(spec: rt.Spec) -> Launch:
    return Launch(
        spec.id,
        spec.service,
        spec.stack,
        spec.position,
        spec.version,
        spec.host.name,
        spec.address,
        spec,
    )


@dataclass
class _Handle:
    container: Any
    began: float  # when its start began (health checks are timed from there)
    deadline: float


class DockerRuntime:
    """Containers on the configured Docker hosts; one client per host for the whole command."""

    def __init__(self, settings: Settings, engines: Engines) -> None:
        self.settings = settings
        self.engines = engines

    def place(
        self, plan: Plan, routes: Routes | None, booked: Booked | None = None
    ) -> tuple[list[Launch], list[Placed]]:
        specs, stops = specs_for(plan, self.settings, self.engines, routes, booked)
        ready = [configured(self.settings, plan.after, s) for s in specs]
        return [launch_of(s) for s in ready], stops

    def start(self, launches: list[Launch]) -> list[Any]:
        runtime = self.settings.runtime
        deadline = time.monotonic() + runtime.health_timeout
        auth = self.settings.registry.auth if self.settings.registry else None

        def job(spec: rt.Spec) -> Callable[[], _Handle]:
            def run() -> _Handle:
                began = time.monotonic()
                client = self.engines.client(spec.host.name)
                rt.ensure_image(client, spec.image, auth)
                return _Handle(rt.start(client, spec, runtime), began, deadline)

            return run

        results = run_parallel([job(launch.spec) for launch in launches])
        first_error(results)
        return results

    def wait_healthy(
        self, launches: list[Launch], handles: list[Any], observe: Observe | None
    ) -> None:
        runtime = self.settings.runtime

        def job(spec: rt.Spec, handle: _Handle) -> Callable[[], None]:
            def run() -> None:
                try:
                    rt.wait_healthy(handle.container, spec, runtime, handle.deadline)
                except BaseException as exc:
                    if observe is not None:
                        observe(spec, time.monotonic() - handle.began, exc)
                    raise
                if observe is not None:
                    observe(spec, time.monotonic() - handle.began, None)

            return run

        pairs = zip(launches, handles, strict=True)
        first_error(run_parallel([job(launch.spec, handle) for launch, handle in pairs]))

    def remove(self, placed: Iterable[Placed]) -> int:
        items = list(placed)

        def job(p: Placed) -> Callable[[], None]:
            name = rt.container_name(p.service, p.stack, p.id)
            return lambda: rt.remove(self.engines.client(p.host), name)

        first_error(run_parallel([job(p) for p in items]))
        return len(items)

    def states(self, placed: list[Placed]) -> dict[str, str]:
        def job(p: Placed) -> Callable[[], str]:
            name = rt.container_name(p.service, p.stack, p.id)
            return lambda: rt.state(self.engines.client(p.host), name)

        results = run_parallel([job(p) for p in placed])
        first_error(results)
        return {p.id: str(r) for p, r in zip(placed, results, strict=True)}

    def probe(self, launch: Launch, check: SmokeCheck) -> str | None:
        return probe_address(launch.address, check)

    def run_hook(self, plan: Plan, service: str, position: int, hook: Hook) -> HookRun:
        from pipeline_kit.pipeline.secrets import mask

        svc = plan.after.services[service]
        stack = svc.stacks[0]
        version = stack.containers[position].version
        spec = rt.Spec(
            id="hook",
            service=service,
            stack=stack.index,
            version=version,
            image=image_of(self.settings, svc.image, version),
            host=self.settings.runtime.host(stack.host),
            port=0,
            position=position,
        )
        spec = configured(self.settings, plan.after, spec)
        client = self.engines.client(spec.host.name)
        auth = self.settings.registry.auth if self.settings.registry else None
        rt.ensure_image(client, spec.image, auth)
        ran = rt.run_once(client, spec, hook.command, hook.timeout)
        return HookRun(ran.code, mask(ran.output, spec.secrets.values()))
