"""Docker Registry HTTP API v2: a client and the naming helpers for images and tags."""

from pipeline_kit.registry.client import RegistryClient
from pipeline_kit.registry.names import (
    check_repository,
    check_tag,
    docker_tag,
    image_reference,
    split_image,
    version_of_tag,
)
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
