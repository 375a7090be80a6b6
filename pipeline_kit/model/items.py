"""The items of the model: services, stacks, containers, endpoints, service trees, and the state.

Everything is an immutable value; actions build new values and never change old ones.
Positions count from 0 (the most trusted stage) upward.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from pipeline_kit.model.errors import InvalidInput

_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62})")
_IMAGE_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(rf"(?:[A-Za-z0-9.-]+(?::[0-9]{{1,5}})?/)?{_IMAGE_PART}(?:/{_IMAGE_PART})*")


def check_name(kind: str, name: str) -> str:
    """Validate a service or endpoint name: lowercase letters, digits and '-', at most 63."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid {kind} name {name!r}: use lowercase letters, digits and '-' "
            "(at most 63, not starting or ending with '-')"
        )
    return name


def check_host(name: str) -> str:
    """Validate a host name as used in config and state."""
    if not _HOST.fullmatch(name):
        raise InvalidInput(f"invalid host name {name!r}: use letters, digits, '.', '_' or '-'")
    return name


def check_image(image: str) -> str:
    """Validate an image repository reference without tag (``registry:5000/team/app``)."""
    if len(image) > 255 or not _IMAGE.fullmatch(image):
        raise InvalidInput(
            f"invalid image {image!r}: expected a repository such as example/webapp "
            "or registry.example.com:5000/team/webapp, without a tag"
        )
    return image


@dataclass(frozen=True, slots=True)
class Container:
    """One instance of ``image:version`` at a position of a stack."""

    id: str
    version: str
    entered: datetime  # when it entered its current position
    previous: str | None = None  # the version that held this position before it
    address: str | None = None  # host:port where the runtime serves it, once started


@dataclass(frozen=True, slots=True)
class Stack:
    """An ordered list of containers of one service on one host; index 0 is the most trusted."""

    index: int
    host: str
    containers: tuple[Container, ...]

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(c.version for c in self.containers)

    @property
    def height(self) -> int:
        return len(self.containers)


@dataclass(frozen=True, slots=True)
class Service:
    """A named application with one image repository and one or more identical stacks."""

    name: str
    image: str
    stacks: tuple[Stack, ...]

    @property
    def height(self) -> int:
        """The height of the first stack (all stacks are identical when constraints hold)."""
        return self.stacks[0].height if self.stacks else 0

    def stack(self, index: int) -> Stack | None:
        for stack in self.stacks:
            if stack.index == index:
                return stack
        return None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A public entry point of a main service, bound to one stage (a position)."""

    name: str
    service: str
    port: int
    position: int
    home: int | None = None  # the stage it was added for, whose users it serves

    @property
    def serves(self) -> int:
        """The stage whose users it serves, wherever it points now."""
        return self.position if self.home is None else self.home


@dataclass(frozen=True, slots=True)
class Edge:
    """parent → child in a service tree, pointing at a stack position of the child."""

    parent: str
    child: str
    position: int


@dataclass(frozen=True, slots=True)
class Tree:
    """The service tree of a main service at one stage: the stage *is* the tree."""

    service: str
    position: int
    edges: tuple[Edge, ...] = ()

    @property
    def key(self) -> tuple[str, int]:
        return (self.service, self.position)

    def members(self) -> set[str]:
        """The services in the tree: the root and every child reachable from it."""
        return {self.service} | {e.child for e in self.edges}


@dataclass(frozen=True, slots=True)
class Approval:
    """A sign-off: ``version`` of ``service`` may enter the stage at ``position``."""

    service: str
    version: str
    position: int
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Rejection:
    """``version`` of ``service`` may never enter a stage again."""

    service: str
    version: str
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Hold:
    """An immediate freeze of the stage at ``position``, for one service or (None) for all."""

    service: str | None
    position: int
    reason: str
    by: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Authored:
    """Who released ``version`` of ``service`` (a tag's tagger or a commit's author)."""

    service: str
    version: str
    author: str  # ``Name <email>`` as git records it
    at: datetime


@dataclass(frozen=True)
class State:
    """All items and their relations, or the part of them one action needs.

    The dictionaries are never changed in place: actions build new ones.
    """

    services: dict[str, Service] = field(default_factory=dict)
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    trees: dict[tuple[str, int], Tree] = field(default_factory=dict)
    approvals: tuple[Approval, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    holds: tuple[Hold, ...] = ()
    authors: tuple[Authored, ...] = ()

    def endpoints_of(self, service: str) -> list[Endpoint]:
        return [e for e in self.endpoints.values() if e.service == service]

    def trees_of(self, service: str) -> list[Tree]:
        return [t for t in self.trees.values() if t.service == service]

    def is_rejected(self, service: str, version: str) -> Rejection | None:
        """The rejection of ``version`` (``v1.2.0`` and ``1.2.0`` are one version)."""
        key = same_version(version)
        for rejection in self.rejections:
            if rejection.service == service and same_version(rejection.version) == key:
                return rejection
        return None

    def is_approved(self, service: str, version: str, position: int) -> bool:
        key = same_version(version)
        return any(
            a.service == service and same_version(a.version) == key and a.position == position
            for a in self.approvals
        )


def same_version(version: str) -> str:
    """The form under which two spellings of one version compare equal (no ``v`` prefix)."""
    return version[1:] if version[:1] in ("v", "V") and version[1:2].isdigit() else version
