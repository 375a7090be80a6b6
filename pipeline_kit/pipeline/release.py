"""Release on a tag: tag → checks → build → push → promote into a stage.

The first release of a service creates it: every stage at the tag's version, from the
service's ``[services.NAME]`` declaration (else ``[release] image``), deployed by the same
rollout as a promotion. Everything that can refuse the release (the tag, the config, the
state's constraints on the plan, an immutable version already in the registry) is checked
before the image is pushed, so a refused release changes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline_kit.config_schema import docker_host
from pipeline_kit.config_types import Host, Settings
from pipeline_kit.model.actions import Context, add_service
from pipeline_kit.model.errors import InvalidInput, Refused
from pipeline_kit.model.items import Service, State, check_image, same_version
from pipeline_kit.model.plan import Plan
from pipeline_kit.model.versions import VersionPolicy, in_order, sort_key
from pipeline_kit.pipeline.promotion import Run, promote_build, promote_run
from pipeline_kit.pipeline.rollout import Build
from pipeline_kit.pipeline.signoff import with_author
from pipeline_kit.pipeline.unit import Unit
from pipeline_kit.registry import RegistryClient, docker_tag, split_image, version_of_tag
from pipeline_kit.report.results import Report, Result
from pipeline_kit.runtime.build import Progress, build_image, push_image
from pipeline_kit.runtime.engine import Engines
from pipeline_kit.runtime.placement import image_of
from pipeline_kit.scm.git import TagInfo, resolve_tag
from pipeline_kit.store.database import Scope


@dataclass(frozen=True)
class Released:
    """What a release did: the image (when built) and the report of every check."""

    tag: TagInfo
    service: str
    reference: str
    digest: str | None  # None: refused before anything was built
    pushed: bool  # False: the registry had this very image already, or nothing was pushed
    run: Run


def _engine_host(settings: Settings, environ: Mapping[str, str]) -> Host:
    """The engine that builds: the first configured host, else the one Docker's conventions
    name (``DOCKER_HOST`` with its TLS variables, else the local socket)."""
    if settings.runtime.hosts:
        return settings.runtime.hosts[0]
    return Host(**{**docker_host(environ), "name": "build"})


def _forward(settings: Settings, service: Service, stage: str, version: str) -> str | None:
    """A release moves a stage forward: why a version lower than the stage runs is refused."""
    if settings.policy.versions is VersionPolicy.ANY:
        return None
    position = settings.policy.position(stage)
    for stack in service.stacks:
        if position < stack.height:
            current = stack.containers[position].version
            if in_order(version, current, settings.policy.versions) and not in_order(
                current, version, settings.policy.versions
            ):
                return (
                    f"release {version} refused: {stage} already runs {current}, which is "
                    f"higher; releases move forward (use 'pipeline-kit rollback' to go back)"
                )
    return None


def _refused(info: TagInfo, name: str, stage: str, settings: Settings, why: str) -> Run:
    result = Result(stage, "gate", "forward", "failed", why)
    report = Report(
        "release",
        settings.policy.stages,
        (result,),
        name,
        info.version,
        info.commit,
        stage,
        False,
        why,
    )
    return Run(report, None, Refused(why))


@dataclass(frozen=True)
class _Target:
    """What a release acts on: the service, its image repository, and the stage it enters."""

    name: str
    image: str
    stage: str
    known: State  # the part of the state around the service, as read before anything ran
    service: Service | None  # None: the release creates the service
    stacks: int  # of a service the release creates


def _target(unit: Unit, info: TagInfo, to: str | None) -> _Target:
    """The service of ``[release]``, its image (the state's, else its declaration's, else
    ``[release] image``) and the stage the release enters; bad input raises."""
    settings = unit.settings
    name = settings.release.service
    if not name:
        raise InvalidInput('set [release] service = "NAME" in pipeline-kit.toml')
    if settings.registry is None:
        raise InvalidInput('set [registry] url = "HOST:PORT" in pipeline-kit.toml to push images')
    position = settings.policy.position(to or settings.policy.stages[-1])
    stage = settings.policy.stage_name(position)
    with unit.store.read("release") as session:
        known = session.load(Scope(frozenset({name})))
    service = known.services.get(name)
    declared = settings.declared(name)
    if service is not None:
        image: str | None = service.image
    elif declared is not None:
        image = declared.image or name
    else:
        image = settings.release.image
    if image is None:
        raise InvalidInput(
            f"service {name!r} is not in the state and nothing says which image {info.tag} "
            f'builds: declare [services.{name}] (image = "REPOSITORY") or set [release] image '
            "in pipeline-kit.toml"
        )
    if service is None and position >= len(settings.policy.stages):
        raise InvalidInput(
            f"--to {to}: {name} is not in the state yet, its first release enters the stages "
            f"{', '.join(settings.policy.stages)}: give one of them"
        )
    stacks = declared.stacks if declared is not None else 1
    return _Target(name, check_image(image), stage, known, service, stacks)


def _plan_of(settings: Settings, target: _Target, version: str) -> Build:
    """The plan a release applies: the promotion of ``version`` into the target's stage, or,
    for a service not in the state, the service with every stage at ``version``."""
    if target.service is not None:
        return promote_build(target.name, target.stage, version)
    versions = [version] * len(settings.policy.stages)
    hosts = [h.name for h in settings.runtime.hosts]  # round-robin, as `service add` does
    name, image, stacks = target.name, target.image, target.stacks

    def build(state: State, ctx: Context) -> Plan:
        plan = add_service(state, ctx, name, image, stacks, versions, hosts)
        # Reported as a release of ``version`` into the target stage; every stage enters.
        return replace(plan, args={**plan.args, "version": version, "to": target.stage})

    return build


def _check(unit: Unit, info: TagInfo, target: _Target, build: Build) -> Run:
    """Everything that can refuse the release's plan, on the state read before: nothing is
    built or changed. The run has an error when the plan is refused."""
    settings = unit.settings
    if target.service is not None:
        why = _forward(settings, target.service, target.stage, info.version)
        if why is not None:
            return _refused(info, target.name, target.stage, settings, why)
    return promote_run(
        unit,
        "release",
        target.name,
        build,
        dry_run=True,
        commit=info.commit,
        snapshot=target.known,
    )


def _unbuilt(settings: Settings, info: TagInfo, name: str, reference: str) -> Run:
    """A dry run of a release that only builds and pushes: what it would do."""
    why = "dry run: not built"
    results = (
        Result("release", "build", reference, "skipped", why),
        Result("release", "push", reference, "skipped", "dry run: not pushed"),
    )
    report = Report("release", settings.policy.stages, results, name, info.version, info.commit)
    return Run(report)


def release(
    unit: Unit,
    repo: Path,
    tag: str | None,
    to: str | None,
    promote: bool,
    force: bool,
    progress: Progress,
    environ: Mapping[str, str] | None = None,
    dry_run: bool = False,
    started: Callable[[str, str, str], None] | None = None,
) -> Released:
    """Build and push the image of the release tag, then promote it (see module doc).
    ``started(service, version, stage)`` is called when the promotion starts.

    A service not in the state yet is created with every stage at the tag's version, from
    its ``[services.NAME]`` declaration (else ``[release] image``, one stack). With
    ``dry_run``, only check and plan: nothing is built, pushed or changed.
    """
    settings = unit.settings
    env = os.environ if environ is None else environ
    info = resolve_tag(repo, tag, env, settings.release.tag_pattern)
    target = _target(unit, info, to)
    name = target.name
    reference = image_of(settings, target.image, info.version)
    build = with_author(_plan_of(settings, target, info.version), name, info.version, info.author)
    if promote:
        check = _check(unit, info, target, build)
        if check.error is not None or dry_run:
            return Released(info, name, reference, None, False, check)
    elif dry_run:
        return Released(
            info, name, reference, None, False, _unbuilt(settings, info, name, reference)
        )
    # Build and push results belong to the stage the release promotes into; a release that
    # promotes nothing reports them as its own, under "release", and targets no stage.
    where = target.stage if promote else "release"
    steps, digest, pushed = _publish(unit, info, reference, where, repo, env, force, progress)
    if promote:
        if started is not None:
            started(name, info.version, target.stage)
        run = promote_run(unit, "release", name, build, commit=info.commit, before=steps)
    else:
        stages = settings.policy.stages
        report = Report("release", stages, tuple(steps), name, info.version, info.commit)
        run = Run(report, state=target.known)
    return Released(info, name, reference, digest, pushed, run)


def _publish(
    unit: Unit,
    info: TagInfo,
    reference: str,
    stage: str,
    repo: Path,
    env: Mapping[str, str],
    force: bool,
    progress: Progress,
) -> tuple[list[Result], str, bool]:
    """Build the image and push it unless the registry has it already: the results, the
    digest, and whether it was pushed. Releases are immutable unless ``force``."""
    settings = unit.settings
    if settings.registry is None:
        raise InvalidInput('set [registry] url = "HOST:PORT" in pipeline-kit.toml to push images')
    repository = split_image(reference.rsplit(":", 1)[0])[1]
    labels = {
        "org.opencontainers.image.version": info.version,
        "org.opencontainers.image.revision": info.commit,
        "org.opencontainers.image.created": info.created,
        **({"org.opencontainers.image.authors": info.author} if info.author else {}),
        **({"org.opencontainers.image.source": info.source} if info.source else {}),
    }
    args = {**dict(settings.release.build_args), "VERSION": info.version}
    context = (repo / settings.release.context).resolve()
    host = _engine_host(settings, env)
    # The first configured host is one of this command's engines; else one of its own.
    own = None if settings.runtime.hosts else Engines(replace(settings.runtime, hosts=(host,)))
    engines = own or unit.engines
    try:
        with RegistryClient(settings.registry) as registry:
            existing = registry.digest(repository, docker_tag(info.version))
            existing_id = (
                registry.image_id(repository, docker_tag(info.version)) if existing else None
            )
            client = engines.client(host.name)
            began = time.monotonic()
            built = build_image(
                client, context, settings.release.dockerfile, reference, labels, args, progress
            )
            steps = [Result(stage, "build", reference, "passed", built, time.monotonic() - began)]
            if existing is not None and existing_id == built:
                why = f"already in the registry as {existing}"
                return [*steps, Result(stage, "push", reference, "skipped", why)], existing, False
            if existing is not None and not force:
                raise Refused(
                    f"{reference} is already in the registry with other content "
                    f"({existing[:19]}…): releases are immutable; tag a new version "
                    "(or --force to overwrite)"
                )
            began = time.monotonic()
            digest = push_image(client, reference, settings.registry.auth, progress)
            pushed = Result(stage, "push", reference, "passed", digest, time.monotonic() - began)
            return [*steps, pushed], digest, True
    finally:
        if own is not None:
            own.close()


@dataclass(frozen=True)
class Upstream:
    """One version of a service's image in the registry, and where it runs."""

    version: str
    tag: str
    stages: tuple[str, ...]


