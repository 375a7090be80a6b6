"""Build, run and push images on a real Docker engine and a real registry (no mocks)."""

from __future__ import annotations

import contextlib
import gc
import io
import shutil
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
import requests
from rich.console import Console

from pipeline_kit.cli.progress import make_progress
from pipeline_kit.config import load
from pipeline_kit.errors import ExternalFailure
from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.runtime.build import (
    ProgressEvent,
    build_image,
    local_digest,
    push_image,
    split_reference,
)
from tests.support.docker import busybox_path as busybox_binary
from tests.support.registry import RegistryFactory

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "webapp"
WEBAPP = "pk-test/webapp:1.2.3"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
LABELS = {
    "org.opencontainers.image.title": "webapp",
    "org.opencontainers.image.version": "1.2.3",
    "org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
    "org.opencontainers.image.created": "2024-01-02T01:04:05Z",
    "org.opencontainers.image.source": "https://git.example.com/org/webapp.git",
}


@dataclass(frozen=True)
class Built:
    image_id: str
    events: list[ProgressEvent]


def copy_example(folder: Path) -> Path:
    """examples/webapp (without a local busybox copy) plus Debian's busybox."""
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("busybox", ".pipeline-kit"))
    shutil.copy(busybox_binary(), folder / "busybox")
    return folder


def drop_leaked_sockets() -> None:
    """Collect the sockets docker-py leaks when a connect fails, without a warning.

    docker-py does not close its socket when connecting to a missing Unix socket fails (as in
    ``test_unreachable_engine`` and in the ``docker_url`` probe of the default socket); pytest
    would report the ``ResourceWarning`` of that socket in whichever test the GC runs.
    """
    previous = sys.unraisablehook

    def hook(info: sys.UnraisableHookArgs) -> None:
        if not isinstance(info.object, socket.socket):
            previous(info)

    sys.unraisablehook = hook
    try:
        gc.collect()
    finally:
        sys.unraisablehook = previous


def quiet(_: ProgressEvent) -> None:
    """A progress callback that ignores events."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def one_line(exc: pytest.ExceptionInfo[Exception]) -> str:
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture(scope="module")
def webapp(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """examples/webapp built once as pk-test/webapp:1.2.3 with OCI labels and VERSION=1.2.3."""
    drop_leaked_sockets()
    context = copy_example(tmp_path_factory.mktemp("webapp") / "webapp")
    events: list[ProgressEvent] = []
    image_id = build_image(
        docker_client, context, "Dockerfile", WEBAPP, LABELS, {"VERSION": "1.2.3"}, events.append
    )
    return Built(image_id, events)


@pytest.fixture
def container_cleanup(docker_client: docker.DockerClient) -> Iterator[list[str]]:
    """Names of containers to remove at the end of the test."""
    names: list[str] = []
    yield names
    for name in names:
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.containers.get(name).remove(force=True)


def get(url: str, timeout: float = 20.0) -> requests.Response:
    """GET ``url``, retrying while the server starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# --- build ----------------------------------------------------------------------------------


def test_build_returns_the_image_id_and_sets_labels(
    webapp: Built,
    docker_client: docker.DockerClient,
) -> None:
    info = docker_client.api.inspect_image(WEBAPP)
    assert info["Id"] == webapp.image_id
    assert webapp.image_id.startswith("sha256:")
    labels = info["Config"]["Labels"]
    assert {k: labels.get(k) for k in LABELS} == LABELS
    assert "APP_VERSION=1.2.3" in info["Config"]["Env"]
    assert info["Config"]["Healthcheck"]["Test"][0] == "CMD-SHELL"


def test_build_reports_steps_to_the_progress_callback(webapp: Built) -> None:
    steps = [e for e in webapp.events if e.current is not None]
    assert steps, "no build steps reported"
    assert all(e.phase == "build" for e in webapp.events)
    assert steps[0].message.startswith("Step 1/") and steps[0].current == 1
    assert steps[-1].current == steps[-1].total
    assert any("busybox --install" in e.message or "--install" in e.message for e in steps)
    assert all("\n" not in e.message for e in webapp.events)


