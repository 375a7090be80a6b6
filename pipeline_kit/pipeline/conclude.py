"""The end of every reporting command: JUnit files, the runner's summary and outputs, and
GitHub feedback, decided from the CI environment. Rendering is the CLI's."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipeline_kit.config_types import Settings
from pipeline_kit.model.errors import PipelineKitError
from pipeline_kit.model.items import State
from pipeline_kit.pipeline.promotion import Run
from pipeline_kit.report.results import Report


@dataclass
class Concluded:
    """What the end of a command wrote and sent."""

    junit: list[Path] | None = None  # the files written, when asked for
    warnings: list[str] = field(default_factory=list)  # GitHub feedback calls that failed
    notices: list[str] = field(default_factory=list)  # notifications not sent (pipeline.notify)


def feedback_enabled(environ: Mapping[str, str]) -> bool:
    """GitHub feedback is on with a token and a repository."""
    token = environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN")
    return bool(token and environ.get("GITHUB_REPOSITORY"))


def revision_of(settings: Settings, image: str | None, version: str, repo: Path) -> str | None:
    """The commit a version was built from: the image's revision label, else its git tag."""
    from pipeline_kit.scm.git import commit_of_version

    if image is not None and settings.registry is not None:
        from pipeline_kit.registry import RegistryClient, docker_tag, split_image
        from pipeline_kit.runtime.placement import image_of

        reference = image_of(settings, image, version)
        repository = split_image(reference.rsplit(":", 1)[0])[1]
        try:
            with RegistryClient(settings.registry) as registry:
                labels = registry.labels(repository, docker_tag(version))
        except PipelineKitError:
            labels = {}
        revision = labels.get("org.opencontainers.image.revision", "")
        if len(revision) == 40 and all(ch in "0123456789abcdef" for ch in revision):
            return revision
    return commit_of_version(repo, version, settings.release.tag_pattern)


def lookups(
    settings: Settings, service: str | None, state: State | None, repo: Path, public_host: str
) -> tuple[Callable[[str], str | None], Callable[[str], str | None]]:
    """For one service's feedback, from the state the command read: version → the commit it
    was built from (each looked up once), and stage → the URL of its endpoint there."""
    svc = state.services.get(service) if state is not None and service else None
    image = svc.image if svc is not None else settings.release.image
    ports: dict[str, int] = {}
    for endpoint in sorted(state.endpoints.values() if state else (), key=lambda e: e.name):
        if endpoint.service == service:
            ports.setdefault(settings.policy.stage_name(endpoint.position), endpoint.port)

    @functools.cache
    def revision(version: str) -> str | None:
        return revision_of(settings, image, version, repo) if service else None

    def url(stage: str) -> str | None:
        return f"http://{public_host}:{ports[stage]}" if stage in ports else None

    return revision, url


def _feedback(run: Run, settings: Settings, environ: Mapping[str, str]) -> list[str]:
    from pipeline_kit.github.feedback import send
    from pipeline_kit.pipeline.check import shown_path

    report: Report = run.report
    public_host = environ.get("PIPELINE_KIT_PUBLIC_HOST") or "localhost"
    revision, url = lookups(settings, report.service, run.state, Path.cwd(), public_host)
    default_path = shown_path(settings.source) if settings.source else "pipeline-kit.toml"
    return send(report, environ, revision, url, default_path)


def conclude(
    run: Run,
    settings: Settings,
    junit_dir: Path | None,
    outputs: dict[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Concluded:
    """Write JUnit, the job summary and step outputs; send GitHub feedback when it is on."""
    from pipeline_kit.report.summary import write_runner_files

    env = os.environ if environ is None else environ
    done = Concluded()
    if junit_dir is not None:
        from pipeline_kit.report import junit

        done.junit = junit.write(run.report, junit_dir)
    write_runner_files(run.report, env, outputs)
    if feedback_enabled(env):
        done.warnings = _feedback(run, settings, env)
    return done
