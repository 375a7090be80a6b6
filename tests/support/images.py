"""Images for the runtime tests, built from examples/webapp on the test engine.

``webapp`` versions answer ``webapp VERSION`` on / and ``ok`` on /health. Two more tags of
the same repository misbehave: ``CRASH`` exits at start, ``SICK`` never answers /health.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import docker

from tests.support.docker import busybox_path

ROOT = Path(__file__).resolve().parents[2]
WEBAPP = ROOT / "examples" / "webapp"
VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0", "1.5.0")
CRASH = "6.6.6"
SICK = "7.7.7"


def webapp_context(folder: Path) -> Path:
    """A copy of examples/webapp with busybox in it, ready to build."""
    shutil.copytree(WEBAPP, folder, dirs_exist_ok=True)
    shutil.copy(busybox_path(), folder / "busybox")
    return folder


def build_webapp_images(client: docker.DockerClient, registry: str, folder: Path) -> str:
    """Build the example once, tag it as every test version; the repository name."""
    repository = f"{registry}/webapp"
    image, _ = client.images.build(path=str(webapp_context(folder / "webapp")), rm=True)
    for version in VERSIONS:
        image.tag(repository, version)
    crash = folder / "crash"
    crash.mkdir()
    shutil.copy(busybox_path(), crash / "busybox")
    (crash / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        'CMD ["/bin/sh", "-c", "echo boom: cannot open config; exit 3"]\n'
    )
    bad, _ = client.images.build(path=str(crash), rm=True)
    bad.tag(repository, CRASH)
    sick = folder / "sick"
    sick.mkdir()
    shutil.copy(busybox_path(), sick / "busybox")
    (sick / "Dockerfile").write_text(
        "FROM scratch\nCOPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        'CMD ["/bin/sh", "-c", "mkdir -p /tmp/e && exec httpd -f -p ${PORT:-8080} -h /tmp/e"]\n'
    )
    ill, _ = client.images.build(path=str(sick), rm=True)
    ill.tag(repository, SICK)
    return repository
