"""Build and push images with docker-py's low-level API, streaming progress to a callback.

docker-py does not raise when the engine reports a failure inside a build or push stream, so
every decoded chunk is checked for ``error`` / ``errorDetail``. Engine and connection errors
become one-line :class:`ExternalFailure` messages; a bad context or Dockerfile path is
:class:`InvalidInput`. Credentials are passed to the engine only, never to the callback.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from pipeline_kit.errors import ExternalFailure
from pipeline_kit.model.errors import InvalidInput

if TYPE_CHECKING:  # docker-py is imported on first use: ``Progress`` alone needs none of it
    import docker

_STEP = re.compile(r"Step (\d+)/(\d+) : ")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_STATUS_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_MAX_LINE = 300
_DRAIN = 10_000  # chunks read after an error, at most


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a build or push: a line of output, or a layer's status and bytes."""

    phase: Literal["build", "push"]
    message: str
    layer: str | None = None  # a layer id (push, or a base-image pull during a build)
    current: int | None = None  # bytes for a layer; the step number for "Step 2/5 : …"
    total: int | None = None  # bytes for a layer; the number of steps for "Step 2/5 : …"


Progress = Callable[[ProgressEvent], None]


def clean(text: str) -> str:
    """``text`` without terminal escapes and control characters, on one line."""
    text = _ANSI.sub("", text).replace("\t", " ")
    return "".join(ch for ch in text if ch.isprintable()).strip()


def _first_line(text: str) -> str:
    for line in str(text).splitlines():
        line = clean(line)
        if line:
            return line if len(line) <= _MAX_LINE else line[:_MAX_LINE] + "…"
    return "no details from the engine"


def _engine_message(exc: BaseException) -> str:
    """The engine's own words for an error, else a hint about the connection."""
    explanation = getattr(exc, "explanation", None)
    if explanation:
        text = (
            explanation.decode(errors="replace")
            if isinstance(explanation, bytes)
            else str(explanation)
        )
        return _first_line(text)
    if isinstance(exc, (ConnectionError, FileNotFoundError)) or "Connection" in type(exc).__name__:
        return f"cannot reach the Docker engine ({_first_line(str(exc))}): check DOCKER_HOST"
    return _first_line(str(exc) or type(exc).__name__)


def _error(chunk: Mapping[str, Any], what: str) -> ExternalFailure | None:
    """The ExternalFailure a stream chunk reports, if it reports an error."""
    if "error" not in chunk and "errorDetail" not in chunk:
        return None
    detail = chunk.get("errorDetail")
    message = chunk.get("error") or (detail.get("message") if isinstance(detail, dict) else None)
    return ExternalFailure(f"{what} failed: {_first_line(str(message or 'unknown error'))}")


def _chunks(start: Callable[[], Iterable[Any]], what: str) -> Iterator[Mapping[str, Any]]:
    """The decoded chunks of an engine stream, each checked; engine errors → ExternalFailure.

    After an error chunk the rest of the stream (the engine ends it) is read, so that the
    connection goes back to the pool instead of leaking.
    """
    from docker.errors import DockerException

    failure: ExternalFailure | None = None
    drained = 0
    try:
        for chunk in start():
            if failure is not None:
                drained += 1
                if drained > _DRAIN:
                    break
                continue
            if isinstance(chunk, dict):
                failure = _error(chunk, what)
                if failure is None:
                    yield chunk
    except (DockerException, OSError) as exc:  # requests' errors are OSErrors
        raise failure or ExternalFailure(f"{what} failed: {_engine_message(exc)}") from None
    if failure is not None:
        raise failure


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _layer_event(phase: Literal["build", "push"], chunk: Mapping[str, Any]) -> ProgressEvent:
    detail = chunk.get("progressDetail")
    detail = detail if isinstance(detail, dict) else {}
    layer = chunk.get("id")
    return ProgressEvent(
        phase,
        clean(str(chunk.get("status", ""))),
        layer=clean(layer) if isinstance(layer, str) else None,
        current=_int(detail.get("current")),
        total=_int(detail.get("total")),
    )


def _build_path(context: Path, dockerfile: str) -> tuple[Path, str]:
    """The resolved context folder and the Dockerfile path relative to it."""
    root = context.resolve()
    if not root.is_dir():
        raise InvalidInput(
            f"build context {context} is not a folder: set [release] context to the folder "
            "that holds the Dockerfile"
        )
    if not dockerfile or Path(dockerfile).is_absolute():
        raise InvalidInput(
            f"dockerfile {dockerfile!r} must be a path relative to the build context {root}"
        )
    target = (root / dockerfile).resolve()
    if not target.is_relative_to(root):
        raise InvalidInput(
            f"dockerfile {dockerfile!r} is outside the build context {root}: "
            "use a path inside the context"
        )
    if not target.is_file():
        raise InvalidInput(
            f"dockerfile {dockerfile!r} not found in {root}: set [release] dockerfile"
        )
    return root, target.relative_to(root).as_posix()


