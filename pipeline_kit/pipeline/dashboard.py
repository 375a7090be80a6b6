"""``dashboard`` and ``show metrics``: read the state, history, canaries, last health and the
images' commit labels once, then hand them to the pure renderers."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pipeline_kit.config_types import Settings
from pipeline_kit.dashboard import Health, Image, SiteData
from pipeline_kit.errors import ExternalFailure
from pipeline_kit.metrics import Metrics, compute, events
from pipeline_kit.model.errors import InvalidInput, PipelineKitError
from pipeline_kit.model.items import State
from pipeline_kit.pipeline.unit import Unit

REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"
SOURCE = "org.opencontainers.image.source"


def parse_now(text: str | None) -> datetime:
    """``--now`` (ISO 8601; UTC when it names no zone), else the current time."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"invalid --now {text!r}: expected ISO 8601 such as 2026-01-31T12:00:00Z"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _label_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _images(settings: Settings, state: State) -> dict[tuple[str, str], Image]:
    """The commit labels of every version in the state, when a registry is configured."""
    if settings.registry is None:
        return {}
    from pipeline_kit.registry import RegistryClient, docker_tag, split_image
    from pipeline_kit.runtime.placement import image_of

    wanted = sorted(
        {
            (s.name, s.image, c.version)
            for s in state.services.values()
            for st in s.stacks
            for c in st.containers
        }
    )
    out: dict[tuple[str, str], Image] = {}
    with RegistryClient(settings.registry) as registry:
        for service, image, version in wanted:
            repository = split_image(image_of(settings, image, version).rsplit(":", 1)[0])[1]
            try:
                labels = registry.labels(repository, docker_tag(version))
            except PipelineKitError:
                continue  # an image the registry does not have: its commit stays unknown
            out[(service, version)] = Image(
                labels.get(REVISION) or None, _label_time(labels.get(CREATED)), labels.get(SOURCE)
            )
    return out


def gather(settings: Settings, now: datetime) -> SiteData:
    """Everything the dashboard shows, read in one snapshot (labels from the registry after)."""
    from pipeline_kit.pipeline.routing import running_canaries
    from pipeline_kit.store import health, journal

    with Unit(settings) as unit, unit.store.read("dashboard") as session:
        state = session.load_all()
        history = session.history()
        canaries = running_canaries(journal.entries(session)) if not session.empty else {}
        last = health.last(session)
    found = {cid: Health(status, detail, at) for cid, (status, detail, at) in last.items()}
    return SiteData(state, settings.policy, history, now, canaries, found, _images(settings, state))


def _writable(out: Path) -> None:
    """Make ``out`` and try a file in it: a folder that cannot be written is bad input."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise InvalidInput(f"--out {out} is not a writable folder: {why}") from None


def write(settings: Settings, out: Path, now: datetime) -> list[Path]:
    """``dashboard --out DIR``: write every page; the paths written."""
    from pipeline_kit.dashboard import site

    _writable(out)
    files = site(gather(settings, now))
    written = []
    try:
        for relative, text in files.items():
            path = out / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    except OSError as exc:
        raise ExternalFailure(f"cannot write the dashboard to {out}: {exc.strerror}") from None
    return written


@dataclass(frozen=True)
class Delivery:
    """``show metrics``: per service (and overall), the metrics over one window."""

    stage: str
    overall: Metrics
    services: dict[str, Metrics]


def metrics(settings: Settings, service: str | None, days: int, now: datetime) -> Delivery:
    if days < 1:
        raise InvalidInput(f"invalid --days {days}: give 1 or more")
    data = gather(settings, now)
    if service is not None and service not in data.state.services:
        raise InvalidInput(f"unknown service {service!r}: see 'pipeline-kit show services'")
    stage = settings.policy.stage_name(0)
    found = events(data.history, stage)
    commit_time = functools.partial(SiteData.commit_time, data)
    names = [service] if service is not None else sorted(data.state.services)
    per = {n: compute(found, now, days, commit_time, n) for n in names}
    overall = per[service] if service is not None else compute(found, now, days, commit_time)
    return Delivery(stage, overall, per)
