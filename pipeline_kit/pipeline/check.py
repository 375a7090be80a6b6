"""The pull-request check: the config a branch proposes, against the state it would govern.

1. Load and validate the proposed config (a broken one is bad input: exit 2, ``file:line``).
2. Check the current state against it: a raised ``min_stacks``, a removed stage, a lower
   ``max_height``… each violation located at the config line it comes from.
3. Dry-run the promotion of the branch's version into the entry stage.

Every violation is reported; nothing is written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from pipeline_kit import config
from pipeline_kit.config_types import Settings
from pipeline_kit.model import constraints as c
from pipeline_kit.model.constraints import Violation
from pipeline_kit.model.errors import ConstraintFailed, InvalidInput
from pipeline_kit.model.items import State
from pipeline_kit.model.plan import Plan
from pipeline_kit.pipeline.manage import load_state
from pipeline_kit.pipeline.promotion import Run, promote_build, versions_after
from pipeline_kit.pipeline.unit import Unit
from pipeline_kit.report.results import (
    Locate,
    Report,
    Result,
    affected_stages,
    approval_notes,
    constraint_results,
)


def proposed_settings(path: Path | None, environ: Mapping[str, str]) -> Settings:
    """The settings of the config file a branch proposes (default: the one found)."""
    env = dict(environ)
    if path is not None:
        if not path.is_file():
            raise InvalidInput(f"--config {path}: no such file")
        env[config.ENV_PREFIX + "CONFIG"] = str(path)
    return config.load(environ=env)


def locator(settings: Settings) -> Locate:
    """A function: violation → (config file, line) when the violation comes from a key."""
    path = settings.source
    shown = shown_path(path) if path is not None else None

    def locate(violation: Violation) -> tuple[str | None, int | None]:
        key = violation.key
        if path is None or key is None:
            return None, None
        # ("freeze", "1"): the second [[freeze]] table
        line = config.line_of(path, ("freeze", int(key[1])) if key[0] == "freeze" else key)
        if line is None and key[0].endswith("_height"):
            line = config.line_of(path, ("stages",))  # defaults follow the number of stages
        return shown, line

    return locate


def shown_path(path: Path) -> str:
    """The path as annotations want it: relative to the workspace when inside it."""
    root = Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def run_check(
    settings: Settings,
    version: str | None,
    from_git: bool,
    repo: Path,
    commit: str | None = None,
) -> Run:
    """Check the state against ``settings`` and dry-run the branch's version; report all."""
    if version is not None and from_git:
        raise InvalidInput("give --version V or --from-git, not both")
    if from_git:
        from pipeline_kit.scm.git import version_from_git  # GitPython: only when needed

        version = version_from_git(repo, settings.release.tag_pattern)[0]
    policy = settings.policy
    locate = locator(settings)
    entry = policy.stages[-1]
    began = time.monotonic()
    state: State = load_state(settings)
    violations = c.check_state(state, policy)
    elapsed = time.monotonic() - began
    results = [
        Result(entry, "plan", "state", "passed", f"{len(state.services)} service(s)", elapsed),
        *constraint_results(violations, policy, policy.stages, entry, False, locate),
    ]
    service = settings.release.service or None
    moved: Plan | None = None
    results += _frozen(settings, state, service, locate)
    if version is not None:
        found, moved = _dry_run(settings, service, version, state, locate)
        results += found
    failed = [r for r in results if r.status == "failed"]
    error = None
    if failed:
        error = ConstraintFailed(
            [Violation(r.name, r.stage, r.message, stage=r.stage) for r in failed],
            f"check: the change would break {len(failed)} constraint(s)",
        )
    report = Report(
        "check",
        policy.stages,
        tuple(results),
        service,
        version,
        commit,
        entry,
        False,
        str(error) if error else None,
        versions_after(moved, service, settings) if moved and service else {},
        versions_after(moved, service, settings, before=True) if moved and service else {},
    )
    return Run(report, None, error)


def _frozen(settings: Settings, state: State, service: str | None, locate: Locate) -> list[Result]:
    """A failed check per freeze in force now on a stage (of ``service``, or of any)."""
    from datetime import UTC, datetime

    from pipeline_kit.model.freeze import frozen

    out = []
    for position, stage in enumerate(settings.policy.stages):
        for item in frozen(state, settings.policy, service, position, datetime.now(UTC)):
            key = ("freeze", str(item.index)) if item.index is not None else None
            file, line = locate(Violation(c.FREEZE, stage, item.message, stage=stage, key=key))
            out.append(Result(stage, "gate", c.FREEZE, "failed", item.message, None, file, line))
    return out


def _dry_run(
    settings: Settings, service: str | None, version: str, state: State, locate: Locate
) -> tuple[list[Result], Plan | None]:
    """The results of promoting ``version`` into the entry stage, planned and checked only."""
    entry = settings.policy.stages[-1]
    name = f"promote {service or '(no [release] service)'} {version}"
    if service is None:
        return [Result(entry, "plan", name, "skipped", "set [release] service to check it")], None
    if service not in state.services:
        return [Result(entry, "plan", name, "skipped", f"{service} is not in the state yet")], None
    began = time.monotonic()
    # Planned on the state read above: a dry run needs no second read, nor any lock.
    plan = promote_build(service, entry, version)(state, Unit(settings).context())
    planned = Result(entry, "plan", name, "passed", "planned", time.monotonic() - began)
    stages = affected_stages(plan, settings.policy) or [entry]
    # Stage-wide invariants were reported for the state above; here only what the move adds.
    before = set(c.check_state(plan.before, settings.policy, [service]))
    added = [v for v in plan.violations if v not in before]
    notes = approval_notes(plan, settings.policy)
    found = constraint_results(added, settings.policy, stages, entry, True, locate, notes)
    # Kind "promote gate" / "promote constraint": tells them from the state's own checks.
    return [planned, *(replace(r, kind=f"promote {r.kind}") for r in found)], plan