def _context_tar(root: Path, dockerfile: str) -> IO[bytes]:
    """The build context as an uncompressed tar in a temporary file, without ignored files."""
    from docker.utils import tar as docker_tar

    exclude: list[str] | None = None
    try:
        ignore = root / ".dockerignore"
        if ignore.is_file():
            lines = (line.strip() for line in ignore.read_text().splitlines())
            exclude = [line for line in lines if line and not line.startswith("#")]
        archive: IO[bytes] = docker_tar(str(root), exclude=exclude, dockerfile=(dockerfile, None))
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the build context {root}: {_first_line(str(exc))}"
        ) from None
    return archive


def _on_build_chunk(chunk: Mapping[str, Any], progress: Progress) -> str | None:
    """Report a build chunk's lines as events; return the image id when the chunk has it."""
    text = chunk.get("stream")
    if isinstance(text, str):
        for raw in text.splitlines():
            line = clean(raw)
            step = _STEP.match(line)
            if step:
                progress(ProgressEvent("build", line, None, int(step[1]), int(step[2])))
            elif line:
                progress(ProgressEvent("build", line))
    elif isinstance(chunk.get("status"), str):  # pulling a base image
        progress(_layer_event("build", chunk))
    aux = chunk.get("aux")
    return str(aux["ID"]) if isinstance(aux, dict) and isinstance(aux.get("ID"), str) else None


def build_image(
    client: docker.DockerClient,
    context: Path,
    dockerfile: str,
    reference: str,
    labels: Mapping[str, str],
    build_args: Mapping[str, str],
    progress: Progress,
) -> str:
    """Build ``context`` as ``reference`` (classic builder) and return the image id."""
    root, relative = _build_path(context, dockerfile)
    what = f"docker build of {reference}"
    image_id: str | None = None
    # The context is tarred here (as docker-py would, honouring .dockerignore) so that the
    # temporary file is closed even when the engine cannot be reached.
    with _context_tar(root, relative) as archive:

        def start() -> Iterable[Any]:
            return client.api.build(  # type: ignore[no-any-return]
                fileobj=archive,
                custom_context=True,
                dockerfile=relative,
                tag=reference,
                labels=dict(labels),
                buildargs=dict(build_args),
                rm=True,
                forcerm=True,
                decode=True,
            )

        for chunk in _chunks(start, what):
            image_id = _on_build_chunk(chunk, progress) or image_id
    if image_id is None:  # older engines: no aux message; ask for the tag just built
        for chunk in _chunks(lambda: [client.api.inspect_image(reference)], what):
            image_id = str(chunk["Id"])
    if image_id is None:
        raise ExternalFailure(f"{what} failed: the engine reported no image id")
    return image_id


def split_reference(reference: str) -> tuple[str, str]:
    """``registry:5000/name:tag`` → (``registry:5000/name``, ``tag``); a tag is required."""
    repository, colon, tag = reference.rpartition(":")
    if "@" in reference or not colon or not repository or "/" in tag or not tag:
        raise InvalidInput(
            f"invalid image reference {reference!r}: expected REGISTRY/NAME:TAG "
            "such as 127.0.0.1:5000/webapp:1.2.3"
        )
    return repository, tag


def push_image(
    client: docker.DockerClient,
    reference: str,
    auth: Mapping[str, str] | None,
    progress: Progress,
) -> str:
    """Push ``reference`` and return the manifest digest the registry stored (``sha256:…``)."""
    repository, tag = split_reference(reference)
    what = f"docker push of {reference}"
    auth_config = dict(auth) if auth else None
    digest: str | None = None

    def start() -> Iterable[Any]:
        return client.api.push(  # type: ignore[no-any-return]
            repository, tag=tag, stream=True, decode=True, auth_config=auth_config
        )

    for chunk in _chunks(start, what):
        aux = chunk.get("aux")
        if isinstance(aux, dict) and _DIGEST.fullmatch(str(aux.get("Digest", ""))):
            digest = str(aux["Digest"])
        status = chunk.get("status")
        if isinstance(status, str):
            found = _STATUS_DIGEST.search(status)
            if found and digest is None:
                digest = found[1]
            progress(_layer_event("push", chunk))
    if digest is None:
        raise ExternalFailure(f"{what} failed: the engine reported no digest")
    return digest


def local_digest(client: docker.DockerClient, reference: str) -> str | None:
    """The registry digest the engine recorded for ``reference`` (after a push or pull)."""
    from docker.errors import DockerException, ImageNotFound

    repository, _ = split_reference(reference)
    try:
        info: Mapping[str, Any] = client.api.inspect_image(reference)
    except ImageNotFound:
        return None
    except (DockerException, OSError) as exc:
        raise ExternalFailure(
            f"docker inspect of {reference} failed: {_engine_message(exc)}"
        ) from None
    for entry in info.get("RepoDigests") or ():
        name, at, digest = str(entry).partition("@")
        if at and name == repository and _DIGEST.fullmatch(digest):
            return digest
    return None
