"""Every rollout as the list of steps it runs: read the order here.

Blue-green (every write: promote, rollback, push, pop, scale, …), a canary's start, its
``--continue`` and ``--abort``, and a dry run. Before the commit (or a canary's pause) a
failure undoes what was done: started containers are removed, the journal entry dropped, the
state untouched. A process killed anywhere leaves a journal entry that the next command's
``recover`` step finishes or undoes.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline_kit.pipeline.rollout import canary
from pipeline_kit.pipeline.rollout import steps as s
from pipeline_kit.pipeline.rollout.flight import Step

RECOVER = Step("recover", s.recover)
PLAN = Step("plan", s.plan)
JOURNAL = Step("journal", s.journal_plan, undo=s.forget, checkpoint="journaled")
START = Step("start", s.start, undo=s.remove_started, checkpoint="started")
HEALTHY = Step("healthy", s.healthy)
VALIDATE_ROUTING = Step("validate routing", s.validate_routing, checkpoint="healthy")
COMMIT = Step("commit", s.commit, point_of_no_return=True, checkpoint="committed")
SWITCH = Step("switch", s.switch)
DRAIN = Step("drain", s.drain)
REMOVE = Step("remove", s.remove, checkpoint="removed")
CLOSE = Step("close", s.forget)

BLUE_GREEN = (
    RECOVER,
    PLAN,
    JOURNAL,
    START,
    HEALTHY,
    VALIDATE_ROUTING,
    COMMIT,
    SWITCH,
    DRAIN,
    REMOVE,
    CLOSE,
)

DRY_RUN = (Step("preview", s.preview),)

CANARY_START = (
    RECOVER,
    PLAN,
    JOURNAL,
    START,
    HEALTHY,
    Step("weigh", canary.weigh),
    VALIDATE_ROUTING,
    Step("pause", canary.pause),
    replace(SWITCH, point_of_no_return=True),  # the canary serves: --continue/--abort own it
    DRAIN,
)

CANARY_CONTINUE = (
    Step("resume", canary.resume),
    VALIDATE_ROUTING,
    COMMIT,
    SWITCH,
    DRAIN,
    REMOVE,
    CLOSE,
)

CANARY_ABORT = (
    Step("find", canary.find),
    VALIDATE_ROUTING,
    SWITCH,
    DRAIN,
    REMOVE,
    CLOSE,
)
