"""The release's author when no command recorded it: from the image's labels, at ``approve``.

``release`` records who released a version and writes it into the image as
``org.opencontainers.image.authors``. A version pushed by another tool, or a state imported
from elsewhere, has no recorded author: where a stage forbids self-approval, ``approve``
reads the label from the registry (and records what it found with the approval).

- No ``[registry]`` configured: there is nothing to read; one line says self-approval is
  checked against recorded authors only, and the approval counts.
- The registry does not answer: the rule could be checked but cannot be now; the approval
  is refused (exit 3, nothing recorded).
- The image, or its label, is not there: the image names no author; one line says so, and
  the approval counts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipeline_kit.config_types import Registry as RegistryConfig
from pipeline_kit.config_types import Settings
from pipeline_kit.errors import ExternalFailure
from pipeline_kit.model.actions import Context
from pipeline_kit.model.approvals import author_of
from pipeline_kit.model.items import Authored, State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.rollout import Build
from pipeline_kit.store.database import Scope

AUTHORS = "org.opencontainers.image.authors"


@dataclass(frozen=True)
class Found:
    """What the labels said: the author to record (None: none), and a line to show."""

    author: str | None = None
    note: str | None = None


def from_image(settings: Settings, service: str, version: str, stage: str) -> Found:
    """The author of ``version`` from its image's labels, when the stage's rules need it
    (``self_approval = false``) and no author is recorded."""
    policy = settings.policy
    if stage not in policy.stages or policy.gate(policy.stages.index(stage)).self_approval:
        return Found()
    from pipeline_kit.pipeline.unit import Unit

    with Unit(settings) as unit, unit.store.read("approve") as session:
        state = session.load(Scope(frozenset({service})))
    known = state.services.get(service)
    if known is None or author_of(state, service, version) is not None:
        return Found()  # an unknown service is the action's to refuse
    what = f"{service} {version} has no recorded author"
    if settings.registry is None:
        return Found(
            None,
            f"{what} and no [registry] is configured to read its image's labels: "
            f"self_approval = false for {stage} is checked against recorded authors only",
        )
    return _labelled(settings, settings.registry, known.image, (version, stage, what))


def _labelled(
    settings: Settings, registry_config: RegistryConfig, image: str, about: tuple[str, str, str]
) -> Found:
    from pipeline_kit.registry import RegistryClient, docker_tag, split_image
    from pipeline_kit.runtime.placement import image_of

    version, stage, what = about
    reference = image_of(settings, image, version)
    repository = split_image(reference.rsplit(":", 1)[0])[1]
    try:
        with RegistryClient(registry_config) as registry:
            labels = registry.labels(repository, docker_tag(version))
    except ExternalFailure as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ExternalFailure(
            f"approve refused: {what} and its image's labels could not be read ({reason}): "
            f"self_approval = false for {stage} cannot be checked; nothing was recorded"
        ) from None
    author = labels.get(AUTHORS, "").strip()[:300]
    if not author:
        return Found(None, f"{what} and {reference} has no {AUTHORS} label: none to refuse")
    return Found(author, f"{what}: {reference} names {author} ({AUTHORS})")


def with_label_author(build: Build, service: str, version: str, author: str) -> Build:
    """``build`` judged knowing ``author`` released ``version``, and recording it."""

    def wrapped(state: State, ctx: Context) -> Plan:
        if author_of(state, service, version) is not None:
            return build(state, ctx)  # recorded meanwhile: the record decides
        record = Authored(service, version, author, ctx.now)
        plan = build(replace(state, authors=(*state.authors, record)), ctx)
        args = {**plan.args, "author": author, "author_from": AUTHORS}
        return replace(plan, before=state, args=args)

    return wrapped