def test_webapp_answers_name_version_and_health(
    webapp: Built,
    docker_client: docker.DockerClient,
    container_cleanup: list[str],
) -> None:
    port = free_port()
    container = docker_client.containers.run(
        WEBAPP, detach=True, network_mode="host", environment={"PORT": str(port)}
    )
    container_cleanup.append(container.name)
    index = get(f"http://127.0.0.1:{port}/")
    assert (index.status_code, index.text) == (200, "webapp 1.2.3\n")
    health = get(f"http://127.0.0.1:{port}/health")
    assert (health.status_code, health.text) == (200, "ok\n")
    assert get(f"http://127.0.0.1:{port}/missing").status_code == 404
    # The image's HEALTHCHECK command succeeds inside the running container.
    test = docker_client.api.inspect_image(WEBAPP)["Config"]["Healthcheck"]["Test"]
    code, output = container.exec_run(["/bin/sh", "-c", test[1]])
    assert code == 0, output
    # STOPSIGNAL SIGKILL: httpd as PID 1 ignores SIGTERM; stopping must not wait 10 s.
    assert docker_client.api.inspect_image(WEBAPP)["Config"]["StopSignal"] == "SIGKILL"
    container.stop(timeout=10)
    assert container.wait(timeout=10)["StatusCode"] == 137  # killed, not timed out


def test_webapp_takes_name_and_version_from_the_environment(
    webapp: Built,
    docker_client: docker.DockerClient,
    container_cleanup: list[str],
) -> None:
    port = free_port()
    env = {"PORT": str(port), "PIPELINE_KIT_SERVICE": "shop", "PIPELINE_KIT_VERSION": "2.0.0"}
    container = docker_client.containers.run(
        WEBAPP, detach=True, network_mode="host", environment=env
    )
    container_cleanup.append(container.name)
    assert get(f"http://127.0.0.1:{port}/").text == "shop 2.0.0\n"


def test_webapp_without_a_version(
    docker_client: docker.DockerClient,
    tmp_path: Path,
    container_cleanup: list[str],
) -> None:
    context = copy_example(tmp_path / "webapp")
    build_image(docker_client, context, "Dockerfile", "pk-test/webapp:none", {}, {}, quiet)
    port = free_port()
    container = docker_client.containers.run(
        "pk-test/webapp:none", detach=True, network_mode="host", environment={"PORT": str(port)}
    )
    container_cleanup.append(container.name)
    assert get(f"http://127.0.0.1:{port}/").text == "webapp unknown\n"


def test_failing_run_step_is_an_external_failure(
    docker_client: docker.DockerClient,
    busybox_image: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox_image}\nRUN echo about to fail && false\nRUN echo never\n"
    )
    events: list[ProgressEvent] = []
    with pytest.raises(ExternalFailure) as caught:
        build_image(docker_client, tmp_path, "Dockerfile", "pk-test/fail:1", {}, {}, events.append)
    message = one_line(caught)
    assert message.startswith("docker build of pk-test/fail:1 failed: ")
    assert "returned a non-zero code: 1" in message
    assert any(e.message == "about to fail" for e in events)
    assert not any("never" in e.message for e in events)


@pytest.mark.parametrize(
    ("dockerfile", "reference", "expected"),
    [
        ("FROMM scratch\n", "pk-test/bad:1", "unknown instruction: FROMM"),
        ("FROM {busybox}\n", "Bad Ref:1", "invalid reference format"),
        ("FROM 127.0.0.1:9/never-built:1\n", "pk-test/bad:1", "connection refused"),
    ],
)
def test_engine_refusals_are_external_failures(
    docker_client: docker.DockerClient,
    busybox_image: str,
    tmp_path: Path,
    dockerfile: str,
    reference: str,
    expected: str,
) -> None:
    (tmp_path / "Dockerfile").write_text(dockerfile.format(busybox=busybox_image))
    with pytest.raises(ExternalFailure) as caught:
        build_image(docker_client, tmp_path, "Dockerfile", reference, {}, {}, quiet)
    message = one_line(caught)
    assert message.startswith(f"docker build of {reference} failed: ")
    assert expected in message


