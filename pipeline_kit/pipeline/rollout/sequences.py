"""Every rollout as the list of steps it runs: read the order here.

A service's declaration adds smoke checks and before_switch hooks before the commit (their
failure undoes the rollout) and after_switch hooks after the switch (their failure fails the
command at the end, the new version staying).

Blue-green (every write: promote, rollback, push, pop, scale, …), a canary's start, its
``--continue`` and ``--abort``, and a dry run. Before the commit (or a canary's pause) a
failure undoes what was done: started containers are removed, the journal entry dropped, the
state untouched. A process killed anywhere leaves a journal entry that the next command's
``recover`` step finishes or undoes.

A stage's gate may keep the previous containers on standby after the switch (``standby``;
a rollback then adopts them instead of starting new ones) and watch the new version for a
verification window (``watch``), which rolls back by itself on a breach. A canary ramp
(``ramp``) runs that window after each of its steps.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline_kit.pipeline.rollout import canary, hooks, standby, watch
from pipeline_kit.pipeline.rollout import steps as s
from pipeline_kit.pipeline.rollout.flight import Step

RECOVER = Step("recover", s.recover)
PLAN = Step("plan", s.plan)
ADOPT = Step("adopt standby", standby.adopt, undo=standby.unadopt)
JOURNAL = Step("journal", s.journal_plan, undo=s.forget, checkpoint="journaled")
START = Step("start", s.start, undo=s.remove_started, checkpoint="started")
HEALTHY = Step("healthy", s.healthy)
SMOKE = Step("smoke checks", hooks.smoke)
HOOKS_BEFORE = Step("before_switch hooks", hooks.before_switch)
VALIDATE_ROUTING = Step("validate routing", s.validate_routing, checkpoint="healthy")
COMMIT = Step("commit", s.commit, point_of_no_return=True, checkpoint="committed")
SWITCH = Step("switch", s.switch)
DRAIN = Step("drain", s.drain)
KEEP = Step("standby", standby.keep)
WATCH = Step("watch", watch.watch)
REMOVE = Step("remove", s.remove, checkpoint="removed")
CLOSE = Step("close", s.forget)
HOOKS_AFTER = Step("after_switch hooks", hooks.after_switch)
VERDICT = Step("verdict", hooks.verdict)

BLUE_GREEN = (
    RECOVER,
    PLAN,
    ADOPT,
    JOURNAL,
    START,
    HEALTHY,
    SMOKE,
    HOOKS_BEFORE,
    VALIDATE_ROUTING,
    COMMIT,
    SWITCH,
    HOOKS_AFTER,
    DRAIN,
    KEEP,
    WATCH,
    REMOVE,
    CLOSE,
    VERDICT,
)

DRY_RUN = (Step("preview", s.preview),)

CANARY_START = (
    RECOVER,
    PLAN,
    JOURNAL,
    START,
    HEALTHY,
    SMOKE,
    HOOKS_BEFORE,
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
    HOOKS_AFTER,
    DRAIN,
    KEEP,
    Step("end standby", standby.release),  # the ramp's windows ran: none to wait for
    REMOVE,
    CLOSE,
    VERDICT,
)

CANARY_ABORT = (
    Step("find", canary.find),
    VALIDATE_ROUTING,
    SWITCH,
    DRAIN,
    REMOVE,
    CLOSE,
)