def upstream(unit: Unit, name: str) -> list[Upstream]:
    """The registry's versions of ``name``'s image, sorted by version, with their stages."""
    settings = unit.settings
    if settings.registry is None:
        raise InvalidInput('set [registry] url = "HOST:PORT" in pipeline-kit.toml')
    with unit.store.read("upstream") as session:
        state = session.load(Scope(frozenset({name})))
    service = state.services.get(name)
    if service is None:
        raise InvalidInput(f"unknown service {name!r}: see 'pipeline-kit show services'")
    reference = image_of(settings, service.image, "0")
    repository = split_image(reference.rsplit(":", 1)[0])[1]
    with RegistryClient(settings.registry) as registry:
        tags = registry.tags(repository)
    where: dict[str, set[str]] = {}
    for stack in service.stacks:
        for pos, c in enumerate(stack.containers):
            where.setdefault(same_version(c.version), set()).add(settings.policy.stage_name(pos))
    order = {s: i for i, s in enumerate(settings.policy.stages)}
    found = [
        Upstream(
            version_of_tag(t),
            t,
            tuple(
                sorted(
                    where.get(same_version(version_of_tag(t)), ()),
                    key=lambda s: order.get(s, len(order)),
                )
            ),
        )
        for t in tags
    ]
    return sorted(found, key=lambda u: sort_key(u.version))