@pytest.mark.parametrize(
    ("context", "dockerfile", "expected"),
    [
        ("context", "../Dockerfile", "is outside the build context"),
        ("context", "sub/../../Dockerfile", "is outside the build context"),
        ("context", "link", "is outside the build context"),  # a symlink leaving the context
        ("context", "/etc/passwd", "must be a path relative to the build context"),
        ("context", "", "must be a path relative"),
        ("context", "Missing.dockerfile", "not found in"),
        ("missing", "Dockerfile", "is not a folder"),
    ],
)
def test_context_and_dockerfile_are_checked(
    docker_client: docker.DockerClient,
    tmp_path: Path,
    context: str,
    dockerfile: str,
    expected: str,
) -> None:
    (tmp_path / "context" / "sub").mkdir(parents=True)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "context" / "link").symlink_to(tmp_path / "Dockerfile")
    with pytest.raises(InvalidInput) as caught:
        build_image(docker_client, tmp_path / context, dockerfile, "pk-test/x:1", {}, {}, quiet)
    assert expected in one_line(caught)


def test_unreachable_engine_is_an_external_failure(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    client = docker.DockerClient(base_url=f"unix://{tmp_path}/no.sock", version="1.41")
    try:
        with pytest.raises(ExternalFailure) as caught:
            build_image(client, tmp_path, "Dockerfile", "pk-test/x:1", {}, {}, quiet)
        message = one_line(caught)
        assert message.startswith("docker build of pk-test/x:1 failed: cannot reach")
        with pytest.raises(ExternalFailure, match=r"^docker push of .* failed: cannot reach"):
            push_image(client, "127.0.0.1:5000/x:1", None, quiet)
        del caught  # its exception chain holds docker-py's unclosed socket
    finally:
        client.close()
        drop_leaked_sockets()


# --- push -----------------------------------------------------------------------------------


def test_push_returns_the_digest_the_registry_stores(
    webapp: Built,
    docker_client: docker.DockerClient,
    registry_factory: RegistryFactory,
) -> None:
    # A registry of its own: its layers are new there, so the push reports byte progress.
    registry_url = registry_factory("none", fresh=True).host
    reference = f"{registry_url}/webapp:1.2.3"
    docker_client.api.tag(WEBAPP, f"{registry_url}/webapp", "1.2.3")
    events: list[ProgressEvent] = []
    digest = push_image(docker_client, reference, None, events.append)
    assert digest.startswith("sha256:") and len(digest) == 71
    response = requests.head(
        f"http://{registry_url}/v2/webapp/manifests/1.2.3",
        headers={"Accept": MANIFEST_V2},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == digest
    assert local_digest(docker_client, reference) == digest
    # Progress: push events only, per layer, with byte counts, each layer ending pushed.
    assert events and all(e.phase == "push" for e in events)
    layers = {e.layer for e in events if e.layer is not None}
    assert layers
    for layer in layers:
        final = [e.message for e in events if e.layer == layer][-1]
        assert final in ("Pushed", "Layer already exists") or final.startswith("Mounted from")
    assert any(e.current is not None and e.total for e in events)
    # Pushing again: layers exist, same digest.
    assert push_image(docker_client, reference, None, quiet) == digest


def test_push_to_a_closed_port_is_an_external_failure(
    webapp: Built,
    docker_client: docker.DockerClient,
) -> None:
    port = free_port()  # nothing listens there once the socket is closed
    reference = f"127.0.0.1:{port}/webapp:1.2.3"
    docker_client.api.tag(WEBAPP, f"127.0.0.1:{port}/webapp", "1.2.3")
    try:
        with pytest.raises(ExternalFailure) as caught:
            push_image(docker_client, reference, {"username": "u", "password": "hunter2"}, quiet)
        message = one_line(caught)
        assert message.startswith(f"docker push of {reference} failed: ")
        assert "connection refused" in message
        assert "hunter2" not in message
    finally:
        docker_client.api.remove_image(reference)


def test_push_of_a_missing_image_is_an_external_failure(
    docker_client: docker.DockerClient,
    registry_url: str,
) -> None:
    reference = f"{registry_url}/never-built:1.0.0"
    with pytest.raises(ExternalFailure) as caught:
        push_image(docker_client, reference, None, quiet)
    assert one_line(caught).startswith(f"docker push of {reference} failed: ")


@pytest.mark.parametrize("reference", ["webapp", "127.0.0.1:5000/webapp", "w@sha256:00", ":1"])
def test_push_needs_a_tag(docker_client: docker.DockerClient, reference: str) -> None:
    with pytest.raises(InvalidInput):
        push_image(docker_client, reference, None, quiet)


def test_split_reference() -> None:
    assert split_reference("127.0.0.1:5000/webapp:1.2.3") == ("127.0.0.1:5000/webapp", "1.2.3")
    assert split_reference("webapp:1.2.3-rc.1") == ("webapp", "1.2.3-rc.1")


# --- progress rendering ----------------------------------------------------------------------


def recorded(webapp: Built) -> list[ProgressEvent]:
    """The real build events followed by a push's, as a push on a slow link reports them."""
    push = [
        ProgressEvent("push", "The push refers to repository [127.0.0.1:5000/webapp]"),
        ProgressEvent("push", "Preparing", "abc123"),
        ProgressEvent("push", "Pushing", "abc123", 0, 4_000_000),
        ProgressEvent("push", "Pushing", "abc123", 2_000_000, 4_000_000),
        ProgressEvent("push", "Pushing", "abc123", 4_000_000, 4_000_000),
        ProgressEvent("push", "Pushed", "abc123"),
        ProgressEvent("push", "Layer already exists", "def456"),
        ProgressEvent("push", "retrying https://user:hunter2@127.0.0.1:5000/v2/"),
        ProgressEvent("push", "1.2.3: digest: sha256:" + "0" * 64 + " size: 527"),
    ]
    return [*webapp.events, *push]


def test_plain_progress_prints_steps_and_layer_status_changes(webapp: Built) -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with make_progress(console) as progress:
        for event in recorded(webapp):
            progress(event)
    lines = out.getvalue().splitlines()
    assert any(line.startswith("build: Step 1/") for line in lines)
    assert "build: Step 2/" in out.getvalue()
    assert not any("--->" in line for line in lines)
    assert lines.count("push: layer abc123 pushing") == 1  # not one line per byte update
    assert "push: layer abc123 pushed" in lines
    assert "push: layer def456 already exists" in lines
    assert "hunter2" not in out.getvalue() and "user:" not in out.getvalue()


def test_terminal_progress_shows_bars(webapp: Built) -> None:
    out = io.StringIO()
    # An interactive terminal, whatever TERM says (rich takes TERM=dumb as non-interactive).
    console = Console(file=out, force_terminal=True, force_interactive=True, width=120)
    with make_progress(console) as progress:
        for event in recorded(webapp):
            progress(event)
    text = out.getvalue()
    assert "build: Step 1/" in text
    assert "abc123" in text and "4.0 MB" in text
    assert "hunter2" not in text


# --- example configuration ------------------------------------------------------------------


def test_example_config_loads() -> None:
    settings = load(EXAMPLE, {})
    assert settings.source == EXAMPLE / "pipeline-kit.toml"
    assert settings.policy.stages == ("prod", "qa", "dev")
    assert settings.registry is not None
    assert (settings.registry.url, settings.registry.insecure) == ("127.0.0.1:5000", True)
    assert (settings.release.service, settings.release.image) == ("webapp", "webapp")
    assert settings.release.tag_pattern == "v{semver}"
    assert settings.runtime.kind == "docker"
    assert settings.runtime.network == "host"
    assert settings.runtime.health_path == "/health"
    assert [(h.name, h.url) for h in settings.runtime.hosts] == [
        ("local", "unix:///var/run/docker.sock")
    ]
