"""The rules a state is checked against: stages, version order, heights and stage gates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from pipeline_kit.model.errors import InvalidInput
from pipeline_kit.model.freeze import Window
from pipeline_kit.model.versions import VersionPolicy


@dataclass(frozen=True, slots=True)
class Gate:
    """What a version needs to enter a stage, and to leave it downward."""

    prereleases: bool = True  # pre-releases may enter
    approval: bool = False  # a recorded approval is needed to enter
    soak: timedelta = timedelta(0)  # minimum time in this stage before moving down
    approvals: int = 1  # distinct approvers needed when ``approval`` is set
    approvers: tuple[str, ...] = ()  # names or groups who may approve; () = anyone
    self_approval: bool = True  # the release's author may approve it
    verify: timedelta = timedelta(0)  # how long a new version is watched after the switch
    max_error_rate: float = 0.01  # share of failed answers that fails the watch
    standby: timedelta | None = None  # how long the previous containers stay (None: verify)

    def kept(self) -> timedelta:
        """How long the previous containers of this stage stay after a switch."""
        return self.verify if self.standby is None else self.standby


@dataclass(frozen=True)
class Policy:
    """The configured constraints of one environment."""

    stages: tuple[str, ...] = ("prod", "qa", "dev")
    versions: VersionPolicy = VersionPolicy.NON_DECREASING
    min_stacks: int = 1
    min_height: int = 0  # 0: the number of stages
    max_height: int = 0  # 0: the same as min_height
    distinct_hosts: bool = False
    gates: dict[str, Gate] = field(default_factory=dict)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # name → members
    freezes: tuple[Window, ...] = ()
    override: str | None = None  # the reason a promotion overrides a freeze, when it does

    def __post_init__(self) -> None:
        if not self.min_height:
            object.__setattr__(self, "min_height", len(self.stages))
        if not self.max_height:
            object.__setattr__(self, "max_height", max(self.min_height, len(self.stages)))

    def stage_name(self, position: int) -> str:
        """The stage at ``position``, or ``#N`` for a position above the named stages."""
        return self.stages[position] if 0 <= position < len(self.stages) else f"#{position}"

    def position(self, stage: str) -> int:
        """The position of a stage given by name (``qa``) or number (``1``)."""
        if stage in self.stages:
            return self.stages.index(stage)
        if stage.isascii() and stage.isdigit() and len(stage) < 6:
            return int(stage)
        raise InvalidInput(
            f"unknown stage {stage!r}: stages are {', '.join(self.stages)} (or a position number)"
        )

    def gate(self, position: int) -> Gate:
        if 0 <= position < len(self.stages):
            return self.gates.get(self.stages[position], Gate())
        return Gate()
