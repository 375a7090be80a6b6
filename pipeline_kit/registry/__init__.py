"""Docker Registry HTTP API v2: a client and the naming helpers for images and tags.

The client (and requests with it) is imported on first use: naming an image costs nothing.
"""

from typing import TYPE_CHECKING, Any

from pipeline_kit.registry.names import (
    check_repository,
    check_tag,
    docker_tag,
    image_reference,
    split_image,
    version_of_tag,
)

if TYPE_CHECKING:
    from pipeline_kit.registry.client import RegistryClient
    from pipeline_kit.registry.transport import is_loopback

__all__ = [
    "RegistryClient",
    "check_repository",
    "check_tag",
    "docker_tag",
    "image_reference",
    "is_loopback",
    "split_image",
    "version_of_tag",
]


def __getattr__(name: str) -> Any:
    if name == "RegistryClient":
        from pipeline_kit.registry.client import RegistryClient

        return RegistryClient
    if name == "is_loopback":
        from pipeline_kit.registry.transport import is_loopback

        return is_loopback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
