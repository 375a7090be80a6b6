"""A rollout in progress: what it drives (:class:`Rig`), what it carries (:class:`Flight`), and
the runner that takes it through a list of named steps (:class:`Step`)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from pipeline_kit.config_types import Settings
from pipeline_kit.lb.render import Canary
from pipeline_kit.model.actions import Context
from pipeline_kit.model.errors import PipelineKitError
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.rollout.ports import (
    Checked,
    Launch,
    Ledger,
    Observe,
    Router,
    Runtime,
    Tx,
)
from pipeline_kit.store.database import Scope
from pipeline_kit.store.journal import CanaryRecord, Entry, Kept, Placed

Build = Callable[[State, Context], Plan]
_T = TypeVar("_T")


def checkpoint(step: str) -> None:
    """Fault injection for the recovery tests: ``PIPELINE_KIT_KILL_AT=step`` kills us here;
    ``PIPELINE_KIT_STOP_AT=step`` stops us (SIGSTOP) until the test sends SIGCONT."""
    if os.environ.get("PIPELINE_KIT_KILL_AT") == step:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("PIPELINE_KIT_STOP_AT") == step:
        os.kill(os.getpid(), signal.SIGSTOP)


@dataclass
class Clock:
    """Time as a rollout sees it (a test may run it without waiting)."""

    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


@dataclass
class Rig:
    """What a rollout drives: the settings and one each of ledger, runtime and router."""

    settings: Settings
    ledger: Ledger
    runtime: Runtime
    router: Router
    context: Callable[[], Context]
    note: Callable[[str], None] = lambda _line: None
    observe: Observe | None = None
    clock: Clock = field(default_factory=Clock)
    checked: Callable[[Checked], None] = lambda _check: None


@dataclass
class Flight:
    """What a rollout was asked, and what its steps have found and done so far."""

    scope: Scope
    build: Build | None = None
    percent: int | None = None  # a canary's share of the stage's traffic
    snapshot: State | None = None  # a dry run plans on this state when given
    ramp: tuple[tuple[int, bool], ...] = ()  # a canary's steps: (percent, pause after it)
    ctx: Context | None = None
    plan: Plan | None = None
    applied: Plan | None = None  # the plan with the new containers' addresses
    entry: Entry | None = None
    launches: list[Launch] = field(default_factory=list)
    handles: list[Any] = field(default_factory=list)
    stops: list[Placed] = field(default_factory=list)
    removing: list[Placed] = field(default_factory=list)  # what the remove step removes
    removed: list[Placed] = field(default_factory=list)  # removed: their ports are released
    weights: Canary | None = None  # this rollout's canary, while it runs
    record: CanaryRecord | None = None
    config: str | None = None  # the validated HAProxy config to switch to
    commit: bool = True  # False: this rollout routes the state as it is (canary, abort)
    committed: bool = False
    switched: bool = False  # HAProxy now runs a new config
    seconds: dict[str, float] = field(default_factory=dict)  # step → how long it took
    failed_after: list[str] = field(default_factory=list)  # after_switch hooks that failed
    seen: list[Entry] = field(default_factory=list)  # the journal entries the plan step read
    kept: tuple[Kept, ...] = ()  # previous containers kept out of rotation (standby)
    adopted: list[Entry] = field(default_factory=list)  # standby entries a rollback took from
    tx: Tx | None = None  # a write transaction kept open from one step to a later one
    _open: ExitStack | None = None

    def hold(self, ledger: Ledger, what: str) -> Tx:
        """Open a write transaction on the flight's scope; it stays open until released."""
        stack = ExitStack()
        self.tx = stack.enter_context(ledger.write(self.scope, what))
        self._open = stack
        return self.tx

    def release(self, error: BaseException | None = None) -> None:
        """Commit the open transaction (or roll it back after ``error``)."""
        stack, self._open, self.tx = self._open, None, None
        if stack is None:
            return
        if error is None:
            stack.close()
        else:
            stack.__exit__(type(error), error, error.__traceback__)

    def need_plan(self) -> Plan:
        return _need(self.plan, "a plan")

    def need_ctx(self) -> Context:
        return _need(self.ctx, "a context")

    def need_tx(self) -> Tx:
        return _need(self.tx, "an open transaction")

    def need_entry(self) -> Entry:
        return _need(self.entry, "a journal entry")

    def need_build(self) -> Build:
        return _need(self.build, "a plan builder")

    def final(self) -> Plan:
        """The plan as applied (with addresses) when it was, else as planned."""
        return self.applied or self.need_plan()


def _need(value: _T | None, what: str) -> _T:
    if value is None:
        raise StepOrderError(f"this step needs {what} from an earlier step")
    return value


class StepOrderError(RuntimeError):
    """A sequence runs a step before the step it depends on (a bug, not a user's mistake)."""


@dataclass(frozen=True)
class Step:
    """One named step: what it does, and how to undo it if it or a later step fails.

    ``point_of_no_return``: once it has run, nothing before it is undone any more.
    ``checkpoint``: where the recovery tests may kill the process, after the step.
    """

    name: str
    run: Callable[[Rig, Flight], None]
    undo: Callable[[Rig, Flight], None] | None = None
    point_of_no_return: bool = False
    checkpoint: str | None = None


def run(steps: Sequence[Step], rig: Rig, flight: Flight) -> Flight:
    """Run ``steps`` in order; on a failure undo what was done (latest first) and re-raise."""
    undo: list[Step] = []
    try:
        for step in steps:
            if step.undo is not None:  # an undo also cleans up after a step that failed midway
                undo.append(step)
            began = rig.clock.monotonic()
            try:
                step.run(rig, flight)
            finally:
                flight.seconds[step.name] = rig.clock.monotonic() - began
            if step.point_of_no_return:
                undo.clear()
            if step.checkpoint is not None:
                checkpoint(step.checkpoint)
    except BaseException as exc:
        flight.release(exc)
        for done in reversed(undo):
            # If an undo fails too, the journal entry still lists what is left: the next
            # command finishes the job.
            with contextlib.suppress(PipelineKitError):
                if done.undo is not None:
                    done.undo(rig, flight)
        raise
    flight.release()
    return flight
